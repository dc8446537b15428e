"""Faster R-CNN and Mask R-CNN, trained here on the scenes.

Faster R-CNN (Ren, He, Girshick & Sun, NeurIPS 2015): a region proposal network (RPN) slides a 3x3
convolution over the backbone's stride-8 feature map and, for each of the A anchors of every cell,
predicts objectness and box offsets; its best proposals after NMS are pooled from the same feature
map (ROI Align) and a head classifies each (16 classes + background) and refines its box per class.
Mask R-CNN (He, Gkioxari, Dollar & Girshick, ICCV 2017) adds a small fully convolutional head on
each ROI that predicts a 28 x 28 binary mask per class; only the mask of the ground-truth class is
trained (a per-pixel sigmoid, so classes do not compete).

Training is the paper's "approximate joint training": one network, the RPN and head losses summed,
the proposals treated as constants (no gradient through their coordinates). During training the
ground-truth boxes join the proposals, as in the papers' implementations, so the head sees positives
from the first step. The backbone is engine.detection.trained.common.backbone; box offsets use the R-CNN
parameterization (dx, dy, log dw, log dh).
"""

from __future__ import annotations

import functools
import pathlib
import shutil
import time
from typing import NamedTuple

import numpy as np

from engine.core import configs, schedules, training, weights_io
from engine.core import manifest as project_weights
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from engine.detection.trained import proposals as scene_proposals
from engine.detection.trained.task import SceneDetectorTask
from engine.ops import boxes as box_ops
from engine.ops import metrics

NUM_CLASSES = len(scenes.CLASSES)
WIDTHS = (24, 48, 96)
ANCHOR_SIZES = (18.0, 28.0, 40.0)  # pixels: the objects' long sides are 20-40
ANCHOR_RATIOS = (0.5, 1.0, 2.0)  # height / width: sneakers are flat, trousers tall
PROPOSALS = 48  # per image at inference, after the RPN's NMS at 0.7 (the scenes have at most 4 objects)
TRAIN_PROPOSALS = 16  # per image in training, plus the ground truth: the head's cost is per ROI
ROI_SIZE = 7
MASK_SIZE = 28
# The mask head reads the backbone's stride-4 level (24 x 24 x 48), not the stride-8 output: a digit's
# 2-3 px strokes are lost at stride 8 (the role FPN's P2 level plays in the Mask R-CNN paper).
MASK_STRIDE = 4
MASK_LEVEL = "backbone_1_2_bn"
RPN_POSITIVE, RPN_NEGATIVE = 0.5, 0.3  # anchor IoU thresholds (the paper's 0.7 is too strict for 8-px cells)
HEAD_POSITIVE = 0.5
HEAD_SCALE = (
    10.0,
    10.0,
    5.0,
    5.0,
)  # the head's targets scaled, the usual normalization, so the four offsets weigh alike
TRAIN_SCENES, VALIDATION_SCENES = 10000, 200
BATCH_SIZE = 32
LEARNING_RATE = 1e-3  # Adam, stage 1 and the first cycle of stage 2 (MASK_CYCLES)
MIN_SCORE, NMS_IOU, MAX_DETECTIONS = 0.05, 0.5, 20  # `predict`'s defaults (and the served signature's)
DEFAULT_EPOCHS = 8
WEIGHTS = {"faster-rcnn": "scene_detection/faster_rcnn.npz", "mask-rcnn": "scene_detection/mask_rcnn.npz"}


class MaskCycle(NamedTuple):
    """One cycle of stage 2 (the mask head alone on the frozen detector)."""

    epochs: int
    learning_rate: float  # Adam; each cycle starts a new optimizer from the best mask head so far
    new_scenes: bool  # True: the next `train_scenes` training scenes, which no earlier cycle saw


MASK_CYCLES = (
    MaskCycle(3, LEARNING_RATE, False),
    MaskCycle(4, LEARNING_RATE / 3, False),
    MaskCycle(3, LEARNING_RATE / 5, True),
)
# Mask post-processing, both chosen on the 200 validation scenes with the committed weights
# (docs/models/mask-rcnn.md): a pixel belongs to the instance where its mask probability is at
# least MASK_THRESHOLD, and each detection's score is multiplied by its maskness ** MASKNESS_POWER, the mean
# probability over the pixels it keeps (SOLOv2, Wang, Zhang, Kong, Li & Shen, NeurIPS 2020), so that a
# detection with a vague mask ranks below one with a sharp mask, which is what mask AP rewards.
MASK_THRESHOLD = 0.4
MASKNESS_POWER = 0.5


