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

import numpy as np

from engine.core import configs, weights_io
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from engine.detection.trained import proposals as scene_proposals
from engine.ops import metrics

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
    backbone = keras.Model(
        inputs, scene_detectors.backbone(inputs, BACKBONE_WIDTHS), name="fast_rcnn_backbone"
    )
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
            self._score = tf.function(
                self.forward,
                input_signature=[
                    tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
                    tf.TensorSpec([None, 4], tf.float32),
                    tf.TensorSpec([None], tf.int32),
                ],
                reduce_retracing=True,
            )
        return self._score

    def predict(
        self, images: np.ndarray, proposals: list[np.ndarray] | None = None
    ) -> list[metrics.ImageDetections]:
        """Detections of uint8 (B, SIZE, SIZE, 3) scenes; proposals are searched unless given."""
        images = np.asarray(images, np.uint8)
        proposals = proposals or [scene_proposals.selective_search(image) for image in images]
        regions, indices = scene_proposals.flatten_proposals(proposals)
        probabilities, deltas = (output.numpy() for output in self._scorer()(images, regions, indices))
        return scene_proposals.detections_per_scene(
            proposals, probabilities, deltas, MIN_SCORE, NMS_IOU, MAX_DETECTIONS
        )


def build(weights_path) -> scene_detectors.SceneDetector:
    """The page's detector from committed weights."""
    model = FastRCNN()
    weights_io.load_float16(model.parts, weights_path)
    detector = scene_detectors.SceneDetector(model.predict)
    detector.model = model
    return detector


def from_source(spec, source) -> scene_detectors.SceneDetector:
    """The registry's builder (engine/core/entries.py): `build` on the committed weights, checked by the manifest."""
    from engine.core import manifest

    return build(manifest.verified(source.reference))


def losses(model: FastRCNN, images, regions, image_indices, labels, targets):
    """(class cross-entropy, box smooth L1), each a mean over the regions, in training mode."""
    probabilities, deltas = model.forward(images, regions, image_indices, training=True)
    return scene_proposals.region_losses(probabilities, deltas, labels, targets)


def _train_step_function(model: FastRCNN, optimizer):
    import tensorflow as tf

    variables = model.backbone.trainable_variables + model.head.trainable_variables

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
        with tf.GradientTape() as tape:
            classification, regression = losses(model, images, regions, image_indices, labels, targets)
            loss = classification + regression
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return classification, regression

    return step


class FastRCNNTask(scene_proposals.RegionTask):
    """Fast R-CNN's part of training: batches of SCENES_PER_BATCH shuffled scenes, REGIONS_PER_SCENE
    regions sampled from each as the batch is drawn; backbone and heads train end to end."""

    name = "fast-rcnn"
    asset = WEIGHTS
    regions_per_scene = REGIONS_PER_SCENE
    batch_size = SCENES_PER_BATCH

    def build_model(self) -> list:
        self.model = FastRCNN()
        self.predict = self.model.predict
        return self.model.parts

    def loss(self, batch):
        return sum(losses(self.model, *batch))  # class + box losses, each a mean over the batch's regions

    def steps_per_epoch(self) -> int:
        return self.train_scenes // SCENES_PER_BATCH

    def batches(self, epoch: int):
        data, order = self.data, self.rng.permutation(self.train_scenes)
        for batch in range(self.steps_per_epoch()):
            chosen = order[batch * SCENES_PER_BATCH : (batch + 1) * SCENES_PER_BATCH]
            sampled = [
                scene_proposals.sample_regions(
                    data.proposals[index], data.boxes[index], data.labels[index], REGIONS_PER_SCENE, self.rng
                )
                for index in chosen
            ]
            yield (
                data.images[chosen],
                np.concatenate([item[0] for item in sampled]),
                np.repeat(np.arange(len(chosen), dtype=np.int32), REGIONS_PER_SCENE),
                np.concatenate([item[1] for item in sampled]),
                np.concatenate([item[2] for item in sampled]),
            )

    def step_function(self, optimizer):
        return _train_step_function(self.model, optimizer)

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
    """Train backbone and heads end to end from scratch into a run folder (engine/core/training.py); keep
    the best epoch by validation mAP@0.5; `python -m engine promote fast-rcnn RUN` commits it.

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
    task = FastRCNNTask(train_scenes, validation_scenes, seed, on_progress)
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
configs.register("fast-rcnn", configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
