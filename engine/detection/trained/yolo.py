"""A YOLO-style single-shot detector for the scenes (Redmon et al., "You Only Look Once: Unified,
Real-Time Object Detection", CVPR 2016).

One pass of a convolutional network maps the 96 x 96 scene to an S x S grid (S = 12: the backbone's
stride-8 cells). Each cell predicts B = 2 boxes, each as (x, y, sqrt w, sqrt h, objectness), and one
set of C = 16 class probabilities: an S x S x (B*5 + C) output. x, y are the box centre's offset
inside the cell and w, h are fractions of the scene side, all squashed into [0, 1] by a sigmoid.

Loss (paper, eq. 3), summed over the grid and averaged over the batch. The cell that holds an
object's centre is responsible for it, and of its B predictors the one whose box overlaps the object
most (highest IoU) is the "responsible predictor":
- lambda_coord * squared error of x, y, sqrt w, sqrt h of the responsible predictor (lambda_coord = 5;
  square roots so that an error costs more on a small box than on a large one);
- squared error of its objectness against the IoU of its box with the object;
- lambda_noobj * squared objectness of every other predictor (lambda_noobj = 0.5, since most
  predictors see no object and would otherwise push every confidence to zero);
- a class loss in each cell that holds an object. Here it is softmax cross-entropy instead of the
  paper's squared error on the probabilities (a change: it trains faster in a short CPU run).

Training: Adam, every epoch on new scenes (they cost 1 ms each to make, so none is seen twice: repeated
scenes were overfitted, docs/models/yolo.md); objectness starts at OBJECTNESS_PRIOR instead of 0.5.

Decoding: the class-specific confidence of a predictor is objectness * class probability; boxes
above MIN_SCORE go through per-class non-maximum suppression (engine/ops/boxes.py).
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from engine.core import configs, schedules, training, weights_io
from engine.core import manifest as project_weights
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from engine.detection.trained.task import SceneDetectorTask
from engine.ops import boxes as box_ops
from engine.ops import metrics

WEIGHTS = "scene_detection/yolo.npz"
GRID = scenes.SIZE // scene_detectors.FEATURE_STRIDE  # S = 12 cells on a side, 8 px each
BOXES_PER_CELL = 2  # B
NUM_CLASSES = len(scenes.CLASSES)  # C = 16
WIDTHS = (16, 32, 64)  # backbone widths per stride level (scene_detectors.backbone)
HEAD_WIDTH = 96  # two 3 x 3 convolutions on the 12 x 12 map: the receptive field grows to 61 px
LAMBDA_COORD = 5.0  # paper: weight of the box coordinate errors
LAMBDA_NOOBJ = 0.5  # paper: weight of the objectness of predictors that see no object
OBJECTNESS_PRIOR = 0.02  # initial objectness of every predictor
TRAIN_SCENES = 8000  # multi-object training scenes per epoch, new ones every epoch (1 ms each to make)
VALIDATION_SCENES = 200  # pick the best epoch by their mAP@0.5 (never by test scenes)
DEFAULT_EPOCHS = 10
BATCH_SIZE = 32
LEARNING_RATE = 2e-3  # Adam, cosine-decayed to zero over the run
SEED = 0
MIN_SCORE = 0.01  # class-specific confidence below this is dropped before NMS
NMS_IOU = 0.45  # per-class NMS threshold
MAX_DETECTIONS = 50  # per scene
EVAL_BATCH = 100


def grid_targets(boxes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene's training targets on the S x S grid.

    Args:
        boxes: (N, 4) corner boxes in pixels; labels: (N,) class indices (-1 entries are skipped).
    Returns:
        objects (S, S) 1.0 where a cell holds an object's centre; box targets (S, S, 4): x, y offset
        in the cell and sqrt w, sqrt h as fractions of the scene; classes (S, S) int64 (0 where none).
    """
    objects = np.zeros((GRID, GRID), np.float32)
    targets = np.zeros((GRID, GRID, 4), np.float32)
    classes = np.zeros((GRID, GRID), np.int64)
    for box, label in zip(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels).reshape(-1)):
        if label < 0:
            continue
        centre = (box[:2] + box[2:]) / 2 / scenes.SIZE * GRID  # in cells
        column, row = np.minimum(centre.astype(int), GRID - 1)
        size = (box[2:] - box[:2]) / scenes.SIZE
        objects[row, column] = 1.0  # two centres in one 8-px cell: the later object wins (rare here)
        targets[row, column] = [centre[0] - column, centre[1] - row, np.sqrt(size[0]), np.sqrt(size[1])]
        classes[row, column] = label
    return objects, targets, classes