def anchors() -> np.ndarray:
    """(cells * cells * A, 4) corner boxes centred on each feature cell, cell-major order."""
    cells = scenes.SIZE // scene_detectors.FEATURE_STRIDE
    centres = (np.arange(cells) + 0.5) * scene_detectors.FEATURE_STRIDE
    shapes = [
        (size / np.sqrt(ratio), size * np.sqrt(ratio)) for size in ANCHOR_SIZES for ratio in ANCHOR_RATIOS
    ]
    result = [
        (x - w / 2, y - h / 2, x + w / 2, y + h / 2) for y in centres for x in centres for w, h in shapes
    ]
    return np.array(result, np.float32)


def encode(reference, truth, scale=(1.0, 1.0, 1.0, 1.0)):
    """R-CNN box targets (Girshick et al. 2014, appendix C) as tensors: scene_proposals.encode_boxes."""
    import tensorflow as tf

    return scene_proposals.encode_boxes(tf.convert_to_tensor(reference, tf.float32), truth, scale)


def decode(reference, deltas, scale=(1.0, 1.0, 1.0, 1.0)):
    """Inverse of `encode` (scene_proposals.decode_boxes), corner boxes clipped to the scene."""
    import tensorflow as tf

    boxes = scene_proposals.decode_boxes(tf.convert_to_tensor(reference, tf.float32), deltas, scale)
    return tf.clip_by_value(boxes, 0.0, float(scenes.SIZE))


def pairwise_iou(first, second):
    """IoU of (..., N, 4) boxes with (..., M, 4) boxes -> (..., N, M)."""
    import tensorflow as tf

    a, b = first[..., :, None, :], second[..., None, :, :]
    width = tf.maximum(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]), 0.0)
    height = tf.maximum(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]), 0.0)
    overlap = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return overlap / tf.maximum(area_a + area_b - overlap, 1e-6)


