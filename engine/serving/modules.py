"""Serving signatures for the trained-here models whose inference is several Keras graphs.

`engine.serving.export.export` writes each of these as ONE SavedModel: each endpoint below is a function of
TensorFlow ops (the Keras parts called inside it) that runs the whole inference the app runs
in-process, so TF Serving answers what the page shows:

- CapsNet (Sabour et al. 2017): conv parts, routing by agreement, capsule lengths and the decoder's
  reconstruction from the longest capsule.
- Faster / Mask R-CNN (Ren et al. 2015; He et al. 2017): backbone, RPN, anchor decoding,
  tf.image.combined_non_max_suppression for the proposals, ROI Align, heads, per-class NMS (the
  same thresholds as `FasterRCNN.predict`); Mask R-CNN adds each detection's 28 x 28 mask. Pasting a
  mask into its box (cv2.resize) is left to the client.
- R-CNN / Fast R-CNN (Girshick et al. 2014; Girshick 2015): their proposals come from OpenCV's
  selective search, which is not TensorFlow, so the client sends them as a second input.
- The six video ways: one signature giving all six ways' class scores (way 1's majority vote too).
- MTCNN (Zhang et al. 2016): its image pyramid and the NMS between stages are NumPy / OpenCV, so the
  three networks are served as three signatures (`serving_default` = P-Net, `rnet`, `onet`).

Every `*_export` returns a `ModuleExport`; tests/engine/serving/test_modules.py checks each one,
reloaded with tf.saved_model.load and in a TF1 session as TF Serving loads it, against the
in-process engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from engine.core import entries


@dataclasses.dataclass(frozen=True)
class ModuleExport:
    endpoints: tuple[
        tuple[str, Callable, list], ...
    ]  # (signature name, function, input TensorSpecs); first = serving_default
    labels: tuple[str, ...]  # class names, index = class output
    doc: str  # what the signature takes and returns, and what the client does after (assets.extra/signature.txt)


def _spec(shape, dtype, name: str):
    import tensorflow as tf

    return tf.TensorSpec(shape, dtype, name=name)


def class_nms(
    probabilities, class_boxes, valid, min_score: float, iou_threshold: float, max_detections: int
) -> dict:
    """Per-class NMS in TensorFlow, as engine.ops.boxes.class_nms after a score cut, for a batch.

    Args:
        probabilities: (B, R, 1 + C) softmax, column 0 background.
        class_boxes: (B, R, C, 4) one corner box per class, pixels.
        valid: (B, R) bool, which regions are real (padding rows are not).
    Returns:
        detection_boxes (B, K, 4) x0 y0 x1 y1 pixels, detection_scores (B, K), detection_classes (B, K)
        int32 (0 = the first non-background class), num_detections (B,) int32; rows past
        num_detections are padding. K = max_detections.
    """
    import tensorflow as tf

    scores = tf.where(valid[..., None], probabilities[..., 1:], 0.0)
    scores = tf.where(
        scores >= min_score, scores, 0.0
    )  # kept scores are >= min_score, the rest 0: cut at half
    found = tf.image.combined_non_max_suppression(
        class_boxes,
        scores,
        max_detections,
        max_detections,
        iou_threshold=iou_threshold,
        score_threshold=min_score / 2,
        pad_per_class=False,
        clip_boxes=False,
    )
    return {
        "detection_boxes": found.nmsed_boxes,
        "detection_scores": found.nmsed_scores,
        "detection_classes": tf.cast(found.nmsed_classes, tf.int32),
        "num_detections": found.valid_detections,
    }


# ----- CapsNet


def capsnet_export(model) -> ModuleExport:
    """`capsules.read_digit` for a batch: uint8 digits (B, 28, 28) -> lengths, capsules, reconstruction."""
    import tensorflow as tf

    from engine.capsules import model as capsnet

    encoder, decoder = model.encoder, model.decoder
    classes = capsnet.NUM_CLASSES

    def serve(digits):
        capsules = encoder(tf.cast(digits, tf.float32)[..., None] / 255.0, training=False)  # (B, 10, 16)
        lengths = tf.norm(capsules, axis=-1)
        predicted = tf.argmax(lengths, axis=-1, output_type=tf.int32)
        masked = capsules * tf.one_hot(predicted, classes)[..., None]  # capsnet.MaskCapsules at inference
        pixels = decoder(tf.reshape(masked, (-1, classes * capsnet.DIGIT_DIM)), training=False)[..., 0]
        return {"lengths": lengths, "predicted": predicted, "capsules": capsules, "reconstruction": pixels}

    doc = (
        "serving_default: digits uint8 (B, 28, 28), MNIST style (white digit on black, 20 px box centred by "
        "mass: engine.capsules.api.prepare_digit). Returns lengths (B, 10) = capsule lengths (class "
        "probabilities, not summing to 1), predicted (B,) the longest, capsules (B, 10, 16), reconstruction "
        "(B, 28, 28) in [0, 1] from the longest capsule alone (x 255 for pixels)."
    )
    return ModuleExport(
        (("serve", serve, [_spec([None, 28, 28], tf.uint8, "digits")]),),
        tuple(str(digit) for digit in range(classes)),
        doc,
    )


# ----- Faster / Mask R-CNN


def faster_rcnn_export(network, min_score: float | None = None) -> ModuleExport:
    """`FasterRCNN.predict` (with masks for a Mask R-CNN) as one signature, at its default thresholds
    (`min_score`: another score cut, as the instances page's); thresholds fixed at export."""
    import tensorflow as tf

    from engine.data import scenes
    from engine.detection.trained import faster_rcnn

    min_score = faster_rcnn.MIN_SCORE if min_score is None else min_score
    nms_iou, max_detections = faster_rcnn.NMS_IOU, faster_rcnn.MAX_DETECTIONS

    size, mask_size = scenes.SIZE, faster_rcnn.MASK_SIZE

    def serve(images):
        features, probabilities, class_boxes, valid = network._infer(tf.cast(images, tf.float32))
        result = class_nms(probabilities, class_boxes, valid, min_score, nms_iou, max_detections)
        if network.with_masks:
            batch = tf.shape(images)[0]
            labels = tf.reshape(result["detection_classes"], (-1,))
            image_index = tf.repeat(tf.range(batch), max_detections)
            masks = network._masks(
                features, tf.reshape(result["detection_boxes"], (-1, 4)), image_index, labels
            )
            result["detection_masks"] = tf.reshape(masks, (batch, max_detections, mask_size, mask_size))
        return result

    masks = (
        f" detection_masks (B, K, {mask_size}, {mask_size}): each detection's mask probability along its box; "
        "the client resizes "
        f"it to the box (cv2.resize, bilinear), keeps >= {faster_rcnn.MASK_THRESHOLD} and multiplies the "
        f"detection's score by the mean kept probability ** {faster_rcnn.MASKNESS_POWER}, as "
        "FasterRCNN.paste_masks and predict(with_masks=True) do (detection_scores are the box head's)."
        if network.with_masks
        else ""
    )
    doc = (
        f"serving_default: images uint8 (B, {size}, {size}, 3) RGB scenes (resize other images to {size} x {size} "
        f"and scale the boxes back). Backbone, RPN ({len(network.anchors)} anchors, NMS 0.7, "
        f"{faster_rcnn.PROPOSALS} proposals), ROI "
        f"Align, head, then per-class NMS at IoU {nms_iou} of the scores >= {min_score}, best first: "
        f"detection_boxes (B, K={max_detections}, 4) x0 y0 x1 y1 pixels, detection_scores (B, K), detection_classes "
        f"(B, K) index into the labels (0 = digit 0), num_detections (B,): rows past it are padding." + masks
    )
    return ModuleExport(
        (("serve", serve, [_spec([None, size, size, 3], tf.uint8, "images")]),), tuple(scenes.CLASSES), doc
    )


# ----- R-CNN / Fast R-CNN: proposals from the client


def _proposal_export(
    score_regions, min_score: float, nms_iou: float, max_detections: int, what: str
) -> ModuleExport:
    """A signature over images and client-sent proposals, `score_regions(images, regions, indices)`
    giving (R, 1 + C) probabilities and (R, C * 4) scaled deltas, as scene_proposals.detections_per_scene."""
    import tensorflow as tf

    from engine.data import scenes
    from engine.detection.trained import proposals as scene_proposals

    size, classes = scenes.SIZE, len(scenes.CLASSES)

    def serve(images, proposals, proposal_counts):
        batch, count = tf.shape(proposals)[0], tf.shape(proposals)[1]
        regions = tf.reshape(proposals, (-1, 4))
        indices = tf.repeat(tf.range(batch), count)
        probabilities, deltas = score_regions(images, regions, indices)
        boxes = scene_proposals.decode_boxes(
            tf.repeat(regions[:, None, :], classes, axis=1),
            tf.reshape(deltas, (-1, classes, 4)),
            scene_proposals.BOX_SCALE,
        )
        boxes = tf.clip_by_value(boxes, 0.0, float(size))
        valid = tf.sequence_mask(proposal_counts, count)
        return class_nms(
            tf.reshape(probabilities, (batch, count, classes + 1)),
            tf.reshape(boxes, (batch, count, classes, 4)),
            valid,
            min_score,
            nms_iou,
            max_detections,
        )

    doc = (
        f"serving_default: images uint8 (B, {size}, {size}, 3) RGB scenes; proposals float32 (B, N, 4) x0 y0 x1 y1 "
        f"pixels, padded to a common N; proposal_counts int32 (B,) the real rows of each. The proposals are the "
        f"client's: OpenCV selective search is not TensorFlow (engine.detection.trained.proposals.selective_search: "
        f"cv2.ximgproc fast mode, <= {scene_proposals.MAX_PROPOSALS} boxes, sides >= "
        f"{scene_proposals.MIN_PROPOSAL_SIDE} px). {what}, class-specific box regression, then per-class NMS at "
        f"IoU {nms_iou} of the scores >= {min_score}, best first: detection_boxes (B, K={max_detections}, 4), "
        "detection_scores, detection_classes (0 = digit 0), num_detections (B,): rows past it are padding."
    )
    signature = [
        _spec([None, size, size, 3], tf.uint8, "images"),
        _spec([None, None, 4], tf.float32, "proposals"),
        _spec([None], tf.int32, "proposal_counts"),
    ]
    return ModuleExport((("serve", serve, signature),), tuple(scenes.CLASSES), doc)


def rcnn_export(model) -> ModuleExport:
    """R-CNN's region scoring behind the proposals the client sends (model: the loaded detector or its RCNN)."""
    from engine.detection.trained import rcnn as scene_rcnn

    model = getattr(model, "model", model)

    def score_regions(images, regions, indices):
        return model.network(scene_rcnn.warp_regions(images, regions, indices), training=False)

    return _proposal_export(
        score_regions,
        scene_rcnn.MIN_SCORE,
        scene_rcnn.NMS_IOU,
        scene_rcnn.MAX_DETECTIONS,
        f"Each proposal warped to {scene_rcnn.CROP} x {scene_rcnn.CROP} px "
        "with context and classified by the CNN",
    )


def fast_rcnn_export(model) -> ModuleExport:
    """Fast R-CNN behind the proposals the client sends (model: the loaded detector or its FastRCNN)."""
    from engine.detection.trained import fast_rcnn

    model = getattr(model, "model", model)

    return _proposal_export(
        model.forward,
        fast_rcnn.MIN_SCORE,
        fast_rcnn.NMS_IOU,
        fast_rcnn.MAX_DETECTIONS,
        f"The backbone once per scene, {fast_rcnn.POOL} x {fast_rcnn.POOL} ROI max "
        "pooling per proposal, the fully connected head",
    )


# ----- the six video ways


def video_export(ways) -> ModuleExport:
    """`video_models.predict` for all six ways on a batch of clips."""
    import tensorflow as tf

    from engine.data import clips as video_clips
    from engine.video import models as video_models

    classes, frames_per_clip = video_models.NUM_CLASSES, video_clips.FRAMES

    def vote(
        per_frame,
    ):  # video_models.vote: shares of the frames' argmax, ties to the larger summed probability
        counts = tf.reduce_sum(tf.one_hot(tf.argmax(per_frame, -1), classes), axis=1)
        tie_break = tf.reduce_sum(per_frame, 1) / (frames_per_clip + 1) * 1e-3
        winners = tf.cast(counts == tf.reduce_max(counts, -1, keepdims=True), tf.float32)
        return counts / frames_per_clip + tie_break * winners

    def serve(clips):
        batch = tf.shape(clips)[0]
        frames = tf.reshape(clips, (-1, *video_models.FRAME_SHAPE))
        per_frame = tf.reshape(ways.frame_cnn(frames, training=False), (batch, frames_per_clip, classes))
        features = tf.reshape(
            ways.mobilenet(frames, training=False), (batch, frames_per_clip, video_models.FEATURE_SIZE)
        )
        trunk = ways.conv3d_trunk(clips, training=False)
        return {
            "frame_cnn": vote(per_frame),
            "cnn_rnn": ways.cnn_rnn(clips, training=False),
            "conv3d": ways.conv3d(clips, training=False),
            "features_rnn": ways.features_rnn(features, training=False),
            "features_mlp": ways.features_mlp(features, training=False),
            "conv3d_rnn": ways.conv3d_rnn(trunk, training=False),
        }

    shape = [None, *video_models.CLIP_SHAPE]
    doc = (
        f"serving_default: clips uint8 (B, {', '.join(str(side) for side in video_models.CLIP_SHAPE)}) RGB "
        "(engine.video.io.to_clip makes one from a video). Returns one (B, "
        f"{classes}) score tensor per way: "
        + "; ".join(f"{way}: {video_models.TITLES[way]}" for way in video_models.WAYS)
        + ". frame_cnn gives vote shares (ties to the larger summed probability), the others softmax probabilities."
    )
    return ModuleExport(
        (("serve", serve, [_spec(shape, tf.uint8, "clips")]),), tuple(video_clips.CLASSES), doc
    )


# ----- MTCNN: three networks, the cascade between them in the client


def mtcnn_export(detector) -> ModuleExport:
    import tensorflow as tf

    def net(function, names):
        def run(images):
            return dict(zip(names, function(images)))

        return run

    endpoints = (
        (
            "serve",
            net(detector.pnet, ("box_offsets", "face_probabilities")),
            [_spec([1, None, None, 3], tf.float32, "image")],
        ),
        (
            "rnet",
            net(detector.rnet, ("box_offsets", "face_probabilities")),
            [_spec([None, 24, 24, 3], tf.float32, "patches")],
        ),
        (
            "onet",
            net(detector.onet, ("box_offsets", "landmarks", "face_probabilities")),
            [_spec([None, 48, 48, 3], tf.float32, "patches")],
        ),
    )
    doc = (
        "Three signatures, the cascade's networks; the image pyramid (cv2.resize INTER_AREA, factor 0.709 from a "
        "20 px face), the NMS between stages, squaring and box refinement are NumPy / OpenCV in the client "
        "(engine.detection.faces.MTCNN.find). Pixels are (RGB - 127.5) / 128. serving_default (P-Net): image "
        "(1, H, W, 3) -> box_offsets (1, h, w, 4), face_probabilities (1, h, w, 2) per 12 px window at stride 2; "
        "rnet: patches (N, 24, 24, 3) -> box_offsets (N, 4), face_probabilities (N, 2); onet: patches (N, 48, 48, "
        "3) -> box_offsets, landmarks (N, 10), face_probabilities."
    )
    return ModuleExport(endpoints, ("face",), doc)


def mask_rcnn_instances_export(model) -> ModuleExport:
    """The instances page's Mask R-CNN: the network inside, at that page's threshold
    (engine.pipelines.instances.MIN_SCORE)."""
    from engine.pipelines import instances

    return faster_rcnn_export(model.network, min_score=instances.MIN_SCORE)


def module_export(name: str, model) -> ModuleExport | None:
    """The ModuleExport of a loaded registry model (its entry's `export` function), or None when its
    entry names none."""
    entry = entries.by_name().get(name)
    if entry is None or ":" not in entry.export:
        return None
    return entries.resolve(entry.export)(model)


MODULE_NAMES = tuple(entry.name for entry in entries.MODELS if ":" in entry.export)
