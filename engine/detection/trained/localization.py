"""Classification + localization on single-object scenes: one CNN, two heads, L = a*Lc + (1-a)*Lr.

The chapter's first step from classification towards detection (as in Sermanet et al., "OverFeat:
Integrated Recognition, Localization and Detection using Convolutional Networks", ICLR 2014): a
classifier gets a second head that regresses the object's box. The classification head is a softmax
over the 16 scene classes trained with cross-entropy (Lc); the regression head outputs the box centre
x, y and its width and height, each divided by the scene side so they lie in [0, 1], trained with the
mean squared error (Lr). The weight `a` in L = a*Lc + (1-a)*Lr trades one task against the other;
three models that differ only in `a` (0.1, 0.5, 0.9: same seed, data, epochs) show the trade-off.

Both heads are 1 x 1 convolutions over the 12 x 12 feature map, so every cell proposes a class
distribution and a box (its centre within MAX_CENTRE_OFFSET cells of the cell), and a third 1 x 1
convolution gives each cell an attention logit. Global pooling weighted by the softmax of these
logits over the cells (attention pooling, as in Ilse et al., "Attention-based Deep Multiple Instance
Learning", ICML 2018) makes the image's class probabilities and its one box. Lc is the cross-entropy
of the pooled probabilities; Lr is the squared error of the cells' boxes weighted by the attention
(a mixture of experts, Jacobs et al. 1991: every cell learns to point at the object, and attention
moves to the cells that do it best), an upper bound of the pooled box's squared error. Two earlier
versions did not learn boxes in the few hundred steps a shared CPU allows (mean IoU stayed near
0.2, what a constant box scores): plain global average pooling, which forgets where the features
were, and the MSE of the pooled box alone.

What the short runs show (6 epochs of 4,000 scenes each, figures in the .history.json files): the
box error is small in these units (a constant box scores MSE 0.026, against a cross-entropy of 2.77
at chance), so with a = 0.5 or 0.9 the classification gradient drives the shared layers, and
classification from the pooled cells sits on a chance-level plateau for most of the run; with
a = 0.1 the box loss first teaches the attention where the object is, after which classification
learns too. A longer run would let the larger a catch up on accuracy.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from engine.core import configs, runs, schedules, training, weights_io
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.core.registry import PROJECT_ASSETS
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from engine.ops import boxes as box_ops
from engine.ops import metrics

ALPHAS = (0.1, 0.5, 0.9)  # the weights of the classification loss compared
WEIGHTS = {alpha: f"scene_detection/classloc_a{alpha}.npz" for alpha in ALPHAS}
WIDTHS = (12, 24, 48)  # backbone widths per stride level (scene_detectors.backbone)
HEAD_WIDTH = 64  # two 3 x 3 convolutions on the 12 x 12 map before the per-cell heads
MAX_CENTRE_OFFSET = 3.0  # a cell's predicted box centre lies within this many cells of the cell's own centre
TRAIN_SCENES = 4000  # single-object training scenes, generated once per run
VALIDATION_SCENES = 200  # pick the best epoch on these (never on test scenes)
DEFAULT_EPOCHS = 6
BATCH_SIZE = 64
LEARNING_RATE = 3e-3  # Adam, cosine-decayed to zero over the run
SEED = 0  # the same initial weights and batch order for every a
EVAL_BATCH = 100


def box_targets(boxes: np.ndarray) -> np.ndarray:
    """Corner boxes in pixels (N, 4) -> (N, 4) centre x, centre y, width, height divided by SIZE."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.concatenate([centre, boxes[:, 2:] - boxes[:, :2]], axis=1) / scenes.SIZE


def corner_boxes(targets: np.ndarray) -> np.ndarray:
    """Inverse of box_targets: normalized (x, y, w, h) -> corner boxes in pixels."""
    targets = np.asarray(targets, np.float64).reshape(-1, 4) * scenes.SIZE
    half = targets[:, 2:] / 2
    return np.clip(np.concatenate([targets[:, :2] - half, targets[:, :2] + half], axis=1), 0, scenes.SIZE)