def scene_arrays(split: str, count: int, start: int = 0) -> tuple[np.ndarray, ...]:
    """Images (N, SIZE, SIZE, 3) uint8 and their grid targets, stacked."""
    items = [scenes.scene(split, index) for index in range(start, start + count)]
    grids = [grid_targets(item.boxes, item.labels) for item in items]
    return (np.stack([item.image for item in items]), *(np.stack(part) for part in zip(*grids)))


def build_network(seed: int = SEED):
    """Image (uint8 range, SIZE x SIZE x 3) -> raw output (S, S, B*5 + C)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((scenes.SIZE, scenes.SIZE, 3), name="image")
    x = scene_detectors.backbone(inputs, WIDTHS)
    for index in range(2):
        x = keras.layers.Conv2D(HEAD_WIDTH, 3, padding="same", use_bias=False, name=f"head_{index}")(x)
        x = keras.layers.BatchNormalization(name=f"head_{index}_bn")(x)
        x = keras.layers.ReLU()(x)
    # Objectness starts near OBJECTNESS_PRIOR (Lin et al., focal loss paper, sec. 4.1): almost every
    # predictor sees background, and starting at 0.5 would spend the first steps only on pushing it down.
    bias = np.zeros(BOXES_PER_CELL * 5 + NUM_CLASSES, np.float32)
    bias[4 : BOXES_PER_CELL * 5 : 5] = np.log(OBJECTNESS_PRIOR / (1 - OBJECTNESS_PRIOR))
    outputs = keras.layers.Conv2D(
        BOXES_PER_CELL * 5 + NUM_CLASSES, 1, name="grid", bias_initializer=keras.initializers.Constant(bias)
    )(x)
    return keras.Model(inputs, outputs, name="yolo")


def decode_grid(raw):
    """Raw output (N, S, S, B*5 + C) -> boxes (N, S, S, B, 4) normalized corners, objectness (N, S, S, B),
    class probabilities (N, S, S, C); works on numpy arrays and tensors."""
    import tensorflow as tf

    raw = tf.convert_to_tensor(raw, tf.float32)
    per_box = tf.reshape(
        raw[..., : BOXES_PER_CELL * 5], tf.concat([tf.shape(raw)[:3], [BOXES_PER_CELL, 5]], 0)
    )
    squashed = tf.sigmoid(per_box)
    return _corners(squashed[..., :4]), squashed[..., 4], tf.nn.softmax(raw[..., BOXES_PER_CELL * 5 :])


def _corners(parameters):
    """(..., S, S, [B,] 4) x, y in-cell offsets and sqrt w, sqrt h -> corner boxes as fractions of the scene."""
    import tensorflow as tf

    cells = tf.range(GRID, dtype=tf.float32)
    shape = [GRID, GRID, 1] if len(parameters.shape) == 5 else [GRID, GRID]
    column = tf.reshape(tf.tile(cells[None, :], [GRID, 1]), shape)
    row = tf.reshape(tf.tile(cells[:, None], [1, GRID]), shape)
    centre_x = (column + parameters[..., 0]) / GRID
    centre_y = (row + parameters[..., 1]) / GRID
    width, height = tf.square(parameters[..., 2]), tf.square(parameters[..., 3])
    return tf.stack(
        [centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2], -1
    )


def _iou(first, second):
    import tensorflow as tf

    top_left = tf.maximum(first[..., :2], second[..., :2])
    bottom_right = tf.minimum(first[..., 2:], second[..., 2:])
    intersection = tf.reduce_prod(tf.maximum(bottom_right - top_left, 0.0), -1)
    area = lambda box: tf.reduce_prod(tf.maximum(box[..., 2:] - box[..., :2], 0.0), -1)  # noqa: E731
    return intersection / tf.maximum(area(first) + area(second) - intersection, 1e-9)


def yolo_loss(raw, objects, targets, classes):
    """The YOLO v1 loss (module docstring) averaged over the batch; also returns its four parts."""
    import tensorflow as tf

    raw, objects, targets = (tf.convert_to_tensor(part, tf.float32) for part in (raw, objects, targets))
    per_box = tf.reshape(
        raw[..., : BOXES_PER_CELL * 5], tf.concat([tf.shape(raw)[:3], [BOXES_PER_CELL, 5]], 0)
    )
    squashed = tf.sigmoid(per_box)
    predicted = squashed[..., :4]  # (N, S, S, B, 4)
    objectness = squashed[..., 4]
    overlaps = _iou(_corners(predicted), _corners(targets)[..., None, :])  # (N, S, S, B)
    responsible = tf.one_hot(tf.argmax(overlaps, -1), BOXES_PER_CELL) * objects[..., None]
    batch = tf.cast(tf.shape(raw)[0], tf.float32)
    coordinates = (
        LAMBDA_COORD
        * tf.reduce_sum(responsible * tf.reduce_sum(tf.square(predicted - targets[..., None, :]), -1))
        / batch
    )
    with_object = tf.reduce_sum(responsible * tf.square(objectness - tf.stop_gradient(overlaps))) / batch
    without_object = LAMBDA_NOOBJ * tf.reduce_sum((1 - responsible) * tf.square(objectness)) / batch
    class_loss = (
        tf.reduce_sum(
            objects * tf.nn.sparse_softmax_cross_entropy_with_logits(classes, raw[..., BOXES_PER_CELL * 5 :])
        )
        / batch
    )
    return coordinates + with_object + without_object + class_loss, (
        coordinates,
        with_object,
        without_object,
        class_loss,
    )


def step_loss(network, images, objects, targets, classes):
    """`yolo_loss` of the network in training mode on uint8 scenes: what a training step minimizes."""
    import tensorflow as tf

    return yolo_loss(network(tf.cast(images, tf.float32), training=True), objects, targets, classes)


class YoloModel:
    """The trained network with its decoding: predict(images) -> detections per scene."""

    labels = scene_detectors.LABELS

    def __init__(self, network=None):
        self.network = network or build_network()

    def predict(self, images: np.ndarray, min_score: float = MIN_SCORE) -> list[metrics.ImageDetections]:
        """Detections (pixel corner boxes, confidence = objectness * class probability) per scene."""
        found = []
        for start in range(0, len(images), EVAL_BATCH):
            raw = self.network.predict_on_batch(np.asarray(images[start : start + EVAL_BATCH], np.float32))
            boxes, objectness, probabilities = (np.asarray(part) for part in decode_grid(raw))
            scores = objectness[..., None] * probabilities[:, :, :, None, :]  # (N, S, S, B, C)
            for image_boxes, image_scores in zip(boxes, scores):
                found.append(
                    _select(
                        image_boxes.reshape(-1, 4) * scenes.SIZE,
                        image_scores.reshape(-1, NUM_CLASSES),
                        min_score,
                    )
                )
        return found

    def find(self, pixels, settings, on_progress, should_stop):
        """The detection page's Detector protocol (via scene_detectors.SceneDetector)."""
        return scene_detectors.SceneDetector(self.predict).find(pixels, settings, on_progress, should_stop)


