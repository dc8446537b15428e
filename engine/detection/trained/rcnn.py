"""R-CNN on the scenes (Girshick et al., "Rich feature hierarchies for accurate object detection and
semantic segmentation", CVPR 2014).

The paper's pipeline, scaled to 96 x 96 scenes:
1. Selective search (fast mode) proposes about 95 regions per scene (engine/detection/trained/proposals.py).
2. Each region, enlarged by a little context (the paper's 16 pixels at 227: here 2 at 32), is warped
   to CROP x CROP pixels regardless of its aspect ratio, and a small CNN sees each warped region on
   its own: the cost grows with the number of proposals, which is what Fast R-CNN removes.
3. The CNN scores 16 classes + background and regresses a class-specific (dx, dy, dw, dh) for each
   class; then non-maximum suppression per class.
Training samples: proposals of the training scenes with IoU >= 0.5 with a ground-truth box are
examples of its class, those below 0.3 are background, plus the ground-truth boxes themselves.

Simplifications against the paper, and why: one network trained once instead of ImageNet
pre-training + fine-tuning + per-class SVMs + separate ridge box regressors on pool5 features. The
softmax replaces the SVMs (Fast R-CNN, section 5.4, found it as good) and the box regressor is a
second head of the same network, trained jointly with a smooth L1 loss.
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
from engine.core.registry import PROJECT_ASSETS

WEIGHTS = "scene_detection/rcnn.npz"
CROP = 32  # warped region side, pixels
CONTEXT = CROP / (CROP - 4)  # region enlarged so the proposal fills CROP - 4 pixels: 2 pixels of context a side
WIDTHS = ((16,), (32,), (64, 64))  # convolutions per level, each level ends in 2 x 2 max pooling: 32 -> 4
FC_WIDTH = 128  # one hidden fully connected layer before the two heads
NUM_CLASSES = len(scenes.CLASSES)
TRAIN_SCENES = 8000  # training scenes (their proposals are computed once and cached)
VALIDATION_SCENES = 300  # pick the best epoch on these; the test scenes are only for the reported figure
REGIONS_PER_SCENE = 16  # sampled per scene and epoch, 25% objects when the scene has enough
BATCH_SIZE = 128  # regions per step (the paper's 32 objects + 96 background)
DEFAULT_EPOCHS = 3
LEARNING_RATE = 1e-3
LEARNING_RATE_DECAY = 0.6  # per epoch
MIN_SCORE = 0.01  # class scores below this are not detections (low, so mAP sees the whole curve)
NMS_IOU = 0.3  # the paper's per-class NMS threshold
MAX_DETECTIONS = 50  # per scene
PREDICT_BATCH = 1024  # warped regions per CNN call


def build_network():
    """The region classifier: CROP x CROP x 3 -> (17 class probabilities, 16 x 4 box deltas)."""
    import keras

    inputs = keras.Input((CROP, CROP, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for level, widths in enumerate(WIDTHS):
        for repeat, width in enumerate(widths):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv_{level}_{repeat}")(x)
            x = keras.layers.BatchNormalization(name=f"conv_{level}_{repeat}_bn")(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(FC_WIDTH, activation="relu", name="fc")(x)
    x = keras.layers.Dropout(0.3)(x)
    classes = keras.layers.Dense(NUM_CLASSES + 1, activation="softmax", name="classes")(x)
    deltas = keras.layers.Dense(NUM_CLASSES * 4, name="box_deltas")(x)
    return keras.Model(inputs, [classes, deltas], name="rcnn")


def warp_regions(images, regions, image_indices):
    """Each region (with CONTEXT) warped to CROP x CROP: (R, CROP, CROP, 3) float32 0..255.

    Samples at the centres of a CROP x CROP grid over the region (bilinear); outside the scene reads
    mid-grey, as the paper pads with the image mean.
    """
    import tensorflow as tf

    regions = tf.cast(regions, tf.float32)
    centre = (regions[:, :2] + regions[:, 2:]) / 2
    half = (regions[:, 2:] - regions[:, :2]) / 2 * CONTEXT
    first = centre - half + half / CROP - 0.5  # first sample's pixel coordinate (pixel i's centre is i + 0.5)
    last = centre + half - half / CROP - 0.5
    boxes = tf.concat([first[:, ::-1], last[:, ::-1]], axis=1) / (scenes.SIZE - 1)  # y0, x0, y1, x1
    return tf.image.crop_and_resize(images, boxes, tf.cast(image_indices, tf.int32), (CROP, CROP),
                                    extrapolation_value=128.0)


class RCNN:
    """A trained region classifier and the pipeline around it."""

    def __init__(self, network=None):
        self.network = network or build_network()
        self._classify = None

    def _classifier(self):
        import tensorflow as tf

        if self._classify is None:
            @tf.function(input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
                                          tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None], tf.int32)],
                         reduce_retracing=True)
            def classify(images, regions, image_indices):
                return self.network(warp_regions(images, regions, image_indices), training=False)

            self._classify = classify
        return self._classify

    def predict(self, images: np.ndarray, proposals: list[np.ndarray] | None = None
                ) -> list[metrics.ImageDetections]:
        """Detections of uint8 (B, SIZE, SIZE, 3) scenes; proposals are searched unless given."""
        images = np.asarray(images, np.uint8)
        proposals = proposals or [scene_proposals.selective_search(image) for image in images]
        regions, indices = scene_proposals.flatten_proposals(proposals)
        probabilities, deltas = [np.zeros((0, NUM_CLASSES + 1), np.float32)], [np.zeros((0, NUM_CLASSES * 4), np.float32)]
        for start in range(0, len(regions), PREDICT_BATCH):
            batch_probabilities, batch_deltas = self._classifier()(
                images, regions[start:start + PREDICT_BATCH], indices[start:start + PREDICT_BATCH])
            probabilities.append(batch_probabilities.numpy())
            deltas.append(batch_deltas.numpy())
        return scene_proposals.detections_per_scene(proposals, np.concatenate(probabilities), np.concatenate(deltas),
                                                    MIN_SCORE, NMS_IOU, MAX_DETECTIONS)


def build(weights_path) -> scene_detectors.SceneDetector:
    """The page's detector from committed weights."""
    model = RCNN()
    weights_io.load_float16(model.network, weights_path)
    detector = scene_detectors.SceneDetector(model.predict)
    detector.model = model
    return detector


