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

import numpy as np

from engine.core import configs, weights_io
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from engine.detection.trained import proposals as scene_proposals
from engine.ops import metrics

WEIGHTS = "scene_detection/rcnn.npz"
CROP = 32  # warped region side, pixels
CONTEXT = CROP / (
    CROP - 4
)  # region enlarged so the proposal fills CROP - 4 pixels: 2 pixels of context a side
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
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv_{level}_{repeat}")(
                x
            )
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
    return tf.image.crop_and_resize(
        images, boxes, tf.cast(image_indices, tf.int32), (CROP, CROP), extrapolation_value=128.0
    )


class RCNN:
    """A trained region classifier and the pipeline around it."""

    def __init__(self, network=None):
        self.network = network or build_network()
        self._classify = None

    def _classifier(self):
        import tensorflow as tf

        if self._classify is None:

            @tf.function(
                input_signature=[
                    tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
                    tf.TensorSpec([None, 4], tf.float32),
                    tf.TensorSpec([None], tf.int32),
                ],
                reduce_retracing=True,
            )
            def classify(images, regions, image_indices):
                return self.network(warp_regions(images, regions, image_indices), training=False)

            self._classify = classify
        return self._classify

    def predict(
        self, images: np.ndarray, proposals: list[np.ndarray] | None = None
    ) -> list[metrics.ImageDetections]:
        """Detections of uint8 (B, SIZE, SIZE, 3) scenes; proposals are searched unless given."""
        images = np.asarray(images, np.uint8)
        proposals = proposals or [scene_proposals.selective_search(image) for image in images]
        regions, indices = scene_proposals.flatten_proposals(proposals)
        probabilities, deltas = (
            [np.zeros((0, NUM_CLASSES + 1), np.float32)],
            [np.zeros((0, NUM_CLASSES * 4), np.float32)],
        )
        for start in range(0, len(regions), PREDICT_BATCH):
            batch_probabilities, batch_deltas = self._classifier()(
                images, regions[start : start + PREDICT_BATCH], indices[start : start + PREDICT_BATCH]
            )
            probabilities.append(batch_probabilities.numpy())
            deltas.append(batch_deltas.numpy())
        return scene_proposals.detections_per_scene(
            proposals,
            np.concatenate(probabilities),
            np.concatenate(deltas),
            MIN_SCORE,
            NMS_IOU,
            MAX_DETECTIONS,
        )


def build(weights_path) -> scene_detectors.SceneDetector:
    """The page's detector from committed weights."""
    model = RCNN()
    weights_io.load_float16(model.network, weights_path)
    detector = scene_detectors.SceneDetector(model.predict)
    detector.model = model
    return detector


def from_source(spec, source) -> scene_detectors.SceneDetector:
    """The registry's builder (engine/core/entries.py): `build` on the committed weights, checked by the manifest."""
    from engine.core import manifest

    return build(manifest.verified(source.reference))


def losses(network, crops, labels, targets):
    """(class cross-entropy, box smooth L1), each a mean over the warped regions, in training mode."""
    probabilities, deltas = network(crops, training=True)
    return scene_proposals.region_losses(probabilities, deltas, labels, targets)


def _train_step_function(network, optimizer):
    import tensorflow as tf

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
            tf.TensorSpec([None, 4], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, 4], tf.float32),
        ]
    )
    def step(images, regions, image_indices, labels, targets):
        crops = warp_regions(images, regions, image_indices)
        with tf.GradientTape() as tape:
            classification, regression = losses(network, crops, labels, targets)
            loss = classification + regression
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return classification, regression

    return step


class RCNNTask(scene_proposals.RegionTask):
    """R-CNN's part of training: each epoch samples REGIONS_PER_SCENE regions of every training scene,
    warped and classified in shuffled batches of BATCH_SIZE."""

    name = "rcnn"
    asset = WEIGHTS
    regions_per_scene = REGIONS_PER_SCENE
    batch_size = BATCH_SIZE // REGIONS_PER_SCENE  # scenes' worth of regions per step (BATCH_SIZE regions)

    def build_inputs(self, first_epoch: int) -> None:
        import tensorflow as tf

        super().build_inputs(first_epoch)
        self.images = tf.constant(self.data.images)  # every batch indexes into all the training scenes

    def build_model(self) -> list:
        self.model = RCNN()
        self.predict = self.model.predict
        return [self.model.network]

    def loss(self, batch):
        images, regions, image_indices, labels, targets = batch
        return sum(losses(self.model.network, warp_regions(images, regions, image_indices), labels, targets))

    def steps_per_epoch(self) -> int:
        return self.train_scenes * REGIONS_PER_SCENE // BATCH_SIZE

    def batches(self, epoch: int):
        sampled = [
            scene_proposals.sample_regions(proposals, boxes, labels, REGIONS_PER_SCENE, self.rng)
            for proposals, boxes, labels in zip(self.data.proposals, self.data.boxes, self.data.labels)
        ]
        regions, labels, targets = (np.concatenate([item[part] for item in sampled]) for part in range(3))
        indices = np.repeat(np.arange(self.train_scenes, dtype=np.int32), REGIONS_PER_SCENE)
        order = self.rng.permutation(len(labels))
        for batch in range(self.steps_per_epoch()):
            chosen = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
            yield self.images, regions[chosen], indices[chosen], labels[chosen], targets[chosen]

    def step_function(self, optimizer):
        return _train_step_function(self.model.network, optimizer)

    def evaluate(self, weights) -> dict:
        return evaluate_model(build(weights))  # the float16 weights that get promoted


def train(
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int = TRAIN_SCENES,
    validation_scenes: int = VALIDATION_SCENES,
    max_steps: int | None = None,
    seed: int = 0,
    commit: bool = True,
    run: str | None = None,
) -> dict:
    """Train the region classifier from scratch into a run folder (engine/core/training.py); keep the best
    epoch by validation mAP@0.5; `python -m engine promote rcnn RUN` commits it.

    Args:
        epochs: default DEFAULT_EPOCHS; Adam's learning rate falls by LEARNING_RATE_DECAY per epoch.
        train_scenes: training scenes 0 .. train_scenes - 1.
        validation_scenes: validation scenes 0 .. validation_scenes - 1 pick the best epoch.
        max_steps: stop each epoch after this many steps (smoke tests; nothing is written).
        commit: finalize the run: float16 weights measured on the test scenes, their history and
            manifest line, ready to promote (False: return the history only).
        run: the run folder's name (default: the start time).
    Returns:
        {"history": per-epoch figures, "minutes", and with commit the test figures, "run" and "promote"}.
    """
    task = RCNNTask(train_scenes, validation_scenes, seed, on_progress)
    return scene_proposals.train_regions(
        task,
        epochs or DEFAULT_EPOCHS,
        LEARNING_RATE,
        LEARNING_RATE_DECAY,
        commit,
        max_steps,
        run,
        on_progress,
        should_stop,
    )


evaluate_model = scene_proposals.evaluate_model  # mAP@0.5 and ms per scene, with and without the search


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights.
configs.register("rcnn", configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
