"""Fast R-CNN on the scenes (Girshick, "Fast R-CNN", ICCV 2015).

R-CNN runs its CNN once per proposal; Fast R-CNN runs the convolutional backbone once per scene and
reads each proposal's features off the shared feature map:
1. Selective search proposals, the same as R-CNN's (engine/detection/trained/proposals.py).
2. The backbone (engine/scene_detectors.backbone, stride 8: 96 x 96 -> 12 x 12) runs once per scene.
3. Each proposal is projected onto the feature map and max-pooled to POOL x POOL cells (ROI pooling,
   scene_detectors.roi_features(..., pool="max")).
4. Fully connected layers, then two sibling heads: 17-way softmax (16 classes + background) and
   class-specific (dx, dy, dw, dh) box regression; per-class NMS.
Trained end to end with the multi-task loss L = L_cls + [u >= 1] L_loc (smooth L1), on minibatches of
a few scenes with REGIONS_PER_SCENE sampled proposals each, 25% of them objects (IoU >= 0.5), the rest
background (IoU < 0.3), as in the paper's hierarchical sampling.
"""

from __future__ import annotations

import time

import numpy as np

from engine.detection.trained import common as scene_detectors
from engine.ops import metrics
from engine.detection.trained import proposals as scene_proposals
from engine.data import scenes
from engine.core import weights_io
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress

WEIGHTS = "scene_detection/fast_rcnn.npz"
BACKBONE_WIDTHS = (24, 48, 96)
POOL = 4  # ROI pooling output side; objects span 2.5 to 5 feature cells
FC_WIDTH = 256  # two fully connected layers of this width (the paper's fc6, fc7 at VGG16: 4096)
NUM_CLASSES = len(scenes.CLASSES)
TRAIN_SCENES = 8000  # the same scenes and cached proposals as R-CNN
VALIDATION_SCENES = 300
SCENES_PER_BATCH = 8  # the paper: 2 images x 64 ROIs; small scenes, so more of them
REGIONS_PER_SCENE = 32
DEFAULT_EPOCHS = 3
LEARNING_RATE = 1e-3
LEARNING_RATE_DECAY = 0.6  # per epoch
MIN_SCORE = 0.01
NMS_IOU = 0.3
MAX_DETECTIONS = 50


def build_networks():
    """(backbone: scene -> stride-8 features, head: pooled ROI features -> class probabilities, deltas)."""
    import keras

    inputs = keras.Input((scenes.SIZE, scenes.SIZE, 3))
    backbone = keras.Model(inputs, scene_detectors.backbone(inputs, BACKBONE_WIDTHS), name="fast_rcnn_backbone")
    pooled = keras.Input((POOL, POOL, BACKBONE_WIDTHS[-1]))
    x = keras.layers.Flatten()(pooled)
    x = keras.layers.Dense(FC_WIDTH, activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(FC_WIDTH, activation="relu", name="fc7")(x)
    classes = keras.layers.Dense(NUM_CLASSES + 1, activation="softmax", name="classes")(x)
    deltas = keras.layers.Dense(NUM_CLASSES * 4, name="box_deltas")(x)
    return backbone, keras.Model(pooled, [classes, deltas], name="fast_rcnn_head")


class FastRCNN:
    """Backbone + ROI pooling + heads, and the pipeline around them."""

    def __init__(self, networks=None):
        self.backbone, self.head = networks or build_networks()
        self._score = None

    @property
    def parts(self) -> list:
        return [self.backbone, self.head]

    def forward(self, images, regions, image_indices, training: bool = False):
        """Class probabilities (R, 17) and deltas (R, 64) of each region; the backbone runs once per scene."""
        import tensorflow as tf

        features = self.backbone(tf.cast(images, tf.float32), training=training)
        pooled = scene_detectors.roi_features(features, regions, image_indices, POOL, pool="max")
        return self.head(pooled, training=training)

    def _scorer(self):
        import tensorflow as tf

        if self._score is None:
            self._score = tf.function(self.forward, input_signature=[
                tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8), tf.TensorSpec([None, 4], tf.float32),
                tf.TensorSpec([None], tf.int32)], reduce_retracing=True)
        return self._score

    def predict(self, images: np.ndarray, proposals: list[np.ndarray] | None = None
                ) -> list[metrics.ImageDetections]:
        """Detections of uint8 (B, SIZE, SIZE, 3) scenes; proposals are searched unless given."""
        images = np.asarray(images, np.uint8)
        proposals = proposals or [scene_proposals.selective_search(image) for image in images]
        regions, indices = scene_proposals.flatten_proposals(proposals)
        probabilities, deltas = (output.numpy() for output in self._scorer()(images, regions, indices))
        return scene_proposals.detections_per_scene(proposals, probabilities, deltas, MIN_SCORE, NMS_IOU,
                                                    MAX_DETECTIONS)


def build(weights_path) -> scene_detectors.SceneDetector:
    """The page's detector from committed weights."""
    model = FastRCNN()
    weights_io.load_float16(model.parts, weights_path)
    detector = scene_detectors.SceneDetector(model.predict)
    detector.model = model
    return detector


def losses(model: FastRCNN, images, regions, image_indices, labels, targets):
    """(class cross-entropy, box smooth L1), each a mean over the regions, in training mode."""
    probabilities, deltas = model.forward(images, regions, image_indices, training=True)
    return scene_proposals.region_losses(probabilities, deltas, labels, targets)