def losses(network, crops, labels, targets):
    """(class cross-entropy, box smooth L1), each a mean over the warped regions, in training mode."""
    probabilities, deltas = network(crops, training=True)
    return scene_proposals.region_losses(probabilities, deltas, labels, targets)


def _train_step_function(network, optimizer):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
                                  tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 4], tf.float32)])
    def step(images, regions, image_indices, labels, targets):
        crops = warp_regions(images, regions, image_indices)
        with tf.GradientTape() as tape:
            classification, regression = losses(network, crops, labels, targets)
            loss = classification + regression
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return classification, regression

    return step


def train(epochs: int | None = None, on_progress: ProgressCallback = no_progress, should_stop: StopCheck = never_stop,
          train_scenes: int = TRAIN_SCENES, validation_scenes: int = VALIDATION_SCENES,
          max_steps: int | None = None, seed: int = 0, commit: bool = True) -> dict:
    """Train the region classifier from scratch; keep the best epoch by validation mAP@0.5.

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
    import tensorflow as tf

    epochs = epochs or DEFAULT_EPOCHS
    started = time.perf_counter()
    data = scene_proposals.training_scenes("train", train_scenes, on_progress)
    validation = scene_proposals.training_scenes("validation", validation_scenes, on_progress)
    images = tf.constant(data.images)
    steps = train_scenes * REGIONS_PER_SCENE // BATCH_SIZE
    schedule = keras.optimizers.schedules.ExponentialDecay(LEARNING_RATE, steps, LEARNING_RATE_DECAY, staircase=True)
    model = RCNN()
    optimizer = keras.optimizers.Adam(schedule)
    step = _train_step_function(model.network, optimizer)
    rng = np.random.default_rng(seed)
    history, best_weights, best_map = [], None, -1.0
    for epoch in range(epochs):
        epoch_started = time.perf_counter()
        sampled = [scene_proposals.sample_regions(proposals, boxes, labels, REGIONS_PER_SCENE, rng)
                   for proposals, boxes, labels in zip(data.proposals, data.boxes, data.labels)]
        regions = np.concatenate([item[0] for item in sampled])
        labels = np.concatenate([item[1] for item in sampled])
        targets = np.concatenate([item[2] for item in sampled])
        indices = np.repeat(np.arange(train_scenes, dtype=np.int32), REGIONS_PER_SCENE)
        order = rng.permutation(len(labels))
        totals = np.zeros(2)
        done = 0
        for batch in range(steps if max_steps is None else min(steps, max_steps)):
            if should_stop():
                break
            chosen = order[batch * BATCH_SIZE:(batch + 1) * BATCH_SIZE]
            totals += [float(value) for value in step(images, regions[chosen], indices[chosen], labels[chosen],
                                                     targets[chosen])]
            done += 1
            if batch % 20 == 0:
                on_progress((epoch + batch / steps) / epochs, f"R-CNN epoch {epoch + 1}/{epochs}, step {batch}/{steps}, "
                            f"loss: classes {totals[0] / done:.4f}, boxes {totals[1] / done:.4f}")
        if done == 0:
            break
        validation_map = scene_proposals.validation_map(model.predict, validation)
        history.append({"epoch": epoch + 1, "class_loss": totals[0] / done, "box_loss": totals[1] / done,
                        "validation_map50": validation_map, "seconds": time.perf_counter() - epoch_started})
        on_progress((epoch + 1) / epochs, f"R-CNN epoch {epoch + 1}: validation mAP@0.5 {validation_map:.4f}",
                    history[-1])
        if validation_map > best_map:
            best_map, best_weights = validation_map, [variable.numpy() for variable in model.network.weights]
        if should_stop():
            break
    if best_weights is not None:
        for variable, value in zip(model.network.weights, best_weights):
            variable.assign(value)
    result = {"history": history, "minutes": (time.perf_counter() - started) / 60}
    if commit and max_steps is None and history:
        result.update(scene_proposals.commit_weights(
            model.network, WEIGHTS, history, lambda: evaluate_model(_reloaded()),
            f"python -m engine train rcnn --epochs {epochs}", train_scenes, result["minutes"]))
    return result


def _reloaded() -> RCNN:
    """The model as committed (float16), so the recorded metric is the one users get."""
    model = RCNN()
    weights_io.load_float16(model.network, PROJECT_ASSETS / WEIGHTS)
    return model


def evaluate_model(model, count: int = scenes.TEST_SCENES, timed_scenes: int = 20) -> dict:
    """mAP@0.5 on the test scenes, and the time of one scene at a time with and without selective search."""
    model = getattr(model, "model", model)
    return {**scene_detectors.evaluate(model.predict, count),
            "ms_per_scene": scene_proposals.time_per_scene(model.predict, timed_scenes),
            "ms_per_scene_without_search": scene_proposals.time_per_scene(model.predict, timed_scenes, search=False)}