def single_scenes(split: str, count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images uint8 (N, SIZE, SIZE, 3), class labels (N,) and normalized box targets (N, 4)."""
    items = [scenes.scene(split, index, single=True) for index in range(start, start + count)]
    return (
        np.stack([item.image for item in items]),
        np.array([item.labels[0] for item in items], np.int64),
        np.concatenate([box_targets(item.boxes) for item in items]),
    )


def build_network(seed: int = SEED):
    """The Keras model: uint8-range image -> class probabilities (16,), box (4,) in [0, 1], and for the
    loss each cell's box (cells^2, 4) and attention weight (cells^2, 1)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((scenes.SIZE, scenes.SIZE, 3), name="image")
    features = scene_detectors.backbone(inputs, WIDTHS)
    for index in range(2):  # widen the receptive field to ~61 px: single objects are up to 60 px long
        features = keras.layers.Conv2D(HEAD_WIDTH, 3, padding="same", use_bias=False, name=f"head_{index}")(
            features
        )
        features = keras.layers.BatchNormalization(name=f"head_{index}_bn")(features)
        features = keras.layers.ReLU()(features)
    cells = scenes.SIZE // scene_detectors.FEATURE_STRIDE
    centres = (np.arange(cells, dtype=np.float32) + 0.5) / cells
    grid = np.stack(np.meshgrid(centres, centres, indexing="xy"), axis=-1).reshape(
        1, cells * cells, 2
    )  # x, y

    def pool(tensors):
        """Attention-weighted global pooling of the per-cell class probabilities and boxes."""
        attention_logits, class_logits, box_raw = (
            keras.ops.reshape(tensor, (-1, cells * cells, tensor.shape[-1])) for tensor in tensors
        )
        weights = keras.ops.softmax(attention_logits, axis=1)  # (N, cells^2, 1), sums to 1 over the cells
        probabilities = keras.ops.sum(weights * keras.ops.softmax(class_logits, axis=-1), axis=1)
        centre = keras.ops.convert_to_tensor(grid) + MAX_CENTRE_OFFSET / cells * keras.ops.tanh(
            box_raw[..., :2]
        )
        boxes = keras.ops.concatenate([centre, keras.ops.sigmoid(box_raw[..., 2:])], axis=-1)
        return probabilities, keras.ops.sum(weights * boxes, axis=1), boxes, weights

    attention = keras.layers.Conv2D(1, 1, name="attention")(features)
    class_logits = keras.layers.Conv2D(len(scenes.CLASSES), 1, name="classes")(features)
    box_raw = keras.layers.Conv2D(4, 1, name="box")(features)
    outputs = keras.layers.Lambda(pool, name="pool")([attention, class_logits, box_raw])
    return keras.Model(inputs, list(outputs), name="classloc")


class LocalizationModel:
    """A trained classification + localization network and the `a` it was trained with."""

    def __init__(self, alpha: float, network=None):
        self.alpha = alpha
        self.network = network or build_network()

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (N, 16) and normalized boxes (N, 4) of uint8 scenes (N, SIZE, SIZE, 3)."""
        probabilities, boxes = [], []
        for start in range(0, len(images), EVAL_BATCH):
            found = self.network.predict_on_batch(np.asarray(images[start : start + EVAL_BATCH], np.float32))
            probabilities.append(np.asarray(found[0]))
            boxes.append(np.asarray(found[1]))
        return np.concatenate(probabilities), np.concatenate(boxes)

    def predict(self, images: np.ndarray) -> list[metrics.ImageDetections]:
        """One box per image, labelled with the most probable class; its probability is the score."""
        probabilities, boxes = self.outputs(images)
        labels = probabilities.argmax(-1)
        return [
            metrics.ImageDetections(corner_boxes(box), np.array([probability[label]]), np.array([label]))
            for probability, box, label in zip(probabilities, boxes, labels)
        ]

    def find(self, pixels, settings, on_progress, should_stop):
        """The detection page's Detector protocol (via scene_detectors.SceneDetector)."""
        return scene_detectors.SceneDetector(self.predict).find(pixels, settings, on_progress, should_stop)

    @property
    def labels(self) -> str:
        return scene_detectors.LABELS


def alpha_of(weights_path: pathlib.Path | str) -> float:
    """The `a` of a committed weight file, from its name (classloc_a0.5.npz -> 0.5)."""
    name = pathlib.Path(weights_path).name
    for alpha, relative in WEIGHTS.items():
        if pathlib.Path(relative).name == name:
            return alpha
    raise InvalidInput(
        f"{name} is not a classification + localization weight file; expected one of "
        f"{', '.join(pathlib.Path(relative).name for relative in WEIGHTS.values())}."
    )


def build(weights_path: pathlib.Path) -> LocalizationModel:
    """The model of a weight file (its `a` read from the file name), weights loaded."""
    model = LocalizationModel(alpha_of(weights_path))
    weights_io.load_float16(model.network, weights_path)
    return model


def from_source(spec, source) -> LocalizationModel:
    """The registry's builder (engine/core/entries.py): `build` on the committed weights, checked by the manifest."""
    from engine.core import manifest

    return build(manifest.verified(source.reference))


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise InvalidInput(f"The loss weight a must lie between 0 and 1, not {alpha}.")


def per_example_losses(network, images, labels, boxes, alpha: float):
    """L = a*Lc + (1-a)*Lr, Lc and Lr of each scene (N,) each, the network in training mode."""
    import tensorflow as tf

    probabilities, _, cell_boxes, weights = network(tf.cast(images, tf.float32), training=True)
    classification = tf.keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    # Lr: the squared error of each cell's box, averaged over x, y, w, h and weighted by attention
    # (module docstring); it bounds the squared error of the pooled box from above.
    regression = tf.reduce_sum(
        weights * tf.reduce_mean(tf.square(cell_boxes - boxes[:, None, :]), axis=-1, keepdims=True), axis=1
    )[:, 0]
    return alpha * classification + (1 - alpha) * regression, classification, regression


def _train_step_function(network, optimizer, alpha: float):
    import tensorflow as tf

    signature = [
        tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.uint8),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None, 4], tf.float32),
    ]

    @tf.function(input_signature=signature)  # traced once for the whole run
    def step(images, labels, boxes):
        with tf.GradientTape() as tape:
            loss, classification, regression = (
                tf.reduce_mean(part) for part in per_example_losses(network, images, labels, boxes, alpha)
            )
        variables = network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, classification, regression

    return step


