"""What R-CNN, Fast R-CNN and Faster R-CNN share on the scenes: box regression targets and proposals.

Box regression (Girshick et al., "Rich feature hierarchies for accurate object detection and
semantic segmentation", CVPR 2014, appendix C): a proposal P (centre px, py, size pw, ph) is moved
to a box G by the deltas

    dx = (gx - px) / pw,   dy = (gy - py) / ph,   dw = log(gw / pw),   dh = log(gh / ph),

scale-invariant in the centre shift and log-space in the size. Fast R-CNN (Girshick, ICCV 2015) and
Faster R-CNN (Ren et al., NeurIPS 2015) keep the same parameterization, for proposals and anchors.
`encode_boxes` / `decode_boxes` accept numpy arrays or TensorFlow tensors (the same formulas; the
result has the input's kind), so targets can be made in numpy and decoded inside a graph.

Boxes are corner form x0, y0, x1, y1 in scene pixels (engine/boxes.py).
"""

from __future__ import annotations

import math

import numpy as np

MAX_LOG_SCALE = math.log(1000.0 / 16)  # dw, dh are clipped to this before exp (Detectron's bound)


def _is_tensor(value) -> bool:
    return not isinstance(value, (np.ndarray, list, tuple, float, int)) and hasattr(value, "dtype") and \
        type(value).__module__.startswith(("tensorflow", "keras"))


def _centres(boxes):
    widths = boxes[..., 2] - boxes[..., 0]
    heights = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * widths, boxes[..., 1] + 0.5 * heights, widths, heights


def encode_boxes(anchors_or_rois, truth, scale=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets that move each proposal (or anchor) onto its matched box.

    Args:
        anchors_or_rois: (N, 4) corner boxes with positive width and height.
        truth: (N, 4) corner boxes, row i matched to proposal i.
        scale: multipliers of (dx, dy, dw, dh); e.g. (10, 10, 5, 5) gives targets of unit-ish spread
            (the "target normalization" of Fast R-CNN's implementation). decode_boxes must get the same.
    Returns:
        (N, 4) deltas dx, dy, dw, dh (numpy float32, or a tensor for tensor input).
    """
    if _is_tensor(anchors_or_rois) or _is_tensor(truth):
        import tensorflow as tf

        log, stack = tf.math.log, tf.stack
        anchors_or_rois, truth = tf.cast(anchors_or_rois, tf.float32), tf.cast(truth, tf.float32)
    else:
        log, stack = np.log, np.stack
        anchors_or_rois = np.asarray(anchors_or_rois, np.float32).reshape(-1, 4)
        truth = np.asarray(truth, np.float32).reshape(-1, 4)
    px, py, pw, ph = _centres(anchors_or_rois)
    gx, gy, gw, gh = _centres(truth)
    deltas = stack([(gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)], -1)
    return deltas * np.asarray(scale, np.float32)


def decode_boxes(rois, deltas, scale=(1.0, 1.0, 1.0, 1.0)):
    """Boxes from proposals (or anchors) and predicted deltas: the inverse of `encode_boxes`.

    Args:
        rois: (N, 4) corner boxes.
        deltas: (N, 4) dx, dy, dw, dh (as scaled by `scale` in encode_boxes).
        scale: the multipliers used when encoding.
    Returns:
        (N, 4) corner boxes (not clipped to the image; engine.boxes.clip_boxes does that).
        dw and dh are clipped to MAX_LOG_SCALE first, so a wild prediction cannot overflow exp.
    """
    if _is_tensor(rois) or _is_tensor(deltas):
        import tensorflow as tf

        exp, stack, minimum = tf.exp, tf.stack, tf.minimum
        rois, deltas = tf.cast(rois, tf.float32), tf.cast(deltas, tf.float32)
    else:
        exp, stack, minimum = np.exp, np.stack, np.minimum
        rois = np.asarray(rois, np.float32).reshape(-1, 4)
        deltas = np.asarray(deltas, np.float32).reshape(-1, 4)
    deltas = deltas / np.asarray(scale, np.float32)
    px, py, pw, ph = _centres(rois)
    centre_x = px + deltas[..., 0] * pw
    centre_y = py + deltas[..., 1] * ph
    half_width = 0.5 * pw * exp(minimum(deltas[..., 2], MAX_LOG_SCALE))
    half_height = 0.5 * ph * exp(minimum(deltas[..., 3], MAX_LOG_SCALE))
    return stack([centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height], -1)