def _select(boxes: np.ndarray, scores: np.ndarray, min_score: float) -> metrics.ImageDetections:
    """(predictor, class) pairs above min_score, per-class NMS, at most MAX_DETECTIONS, best first."""
    predictor, label = np.nonzero(scores >= min_score)
    candidate_scores = scores[predictor, label]
    order = np.argsort(-candidate_scores)[: 10 * MAX_DETECTIONS]
    predictor, label, candidate_scores = predictor[order], label[order], candidate_scores[order]
    candidate_boxes = np.clip(boxes[predictor], 0, scenes.SIZE)
    kept = box_ops.class_nms(candidate_boxes, candidate_scores, label, NMS_IOU)[:MAX_DETECTIONS]
    return metrics.ImageDetections(candidate_boxes[kept], candidate_scores[kept], label[kept])


def build(weights_path: pathlib.Path) -> YoloModel:
    model = YoloModel()
    weights_io.load_float16(model.network, weights_path)
    return model


def from_source(spec, source) -> YoloModel:
    """The registry's builder (engine/core/entries.py): `build` on the committed weights, checked by the manifest."""
    from engine.core import manifest

    return build(manifest.verified(source.reference))


class YoloTask(SceneDetectorTask):
    """YOLO's part of training (engine/core/training.py runs the loop): new scenes every epoch, the YOLO
    loss; the epoch with the best validation mAP@0.5 is kept (ties go to the later epoch)."""

    name = "yolo"
    asset = WEIGHTS
    report_every = 25
    unit = "scenes"
    batch_size = BATCH_SIZE
    validation_scenes = VALIDATION_SCENES

    def __init__(
        self,
        train_scenes: int = TRAIN_SCENES,
        epochs: int = DEFAULT_EPOCHS,
        on_progress: ProgressCallback = no_progress,
    ):
        self.train_scenes, self.epochs, self.on_progress = train_scenes, epochs, on_progress
        self._step = None

    def build_inputs(self, first_epoch: int) -> None:
        super().build_inputs(first_epoch)
        self.rng = np.random.default_rng(SEED)  # the batch order

    def build_model(self) -> list:
        self.model = YoloModel(build_network(SEED))
        return [self.model.network]

    def steps_per_epoch(self) -> int:
        return self.train_scenes // BATCH_SIZE

    def batches(self, epoch: int):
        self.on_progress(
            epoch / self.epochs, f"yolo epoch {epoch + 1}: generating {self.train_scenes} new training scenes"
        )
        images, objects, targets, classes = scene_arrays(
            "train", self.train_scenes, start=epoch * self.train_scenes
        )
        order = self.rng.permutation(len(images))
        for batch in range(self.steps_per_epoch()):
            index = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
            yield images[index], objects[index], targets[index], classes[index]

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        """`size` consecutive training scenes from a random one, with their grid targets."""
        return scene_arrays("train", size, int(rng.integers(0, self.train_scenes)))

    def loss(self, batch):
        images, objects, targets, classes = batch
        return step_loss(self.model.network, images, objects, targets, classes)[0]  # the batch's mean

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self._step is None:
            self._step = _train_step_function(self.model.network, optimizer)
        loss, parts = self._step(*batch)
        return dict(
            zip(("loss", "coordinate_loss", "object_loss", "no_object_loss", "class_loss"), (loss, *parts))
        )

    def evaluate(self, weights: pathlib.Path) -> dict:
        return evaluate_model(build(weights))  # the float16 weights that get promoted

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        best = project_weights.best_epoch(history, self.monitor)
        return (
            f"python -m engine train yolo --epochs {epochs} (best of {len(history)} epochs by mAP on "
            f"{VALIDATION_SCENES} validation scenes: epoch {best['epoch']}; {self.train_scenes} new training "
            f"scenes per epoch; {self.minutes():.0f} min on 2 shared CPU cores)",
            f"test scenes ({figures['scenes']}): mAP@0.5 {figures['map50']:.4f}",
        )

    def history_file(self, figures: dict, history: list[dict]) -> dict:
        return {
            "test": figures,
            "best_epoch": project_weights.best_epoch(history, self.monitor)["epoch"],
            "minutes": round(self.minutes(), 1),
            "history": history,
        }


