"""Box utilities every detector shares: IoU, non-maximum suppression, clipping and drawing.

Boxes are float arrays of shape (N, 4) in corner form [x0, y0, x1, y1], in pixels of the image
they describe (x to the right, y down). Non-maximum suppression is the greedy procedure of the
R-CNN family (Girshick et al., "Rich feature hierarchies for accurate object detection and semantic
segmentation", CVPR 2014): keep the best-scoring box, drop every other box overlapping it by more
than an IoU threshold, repeat. BlazeFace (Bazarevsky et al., "BlazeFace: Sub-millisecond Neural
Face Detection on Mobile GPUs", 2019) replaces it by *weighted* NMS, which averages the boxes of a
cluster instead of keeping one, for steadier boxes.

Pure numpy and OpenCV (no TensorFlow), so the trained detectors and the pages can use it cheaply.
"""

from __future__ import annotations

import colorsys
import hashlib

import cv2
import numpy as np


def as_boxes(boxes) -> np.ndarray:
    """A float64 (N, 4) array from any sequence of 4-number boxes (an empty input gives (0, 4))."""
    array = np.asarray(boxes, dtype=np.float64)
    return array.reshape(-1, 4)


def areas(boxes: np.ndarray) -> np.ndarray:
    """Area of each box; inverted boxes count as empty."""
    boxes = as_boxes(boxes)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def iou_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `first` (N) with every box in `second` (M): (N, M)."""
    first, second = as_boxes(first), as_boxes(second)
    top_left = np.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = np.minimum(first[:, None, 2:], second[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    union = areas(first)[:, None] + areas(second)[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None
) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: (N, 4) corner boxes.
        scores: (N,) scores; higher is better.
        iou_threshold: a box overlapping an already kept box by more than this is dropped.
        max_keep: stop after keeping this many boxes (None: no limit).
    Returns:
        Indices of the kept boxes, best score first.
    """
    boxes = as_boxes(boxes)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    kept: list[int] = []
    while order.size and (max_keep is None or len(kept) < max_keep):
        best = order[0]
        kept.append(int(best))
        overlaps = iou_matrix(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)


def class_nms(boxes: np.ndarray, scores: np.ndarray, labels, iou_threshold: float) -> np.ndarray:
    """NMS within each label separately (a cat box never suppresses a dog box); best first."""
    labels = np.asarray(labels, dtype=object)
    kept = [
        np.flatnonzero(labels == label)[
            nms(as_boxes(boxes)[labels == label], np.asarray(scores)[labels == label], iou_threshold)
        ]
        for label in dict.fromkeys(labels.tolist())
    ]
    merged = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return merged[np.argsort(-np.asarray(scores, dtype=np.float64)[merged], kind="stable")]


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """BlazeFace's weighted NMS: each cluster of overlapping boxes becomes their score-weighted mean.

    Returns:
        (boxes, scores) of the merged detections, best first; a cluster keeps its best score.
    """
    boxes = as_boxes(boxes)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    merged_boxes, merged_scores = [], []
    while order.size:
        overlaps = iou_matrix(boxes[order[:1]], boxes[order])[0]
        cluster = order[overlaps > iou_threshold]
        cluster = cluster if cluster.size else order[:1]
        weights = scores[cluster]
        merged_boxes.append((boxes[cluster] * weights[:, None]).sum(axis=0) / weights.sum())
        merged_scores.append(scores[order[0]])
        order = order[overlaps <= iou_threshold]
    return as_boxes(merged_boxes), np.asarray(merged_scores, dtype=np.float64)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes clipped to the image [0, width] x [0, height]."""
    boxes = as_boxes(boxes).copy()
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    return boxes


def from_normalized_yxyx(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """TF Object Detection API boxes ([ymin, xmin, ymax, xmax] in 0..1) to pixel corner boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes[:, [1, 0, 3, 2]] * np.array([width, height, width, height], dtype=np.float64)


def colour_for(label: str) -> tuple[int, int, int]:
    """A bright RGB colour fixed per label (a hash of the name), so a class keeps its colour."""
    hue = int(hashlib.sha1(label.encode("utf-8")).hexdigest()[:6], 16) / 0xFFFFFF
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(red * 255), int(green * 255), int(blue * 255)


def draw_boxes(
    pixels: np.ndarray, boxes: np.ndarray, captions: list[str], labels: list[str] | None = None
) -> np.ndarray:
    """A copy of an RGB uint8 image with each box outlined and captioned (caption on a filled tab).

    Args:
        pixels: (H, W, 3) uint8 RGB.
        boxes: (N, 4) corner boxes in the image's pixels.
        captions: text per box, e.g. "person 0.93" (drawn with OpenCV, never as HTML).
        labels: the label per box, for its colour (default: the caption).
    """
    canvas = np.ascontiguousarray(pixels.copy())
    height, width = canvas.shape[:2]
    thickness = max(1, round(max(height, width) / 400))
    font_scale = max(0.4, max(height, width) / 1200)
    for index, (box, caption) in enumerate(zip(as_boxes(boxes), captions)):
        colour = colour_for((labels or captions)[index])
        x0, y0, x1, y1 = (int(round(value)) for value in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA)
        (text_width, text_height), baseline = cv2.getTextSize(
            caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1
        )
        top = y0 - text_height - baseline - 2 if y0 - text_height - baseline - 2 >= 0 else y0
        cv2.rectangle(
            canvas, (x0, top), (x0 + text_width + 4, top + text_height + baseline + 2), colour, cv2.FILLED
        )
        luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        cv2.putText(
            canvas,
            caption,
            (x0 + 2, top + text_height + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0) if luminance > 140 else (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return canvas