def measure(model: LocalizationModel, images: np.ndarray, labels: np.ndarray, boxes: np.ndarray) -> dict:
    """Accuracy, mean box IoU and the two losses on labelled single-object scenes."""
    import keras

    probabilities, predicted = model.outputs(images)
    overlaps = paired_iou(corner_boxes(predicted), corner_boxes(boxes))
    classification = float(np.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities)))
    regression = float(np.mean(np.square(predicted - boxes)))
    return {
        "accuracy": float(np.mean(probabilities.argmax(-1) == labels)),
        "mean_iou": float(np.mean(overlaps)),
        "classification_loss": classification,
        "regression_loss": regression,
        "loss": model.alpha * classification + (1 - model.alpha) * regression,
    }


def paired_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of each box in `first` with the box in the same row of `second`: (N,)."""
    top_left, bottom_right = np.maximum(first[:, :2], second[:, :2]), np.minimum(first[:, 2:], second[:, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    union = box_ops.areas(first) + box_ops.areas(second) - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


class LocalizationTask(training.Task):
    """One `a`'s network on generated single-object scenes; the Trainer (engine/core/training.py) runs it."""

    monitor = "validation_loss"  # the objective trained on, a*Lc + (1-a)*Lr, on validation scenes
    higher_is_better = False  # kept on <=: ties go to the later epoch
    unit = "scenes"
    batch_size = BATCH_SIZE

    def __init__(
        self, alpha: float, train_scenes: int = TRAIN_SCENES, on_progress: ProgressCallback = no_progress
    ):
        _check_alpha(alpha)
        self.alpha, self.train_scenes, self.on_progress = alpha, train_scenes, on_progress
        self.name, self.asset = f"classloc-a{alpha}", WEIGHTS.get(alpha)

    def build_inputs(self, first_epoch: int) -> None:
        self.started = time.perf_counter()
        self.on_progress(0.0, f"classloc a={self.alpha}: generating {self.train_scenes} training scenes")
        self.images, self.labels, self.boxes = single_scenes("train", self.train_scenes)
        self.validation = single_scenes("validation", VALIDATION_SCENES)
        self.rng = np.random.default_rng(SEED)  # the same batch order for every a

    def build_sampler(self) -> None:
        """Nothing to load: `sample` generates its scenes as it draws them."""

    def build_model(self) -> list:
        self.model, self.step = LocalizationModel(self.alpha, build_network(SEED)), None
        return [self.model.network]

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        """`size` consecutive training scenes from a random one."""
        return single_scenes("train", size, int(rng.integers(0, self.train_scenes)))

    def loss(self, batch):
        return per_example_losses(self.model.network, *batch, self.alpha)[0]  # what the step averages

    def steps_per_epoch(self) -> int:
        return len(self.images) // BATCH_SIZE

    def batches(self, epoch: int):
        order = self.rng.permutation(len(self.images))
        for batch in range(self.steps_per_epoch()):
            index = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
            yield self.images[index], self.labels[index], self.boxes[index]

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self.step is None:
            self.step = _train_step_function(self.model.network, optimizer, self.alpha)
        loss, classification, regression = self.step(*batch)
        return {
            "loss": float(loss),
            "classification_loss": float(classification),
            "regression_loss": float(regression),
        }

    def validate(self) -> dict[str, float]:
        figures = measure(self.model, *self.validation)
        return {
            "validation_loss": figures["loss"],
            "validation_accuracy": figures["accuracy"],
            "validation_mean_iou": figures["mean_iou"],
        }

    def evaluate(self, weights: pathlib.Path) -> dict:
        stored = LocalizationModel(self.alpha)
        weights_io.load_float16(stored.network, weights)
        return evaluate_model(stored)  # the float16 weights we commit

    def outputs(self, run: runs.Run, figures: dict, history: list[dict], epochs: int) -> list[runs.Output]:
        if self.asset is None:  # an `a` with no committed file: the run is measured, not promoted
            return []
        minutes = (time.perf_counter() - self.started) / 60
        best = [entry for entry in history if entry["kept"]][-1]
        # The history file beside the weights feeds `tradeoff_table` (the page's table).
        (run.path / "history-figures.json").write_text(
            json.dumps(
                {
                    "a": self.alpha,
                    "test": figures,
                    "best_epoch": best["epoch"],
                    "minutes": round(minutes, 1),
                    "history": history,
                },
                indent=1,
            )
        )
        how = (
            f"python -m engine train classloc-a{self.alpha} --epochs {epochs} (best of {len(history)} "
            f"epochs on {VALIDATION_SCENES} validation scenes: epoch {best['epoch']}; {self.train_scenes} training "
            f"scenes; {minutes:.0f} min on 2 shared CPU cores)"
        )
        metric = (
            f"single-object test scenes ({figures['scenes']}): accuracy {figures['accuracy']:.4f}, "
            f"mean box IoU {figures['mean_iou']:.4f} (a = {self.alpha})"
        )
        return [
            runs.Output(self.asset, "weights.npz", how, metric),
            runs.Output(
                _history_path(self.alpha).relative_to(PROJECT_ASSETS).as_posix(), "history-figures.json"
            ),
        ]