def _train_step_function(network, optimizer):
    import tensorflow as tf

    signature = [
        tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
        tf.TensorSpec([None, GRID, GRID], tf.float32),
        tf.TensorSpec([None, GRID, GRID, 4], tf.float32),
        tf.TensorSpec([None, GRID, GRID], tf.int64),
    ]

    @tf.function(input_signature=signature)  # traced once for the whole run
    def step(images, objects, targets, classes):
        with tf.GradientTape() as tape:
            loss, parts = step_loss(network, images, objects, targets, classes)
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, parts

    return step


def train(
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int = TRAIN_SCENES,
    max_batches: int | None = None,
    output: pathlib.Path | None = None,
    max_steps: int | None = None,
    run: str | None = None,
) -> dict:
    """Train from scratch (seed SEED) into a run folder (runs/yolo/RUN, engine/core/training.py); keep the
    epoch with the best mAP@0.5 on validation scenes; `python -m engine promote yolo RUN` commits it.

    Args:
        epochs: default DEFAULT_EPOCHS; Adam's learning rate is cosine-decayed to zero over them.
        train_scenes: how many multi-object training scenes each epoch sees (new ones every epoch).
        max_steps (or its older name max_batches): stop each epoch after this many batches (smoke tests;
            nothing is saved).
        output: also copy the float16 weights there.
        run: the run folder's name (default: the start time).
    Returns:
        The per-epoch history and, once finalized, the test figures of the best epoch (float16 weights),
        the run folder and the promote command.
    """
    epochs = epochs or DEFAULT_EPOCHS
    task = YoloTask(train_scenes, epochs, on_progress)
    result = training.train(
        task,
        epochs,
        schedules.cosine(LEARNING_RATE),
        output=output,
        run=run,
        max_steps=max_steps if max_steps is not None else max_batches,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    return {**result, "minutes": task.minutes()} if "run" in result else result


def evaluate_model(model: YoloModel, count: int = scenes.TEST_SCENES) -> dict:
    """mAP@0.5 on the first `count` test scenes (scene_detectors.evaluate) and ms per scene."""
    images = np.stack([scenes.scene("test", index).image for index in range(count)])
    model.predict(images[:1])  # warm-up: the first call builds the graph
    started = time.perf_counter()
    model.predict(images)
    milliseconds = (time.perf_counter() - started) * 1000 / count
    return {**scene_detectors.evaluate(model.predict, count), "ms_per_scene": round(milliseconds, 2)}


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights.
configs.register("yolo", configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