class FasterRCNN:
    """The Keras parts and the train / predict functions of one Faster (or Mask) R-CNN."""

    labels = scene_detectors.LABELS

    def __init__(self, with_masks: bool):
        import keras

        self.with_masks = with_masks
        self.anchors = anchors()
        count = len(ANCHOR_SIZES) * len(ANCHOR_RATIOS)
        images = keras.Input((scenes.SIZE, scenes.SIZE, 3))
        features = scene_detectors.backbone(images, WIDTHS)
        shared = keras.layers.Conv2D(WIDTHS[-1], 3, padding="same", activation="relu", name="rpn_conv")(
            features
        )
        objectness = keras.layers.Reshape((-1,))(keras.layers.Conv2D(count, 1, name="rpn_objectness")(shared))
        rpn_deltas = keras.layers.Reshape((-1, 4))(
            keras.layers.Conv2D(count * 4, 1, name="rpn_deltas")(shared)
        )
        outputs = [features, objectness, rpn_deltas]
        if with_masks:  # the finer level, after its ReLU, for the mask head
            level = keras.Model(images, features).get_layer(MASK_LEVEL).output
            outputs.append(keras.layers.ReLU(name="mask_level")(level))
        self.rpn = keras.Model(images, outputs, name="rpn")

        pooled = keras.Input((ROI_SIZE, ROI_SIZE, WIDTHS[-1]))
        x = keras.layers.Flatten()(pooled)  # two fully connected layers, as in the paper's head
        x = keras.layers.Dense(256, activation="relu")(x)
        x = keras.layers.Dense(256, activation="relu")(x)
        self.head = keras.Model(
            pooled,
            [
                keras.layers.Dense(NUM_CLASSES + 1, name="class_logits")(x),
                keras.layers.Reshape((NUM_CLASSES, 4))(
                    keras.layers.Dense(NUM_CLASSES * 4, name="box_deltas")(x)
                ),
            ],
            name="head",
        )
        self.parts = [self.rpn, self.head]
        if with_masks:
            region = keras.Input((MASK_SIZE // 2, MASK_SIZE // 2, WIDTHS[1]))
            y = region
            for _ in range(3):  # the paper's head has four 256-wide convolutions; the scenes need far less
                y = keras.layers.Conv2D(48, 3, padding="same", activation="relu")(y)
            y = keras.layers.Conv2DTranspose(48, 2, strides=2, activation="relu")(y)
            self.mask_head = keras.Model(
                region, keras.layers.Conv2D(NUM_CLASSES, 1, name="mask_logits")(y), name="mask_head"
            )
            self.parts.append(self.mask_head)

    # ----- proposals, shared by training and inference
    def proposals(self, objectness, deltas, count: int):
        """Top proposals per image after NMS at 0.7: (B, count, 4) boxes, (B, count) validity."""
        import tensorflow as tf

        boxes = decode(tf.constant(self.anchors)[None], deltas)
        scores = tf.sigmoid(objectness)
        chosen = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :] / scenes.SIZE,
            scores[..., None],
            count,
            count,
            iou_threshold=0.7,
            score_threshold=0.0,
            clip_boxes=True,
        )
        valid = tf.sequence_mask(chosen.valid_detections, count)
        return tf.stop_gradient(chosen.nmsed_boxes * scenes.SIZE), valid

    def losses(self, images, truth_boxes, truth_labels, truth_masks, anchor_boxes, training: bool) -> dict:
        """A batch's training losses, each normalized over the batch's anchors, ROIs or masks:
        rpn_class, rpn_box, head_class, head_box, and mask (Mask R-CNN)."""
        import tensorflow as tf

        valid_truth = truth_labels >= 0  # (B, T)
        features, objectness, rpn_deltas, *finer = self.rpn(images, training=training)

        # RPN targets: anchors by their best IoU with any real object.
        overlaps = pairwise_iou(
            tf.broadcast_to(anchor_boxes[None], tf.shape(rpn_deltas)), truth_boxes
        )  # (B, N, T)
        overlaps = tf.where(valid_truth[:, None, :], overlaps, -1.0)
        best = tf.reduce_max(overlaps, axis=2)
        best_truth = tf.argmax(overlaps, axis=2, output_type=tf.int32)
        # Each object's best anchor is positive too, so no object goes without one.
        is_best_for_some = tf.reduce_any(
            (overlaps >= tf.reduce_max(overlaps, axis=1, keepdims=True) - 1e-6)
            & valid_truth[:, None, :]
            & (overlaps > 0.1),
            axis=2,
        )
        positive = (best >= RPN_POSITIVE) | is_best_for_some
        negative = (best < RPN_NEGATIVE) & ~positive
        bce = tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(positive, tf.float32), objectness)
        positives = tf.maximum(tf.reduce_sum(tf.cast(positive, tf.float32)), 1.0)
        # Balanced: positives and negatives each weigh half, whatever their numbers (~10 vs ~1200 per scene).
        rpn_class = tf.reduce_sum(tf.where(positive, bce, 0.0)) / positives + tf.reduce_sum(
            tf.where(negative, bce, 0.0)
        ) / tf.maximum(tf.reduce_sum(tf.cast(negative, tf.float32)), 1.0)
        matched = tf.gather(truth_boxes, best_truth, batch_dims=1)
        rpn_box = (
            tf.reduce_sum(
                tf.where(positive, _smooth_l1(encode(anchor_boxes[None], matched) - rpn_deltas), 0.0)
            )
            / positives
        )

        # Head: proposals plus the ground truth, labelled by IoU.
        proposals, valid = self.proposals(objectness, rpn_deltas, TRAIN_PROPOSALS)
        rois = tf.concat([proposals, truth_boxes], axis=1)  # (B, R, 4)
        roi_valid = tf.concat([valid, valid_truth], axis=1)
        roi_overlaps = tf.where(valid_truth[:, None, :], pairwise_iou(rois, truth_boxes), -1.0)
        roi_best = tf.reduce_max(roi_overlaps, axis=2)
        roi_truth = tf.argmax(roi_overlaps, axis=2, output_type=tf.int32)
        foreground = (roi_best >= HEAD_POSITIVE) & roi_valid
        roi_labels = tf.where(foreground, tf.gather(truth_labels, roi_truth, batch_dims=1) + 1, 0)
        batch, rois_per_image = tf.shape(rois)[0], tf.shape(rois)[1]
        flat_rois = tf.reshape(rois, (-1, 4))
        image_index = tf.repeat(tf.range(batch), rois_per_image)
        logits, box_deltas = self.head(
            scene_detectors.roi_features(features, flat_rois, image_index, ROI_SIZE), training=training
        )
        flat_valid = tf.reshape(roi_valid, (-1,))
        flat_labels = tf.reshape(roi_labels, (-1,))
        flat_foreground = tf.reshape(foreground, (-1,))
        head_class = tf.reduce_sum(
            tf.where(flat_valid, tf.nn.sparse_softmax_cross_entropy_with_logits(flat_labels, logits), 0.0)
        ) / tf.maximum(tf.reduce_sum(tf.cast(flat_valid, tf.float32)), 1.0)
        class_index = tf.maximum(flat_labels - 1, 0)
        chosen_deltas = tf.gather(box_deltas, class_index, batch_dims=1)
        matched_roi_truth = tf.reshape(tf.gather(truth_boxes, roi_truth, batch_dims=1), (-1, 4))
        foregrounds = tf.maximum(tf.reduce_sum(tf.cast(flat_foreground, tf.float32)), 1.0)
        head_box = (
            tf.reduce_sum(
                tf.where(
                    flat_foreground,
                    _smooth_l1(encode(flat_rois, matched_roi_truth, HEAD_SCALE) - chosen_deltas),
                    0.0,
                )
            )
            / foregrounds
        )
        losses = {"rpn_class": rpn_class, "rpn_box": rpn_box, "head_class": head_class, "head_box": head_box}
        if self.with_masks:  # on the foreground ROIs only, the only ones with a mask to learn
            fg_rois = tf.boolean_mask(flat_rois, flat_foreground)
            fg_images = tf.boolean_mask(image_index, flat_foreground)
            mask_logits = self.mask_head(
                scene_detectors.roi_features(
                    finer[0], fg_rois, fg_images, MASK_SIZE // 2, stride=MASK_STRIDE
                ),
                training=training,
            )
            chosen_logits = tf.gather(
                tf.transpose(mask_logits, (0, 3, 1, 2)),
                tf.boolean_mask(class_index, flat_foreground),
                batch_dims=1,
            )
            # The matched object's visible mask, cut out along the ROI and resized to 28 x 28.
            flat_masks = tf.reshape(tf.cast(truth_masks, tf.float32), (-1, scenes.SIZE, scenes.SIZE, 1))
            mask_index = fg_images * tf.shape(truth_masks)[1] + tf.boolean_mask(
                tf.reshape(roi_truth, (-1,)), flat_foreground
            )
            corners = tf.gather(fg_rois, [1, 0, 3, 2], axis=1) / scenes.SIZE
            targets = tf.image.crop_and_resize(flat_masks, corners, mask_index, (MASK_SIZE, MASK_SIZE))[
                ..., 0
            ]
            targets = tf.cast(targets >= 0.5, tf.float32)
            losses["mask"] = (
                tf.reduce_sum(
                    tf.reduce_mean(
                        tf.nn.sigmoid_cross_entropy_with_logits(targets, chosen_logits), axis=(1, 2)
                    )
                )
                / foregrounds
            )
        return losses

    # ----- inference
    @functools.cached_property
    def _infer(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def infer(images):
            features, objectness, rpn_deltas, *finer = self.rpn(images, training=False)
            proposals, valid = self.proposals(objectness, rpn_deltas, PROPOSALS)
            batch = tf.shape(images)[0]
            flat_rois = tf.reshape(proposals, (-1, 4))
            image_index = tf.repeat(tf.range(batch), PROPOSALS)
            logits, deltas = self.head(
                scene_detectors.roi_features(features, flat_rois, image_index, ROI_SIZE), training=False
            )
            boxes = decode(flat_rois[:, None, :], deltas, HEAD_SCALE)  # (R, C, 4): one refined box per class
            return (
                (finer or [features])[0],
                tf.reshape(tf.nn.softmax(logits), (batch, PROPOSALS, -1)),
                tf.reshape(boxes, (batch, PROPOSALS, NUM_CLASSES, 4)),
                valid,
            )

        return infer

    @functools.cached_property
    def _masks(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def masks(features, rois, image_index, labels):
            logits = self.mask_head(
                scene_detectors.roi_features(features, rois, image_index, MASK_SIZE // 2, stride=MASK_STRIDE),
                training=False,
            )
            return tf.sigmoid(tf.gather(tf.transpose(logits, (0, 3, 1, 2)), labels, batch_dims=1))

        return masks

    def predict(
        self,
        images: np.ndarray,
        min_score: float = MIN_SCORE,
        nms_iou: float = NMS_IOU,
        max_detections: int = MAX_DETECTIONS,
        with_masks: bool = False,
    ) -> list:
        """Detections per image (ImageDetections); with masks, also a list of (N, SIZE, SIZE) bool arrays."""
        # `features`: the mask head's level (stride 4) for Mask R-CNN, else the backbone output (unused).
        features, probabilities, boxes, valid = (
            value.numpy() for value in self._infer(images.astype(np.float32))
        )
        results, masks = [], []
        for image in range(len(images)):
            keep_rois = np.flatnonzero(valid[image])
            scores = probabilities[image, keep_rois, 1:]  # (R, C) without background
            roi, label = np.nonzero(scores >= min_score)
            candidate_boxes = boxes[image, keep_rois[roi], label]
            candidate_scores = scores[roi, label]
            kept = box_ops.class_nms(
                candidate_boxes.astype(np.float64),
                candidate_scores.astype(np.float64),
                label.tolist(),
                nms_iou,
            )[:max_detections]
            found = metrics.ImageDetections(candidate_boxes[kept], candidate_scores[kept], label[kept])
            if with_masks:
                pasted, maskness = self.paste_masks(features[image : image + 1], found)
                rescored = found.scores * maskness**MASKNESS_POWER
                order = np.argsort(-rescored, kind="stable")
                found = metrics.ImageDetections(found.boxes[order], rescored[order], found.labels[order])
                masks.append(pasted[order])
            results.append(found)
        return (results, masks) if with_masks else results

    def find(self, pixels: np.ndarray, settings, on_progress: ProgressCallback, should_stop: StopCheck):
        """The detection page's Detector protocol (via scene_detectors.SceneDetector)."""
        return scene_detectors.SceneDetector(self.predict).find(pixels, settings, on_progress, should_stop)

    def paste_masks(
        self, features: np.ndarray, found: metrics.ImageDetections
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each detection's 28 x 28 mask resized into its box on the scene and kept where >= MASK_THRESHOLD:
        (N, SIZE, SIZE) bool, and each mask's maskness, the mean probability over the pixels kept (N,)."""
        import cv2

        result = np.zeros((len(found.labels), scenes.SIZE, scenes.SIZE), bool)
        maskness = np.zeros(len(found.labels), np.float32)
        if not len(found.labels):
            return result, maskness
        probabilities = self._masks(
            features,
            found.boxes.astype(np.float32),
            np.zeros(len(found.labels), np.int32),
            found.labels.astype(np.int32),
        ).numpy()
        for row, (box, mask) in enumerate(zip(found.boxes, probabilities)):
            x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
            x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            resized = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            kept = resized >= MASK_THRESHOLD
            result[row, y0:y1, x0:x1] = kept
            maskness[row] = resized[kept].mean() if kept.any() else 0.0
        return result, maskness


def _smooth_l1(difference):
    """Huber with delta 1 summed over the last axis (Fast R-CNN's smooth L1)."""
    import tensorflow as tf

    absolute = tf.abs(difference)
    return tf.reduce_sum(tf.where(absolute < 1.0, 0.5 * difference**2, absolute - 0.5), axis=-1)


def step_losses(model: FasterRCNN, batch, anchor_boxes, mask_only: bool = False) -> dict:
    """The losses a training step sums, by name: all of them (stage 1), or the mask head's alone with the
    detector in inference mode (stage 2). `batch`: images, truth boxes, labels and masks."""
    losses = model.losses(*batch, anchor_boxes, training=not mask_only)
    return {"mask": losses["mask"]} if mask_only else losses


def _train_step_function(model: FasterRCNN, optimizer, mask_only: bool = False):
    """One update: all parts on the summed losses (stage 1), or the mask head alone on its loss with the
    detector frozen and in inference mode (stage 2); returns the batch's losses by name."""
    import tensorflow as tf

    parts = [model.mask_head] if mask_only else model.parts
    variables = [weight for part in parts for weight in part.trainable_weights]
    anchor_boxes = tf.constant(model.anchors)

    @tf.function(reduce_retracing=True)
    def step(images, truth_boxes, truth_labels, truth_masks):
        with tf.GradientTape() as tape:
            losses = step_losses(
                model, (images, truth_boxes, truth_labels, truth_masks), anchor_boxes, mask_only
            )
            total = tf.add_n(list(losses.values()))
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return losses

    return step


class DetectorTask(SceneDetectorTask):
    """Stage 1 of Faster / Mask R-CNN (engine/core/training.py runs the loop): every part trained jointly
    on the summed losses, shuffled batches of the pre-generated training scenes, the epoch with the best
    validation mAP@0.5 kept (ties go to the later epoch)."""

    mask_only = False  # stage 2 trains the mask head alone
    unit = "scenes"
    batch_size = BATCH_SIZE
    validation_scenes = VALIDATION_SCENES

    def __init__(
        self,
        name: str,
        train_scenes: int = TRAIN_SCENES,
        epochs: int = DEFAULT_EPOCHS,
        on_progress: ProgressCallback = no_progress,
    ):
        self.name, self.asset, self.with_masks = name, WEIGHTS[name], name == "mask-rcnn"
        self.train_scenes, self.stage1_epochs, self.on_progress = train_scenes, epochs, on_progress
        self._step = None

    def build_inputs(self, first_epoch: int) -> None:
        super().build_inputs(first_epoch)
        self.on_progress(0.0, f"Generating {self.train_scenes} training scenes")
        self.data = scenes.batch("train", self.first_scene(), self.train_scenes)
        self.rng = np.random.default_rng(self.seed())

    def first_scene(self) -> int:
        return 0

    def seed(self) -> int:
        return 0

    def build_model(self) -> list:
        self.model = FasterRCNN(self.with_masks)
        return self.model.parts

    def steps_per_epoch(self) -> int:
        return len(self.data.images) // BATCH_SIZE

    def batches(self, epoch: int):
        data, order = self.data, self.rng.permutation(len(self.data.images))
        for step in range(self.steps_per_epoch()):
            index = np.sort(order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE])
            yield (
                data.images[index].astype(np.float32),
                data.boxes[index],
                data.labels[index].astype(np.int32),
                data.masks[index],
            )

    def build_sampler(self) -> None:
        """Only the run's clock: `sample` generates its scenes as it draws them."""
        super().build_inputs(0)

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        """`size` consecutive training scenes from a random one: images, boxes, labels, masks."""
        data = scenes.batch("train", int(rng.integers(0, self.train_scenes)), size)
        return data.images.astype(np.float32), data.boxes, data.labels.astype(np.int32), data.masks

    def loss(self, batch):
        import tensorflow as tf

        # Each loss is normalized over the batch's anchors, ROIs or masks: their sum is the batch's mean.
        return tf.add_n(
            list(step_losses(self.model, batch, tf.constant(self.model.anchors), self.mask_only).values())
        )

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self._step is None:
            self._step = _train_step_function(self.model, optimizer, self.mask_only)
        return self._step(*batch)

    def evaluate(self, weights: pathlib.Path) -> dict:
        return evaluate_model(build(weights))  # the float16 weights that get promoted

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        stage1 = [entry for entry in history if entry.get("stage", 1) == 1]
        stage2 = [entry for entry in history if entry.get("stage") == 2]
        best = project_weights.best_epoch(stage1, "validation_map50")
        metric = f"test scenes ({figures['scenes']}): mAP@0.5 {figures['map50']:.4f}"
        how = (
            f"python -m engine train {self.name} --epochs {self.stage1_epochs} (best of {len(stage1)} epochs on "
            f"{VALIDATION_SCENES} validation scenes: epoch {best['epoch']}; {self.train_scenes} training scenes"
        )
        if "mask_map50" in figures:
            metric += (
                f", mask AP@0.5 {figures['mask_map50']:.4f}, mean mask IoU {figures['mean_mask_iou']:.4f}"
            )
            mask_best = project_weights.best_epoch(stage2, "validation_mean_mask_iou")
            cycles = ", ".join(
                f"{cycle.epochs} epochs at {cycle.learning_rate:.2g}"
                + (f" on {self.train_scenes} new scenes" if cycle.new_scenes else "")
                for cycle in MASK_CYCLES
            )
            how += (
                f"; then the stride-4 mask head alone on the frozen detector, {cycles}, best by validation mean "
                f"mask IoU: epoch {mask_best['epoch'] - len(stage1)}; masks kept at >= {MASK_THRESHOLD}, scores x "
                f"maskness^{MASKNESS_POWER}"
            )
        minutes = sum(entry["seconds"] for entry in history) / 60
        return how + f"; {minutes:.0f} min on 2 CPU cores shared with other trainings)", metric


class MaskHeadTask(DetectorTask):
    """One cycle of stage 2 of the Mask R-CNN trained here (MASK_CYCLES): the mask head alone, on the frozen
    detector, resumed in stage 1's run folder. Cycle 0 trains a new mask head on the stride-4 level over
    stage 1's detector (stage1.npz); a later cycle goes on from the best checkpoint so far, with a new
    optimizer at that cycle's learning rate. Each keeps the epoch with the best mean mask IoU on the
    validation scenes (the bar: the best so far). The paper trains everything at once; two stages cost far
    less CPU here, since the backbone runs forward only."""

    monitor = "validation_mean_mask_iou"
    resume_from = "best"
    mask_only = True

    def __init__(
        self,
        cycle: int,
        train_scenes: int = TRAIN_SCENES,
        epochs: int = DEFAULT_EPOCHS,
        on_progress: ProgressCallback = no_progress,
    ):
        super().__init__("mask-rcnn", train_scenes, epochs, on_progress)
        self.cycle = cycle

    def first_scene(self) -> int:  # a cycle with new_scenes draws the next train_scenes scenes, unseen so far
        return self.train_scenes * sum(cycle.new_scenes for cycle in MASK_CYCLES[: self.cycle + 1])

    def seed(self) -> int:
        return 1 + sum(cycle.epochs for cycle in MASK_CYCLES[: self.cycle])

    def load_weights(self, parts: list, path: pathlib.Path) -> None:
        if self.cycle == 0:  # stage 1's detector; the mask head starts anew
            weights_io.load_float16([self.model.rpn, self.model.head], path.parent / STAGE1_CHECKPOINT)
        else:
            weights_io.load_float16(parts, path)

    def validate(self) -> dict[str, float]:
        figures = evaluate_masks(self.model, self.validation_scenes, split="validation")
        return {
            "validation_mean_mask_iou": figures["mean_mask_iou"],
            "validation_mask_map50": figures["mask_map50"],
        }

    def epoch_log(self, epoch: int) -> dict:
        return {"stage": 2, "cycle": self.cycle, "train_scenes_from": self.first_scene()}


STAGE1_CHECKPOINT = "stage1.npz"  # in the run folder: stage 1's best weights, which stage 2 starts from


def train(
    name: str = "faster-rcnn",
    epochs: int = DEFAULT_EPOCHS,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int = TRAIN_SCENES,
    max_batches: int | None = None,
    output: pathlib.Path | None = None,
    max_steps: int | None = None,
    run: str | None = None,
) -> dict:
    """Train from scratch into a run folder (engine/core/training.py); keep the epoch with the best validation
    mAP@0.5. Mask R-CNN then trains its mask head in the MASK_CYCLES of stage 2 (`train_mask_head`). The
    best weights are finalized in the run folder (float16, measured on the test scenes, with their manifest
    line); `python -m engine promote NAME RUN` commits them.

    Args:
        epochs: stage 1's epochs (Adam at LEARNING_RATE throughout).
        max_steps (or its older name max_batches): bound each epoch's steps: a smoke run of stage 1 only,
            which writes nothing.
        output: also copy the finalized float16 weights there.
        run: the run folder's name (default: the start time).
    """
    max_steps = max_steps if max_steps is not None else max_batches
    task = DetectorTask(name, train_scenes, epochs, on_progress)
    trainer = training.Trainer(
        task,
        epochs,
        schedules.constant(LEARNING_RATE),
        run=run,
        max_steps=max_steps,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    history = trainer.fit()
    if trainer.smoke or not history:
        return {"name": name, "history": history}
    if name == "mask-rcnn":  # stage 2: a finer mask head on the frozen detector, in cycles
        shutil.copyfile(trainer.chosen_checkpoint(), trainer.run.path / STAGE1_CHECKPOINT)
        for cycle in range(len(MASK_CYCLES)):
            if should_stop():
                break
            trainer = train_mask_head(cycle, trainer.run.run, on_progress, should_stop, train_scenes, epochs)
            history = trainer.history
    return {"name": name, "history": history, **trainer.finalize(output)}


def train_mask_head(
    cycle: int,
    run: str,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int = TRAIN_SCENES,
    stage1_epochs: int = DEFAULT_EPOCHS,
) -> training.Trainer:
    """Cycle `cycle` of stage 2 (MaskHeadTask), resumed in Mask R-CNN run `run`; returns its Trainer
    (`.finalize()` measures and records the best checkpoint)."""
    task = MaskHeadTask(cycle, train_scenes, stage1_epochs, on_progress)
    trainer = training.Trainer(
        task,
        1,
        schedules.constant(MASK_CYCLES[cycle].learning_rate),
        resume=True,
        run=run,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    trainer.epochs = trainer.first_epoch + MASK_CYCLES[cycle].epochs  # numbered after the epochs before it
    trainer.fit()
    return trainer


def build(weights: pathlib.Path) -> FasterRCNN:
    """The network stored in a weight file; a file with mask-head weights is a Mask R-CNN."""
    with np.load(weights) as stored:
        with_masks = any(key.startswith("mask_head:") for key in stored.files)
    model = FasterRCNN(with_masks)
    weights_io.load_float16(model.parts, weights)
    return model


def from_source(spec, source) -> FasterRCNN:
    """The registry's builder (engine/core/entries.py): `build` on the committed weights, checked by the manifest."""
    from engine.core import manifest

    return build(manifest.verified(source.reference))


def evaluate_model(model: FasterRCNN, count: int = scenes.TEST_SCENES) -> dict:
    """mAP@0.5 of the boxes on the test scenes; for Mask R-CNN also mask AP@0.5 and mean mask IoU."""
    started = time.perf_counter()
    figures = scene_detectors.evaluate(model.predict, count)
    figures["ms_per_scene"] = round((time.perf_counter() - started) * 1000 / count, 2)
    if model.with_masks:
        figures.update(evaluate_masks(model, count))
    return figures


def evaluate_masks(model: FasterRCNN, count: int, split: str = "test") -> dict:
    """Mask AP@0.5 (matching by mask IoU) and the mean mask IoU of instances matched by box (IoU >= 0.5)."""
    items = [scenes.scene(split, index) for index in range(count)]
    predictions, masks = [], []
    for first in range(0, count, 50):
        found, pasted = model.predict(
            np.stack([item.image for item in items[first : first + 50]]), with_masks=True
        )
        predictions += found
        masks += pasted
    ap = metrics.mean_average_precision(
        predictions,
        [item.boxes for item in items],
        [item.labels for item in items],
        NUM_CLASSES,
        predicted_masks=masks,
        truth_masks=[item.masks for item in items],
    )
    ious = []
    for found, pasted, item in zip(predictions, masks, items):
        if not len(found.labels):
            ious += [0.0] * len(item.labels)
            continue
        overlaps = box_ops.iou_matrix(item.boxes.astype(np.float64), found.boxes.astype(np.float64))
        for truth, row in enumerate(overlaps):
            same = np.flatnonzero((found.labels == item.labels[truth]) & (row >= 0.5))
            ious.append(
                metrics.mask_iou(pasted[same[np.argmax(row[same])]], item.masks[truth]) if len(same) else 0.0
            )
    return {"mask_map50": ap["map"], "mean_mask_iou": float(np.mean(ious))}


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config; the committed weights are run1's (`python -m engine configs faster-rcnn`).
for _name in ("faster-rcnn", "mask-rcnn"):
    configs.register(_name, configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
configs.register("faster-rcnn", "run1", configs.TrainerDefaults(4), note="the committed weights: 4 epochs")
configs.register(
    "mask-rcnn",
    "run1",
    configs.TrainerDefaults(6),
    note="the committed weights: 6 epochs of stage 1, then MASK_CYCLES; that run's stage 1 trained an "
    "earlier stride-8 mask head and its third stage-2 cycle was a script run (the manifest line), "
    "so a replay does not give the same scenes",
)