def _train_step_function(model: FastRCNN, optimizer):
    import tensorflow as tf

    variables = model.backbone.trainable_variables + model.head.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
                                  tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 4], tf.float32)])
    def step(images, regions, image_indices, labels, targets):
        with tf.GradientTape() as tape:
            classification, regression = losses(model, images, regions, image_indices, labels, targets)
            loss = classification + regression
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return classification, regression

    return step


def train(epochs: int | None = None, on_progress: ProgressCallback = no_progress, should_stop: StopCheck = never_stop,
          train_scenes: int = TRAIN_SCENES, validation_scenes: int = VALIDATION_SCENES,
          max_steps: int | None = None, seed: int = 0, commit: bool = True) -> dict:
    """Train backbone and heads end to end from scratch; keep the best epoch by validation mAP@0.5.

    Args:
        epochs: default DEFAULT_EPOCHS.
        train_scenes: training scenes 0 .. train_scenes - 1.
        validation_scenes: validation scenes 0 .. validation_scenes - 1 pick the best epoch.
        max_steps: stop each epoch after this many steps (smoke tests).
        commit: write the float16 weights under assets/, their history and manifest line, measured on
            the test scenes (False: return the history only).
    Returns:
        {"history": per-epoch figures, "minutes", and with commit the test figures of the saved weights}.
    """
    import keras

    epochs = epochs or DEFAULT_EPOCHS
    started = time.perf_counter()
    data = scene_proposals.training_scenes("train", train_scenes, on_progress)
    validation = scene_proposals.training_scenes("validation", validation_scenes, on_progress)
    steps = train_scenes // SCENES_PER_BATCH
    schedule = keras.optimizers.schedules.ExponentialDecay(LEARNING_RATE, steps, LEARNING_RATE_DECAY, staircase=True)
    model = FastRCNN()
    optimizer = keras.optimizers.Adam(schedule)
    step = _train_step_function(model, optimizer)
    rng = np.random.default_rng(seed)
    history, best_weights, best_map = [], None, -1.0
    for epoch in range(epochs):
        epoch_started = time.perf_counter()
        order = rng.permutation(train_scenes)
        totals, done = np.zeros(2), 0
        for batch in range(steps if max_steps is None else min(steps, max_steps)):
            if should_stop():
                break
            chosen = order[batch * SCENES_PER_BATCH:(batch + 1) * SCENES_PER_BATCH]
            sampled = [scene_proposals.sample_regions(data.proposals[index], data.boxes[index], data.labels[index],
                                                      REGIONS_PER_SCENE, rng) for index in chosen]
            totals += [float(value) for value in step(
                data.images[chosen], np.concatenate([item[0] for item in sampled]),
                np.repeat(np.arange(len(chosen), dtype=np.int32), REGIONS_PER_SCENE),
                np.concatenate([item[1] for item in sampled]), np.concatenate([item[2] for item in sampled]))]
            done += 1
            if batch % 20 == 0:
                on_progress((epoch + batch / steps) / epochs, f"Fast R-CNN epoch {epoch + 1}/{epochs}, step "
                            f"{batch}/{steps}, loss: classes {totals[0] / done:.4f}, boxes {totals[1] / done:.4f}")
        if done == 0:
            break
        validation_map = scene_proposals.validation_map(model.predict, validation)
        history.append({"epoch": epoch + 1, "class_loss": totals[0] / done, "box_loss": totals[1] / done,
                        "validation_map50": validation_map, "seconds": time.perf_counter() - epoch_started})
        on_progress((epoch + 1) / epochs, f"Fast R-CNN epoch {epoch + 1}: validation mAP@0.5 {validation_map:.4f}",
                    history[-1])
        if validation_map > best_map:
            best_map, best_weights = validation_map, [[v.numpy() for v in part.weights] for part in model.parts]
        if should_stop():
            break
    if best_weights is not None:
        for part, values in zip(model.parts, best_weights):
            for variable, value in zip(part.weights, values):
                variable.assign(value)
    result = {"history": history, "minutes": (time.perf_counter() - started) / 60}
    if commit and max_steps is None and history:
        result.update(scene_proposals.commit_weights(
            model.parts, WEIGHTS, history, lambda: evaluate_model(_reloaded()),
            f"python -m engine train fast-rcnn --epochs {epochs}", train_scenes, result["minutes"]))
    return result


def _reloaded() -> FastRCNN:
    """The model as committed (float16), so the recorded metric is the one users get."""
    from engine.core.registry import PROJECT_ASSETS

    model = FastRCNN()
    weights_io.load_float16(model.parts, PROJECT_ASSETS / WEIGHTS)
    return model


def evaluate_model(model, count: int = scenes.TEST_SCENES, timed_scenes: int = 20) -> dict:
    """mAP@0.5 on the test scenes, and the time of one scene at a time with and without selective search."""
    model = getattr(model, "model", model)
    return {**scene_detectors.evaluate(model.predict, count),
            "ms_per_scene": scene_proposals.time_per_scene(model.predict, timed_scenes),
            "ms_per_scene_without_search": scene_proposals.time_per_scene(model.predict, timed_scenes, search=False)}