def train(
    alpha: float = 0.5,
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int = TRAIN_SCENES,
    max_batches: int | None = None,
    output: pathlib.Path | None = None,
    max_steps: int | None = None,
    run: str | None = None,
) -> dict:
    """Train the network for one `a` from scratch (seed SEED) into runs/classloc-aA/RUN/, keep the best epoch
    on validation scenes (by the loss trained on), store it float16 and measure it on the test scenes
    (`python -m engine promote classloc-aA RUN` puts it under assets/ with its manifest line).

    Args:
        alpha: weight of the classification loss, a in L = a*Lc + (1-a)*Lr.
        epochs: default DEFAULT_EPOCHS; the learning rate is cosine-decayed from LEARNING_RATE to zero.
        train_scenes: how many single-object training scenes to generate.
        max_steps: stop each epoch after this many batches (smoke tests; nothing is saved; old name `max_batches`).
        output: a copy of the float16 weights.
    Returns:
        The per-epoch history and the test figures of the best epoch (float16 weights).
    """
    task = LocalizationTask(alpha, train_scenes, on_progress)
    result = training.train(
        task,
        epochs or DEFAULT_EPOCHS,
        schedules.cosine(LEARNING_RATE),
        output=output,
        run=run,
        max_steps=max_steps if max_steps is not None else max_batches,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    extra = {"minutes": (time.perf_counter() - task.started) / 60} if "run" in result else {}
    return {"a": alpha, **result, **extra}


def _history_path(alpha: float) -> pathlib.Path:
    return (PROJECT_ASSETS / WEIGHTS[alpha]).with_suffix(".history.json")


def evaluate_model(model: LocalizationModel, count: int = scenes.TEST_SCENES) -> dict:
    """Accuracy and mean box IoU on the first `count` single-object test scenes, and ms per scene."""
    images, labels, boxes = single_scenes("test", count)
    model.outputs(images[:1])  # warm-up: the first call builds the graph
    started = time.perf_counter()
    figures = measure(model, images, labels, boxes)
    milliseconds = (time.perf_counter() - started) * 1000 / count
    return {
        "accuracy": figures["accuracy"],
        "mean_iou": figures["mean_iou"],
        "a": model.alpha,
        "scenes": count,
        "ms_per_scene": round(milliseconds, 2),
    }


def tradeoff_table() -> list[dict]:
    """The measured trade-off, one row per `a` that has committed weights, read from the history files.

    Returns:
        [{"a", "accuracy", "mean_iou", "scenes", "best_epoch", "epochs", "metric"}], a ascending;
        "metric" is the manifest's line for the file ("not trained yet" when it has none).
    """
    rows = []
    for alpha in ALPHAS:
        path = _history_path(alpha)
        if not path.exists():
            continue
        stored = json.loads(path.read_text())
        rows.append(
            {
                "a": stored["a"],
                "accuracy": stored["test"]["accuracy"],
                "mean_iou": stored["test"]["mean_iou"],
                "scenes": stored["test"]["scenes"],
                "best_epoch": stored["best_epoch"],
                "epochs": len(stored["history"]),
                "metric": scene_detectors.metric_of(WEIGHTS[alpha]),
            }
        )
    return rows


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights (one model per alpha).
for _alpha in (0.1, 0.5, 0.9):
    configs.register(f"classloc-a{_alpha}", configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
