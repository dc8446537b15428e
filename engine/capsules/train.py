"""Training the CapsNet and its baseline CNN on MNIST.

Both are trained the same way (paper, sec. 4): Adam, learning rate decayed each epoch, images
shifted by up to 2 pixels in each direction as the only augmentation, batches of 128, on the 50,000
training digits; the 10,000 validation digits pick the best epoch; the 10,000 test digits are
touched only for the reported figures (engine/capsules/evaluation.py: test accuracy and overlapping
pairs). The Trainer (engine/core/training.py) runs the epochs into runs/NAME/RUN/ with a checkpoint
after each, so a stopped run resumes where it was (`--resume`); `python -m engine promote NAME RUN`
puts the float16 weights under assets/. The models are in engine/capsules/model.py.
"""

from __future__ import annotations

import pathlib

import numpy as np

from engine.capsules import evaluation
from engine.capsules import model as capsnet
from engine.core import assets, configs, manifest, runs, schedules, training, weights_io
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.core.registry import PROJECT_ASSETS
from engine.data import mnist

WEIGHTS = {"capsnet": "capsnet/capsnet.npz", "capsnet-baseline": "capsnet/baseline_cnn.npz"}
CHECKPOINTS = (
    assets.cache_dir() / "train"
)  # where checkpoints were kept before runs/ (a --resume still reads them)
DEFAULT_EPOCHS = 8
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
LEARNING_RATE_DECAY = 0.9  # multiplied in after every epoch
MAX_SHIFT = 2  # pixels, the paper's only augmentation


def per_example_loss(name: str, model, images, one_hot):
    """The training loss of each image (N,) and the class scores (N, 10), in training mode.

    CapsNet: margin loss + RECONSTRUCTION_WEIGHT x the decoder's squared error, the decoder reading
    the true class's capsule (paper, sec. 4.1); baseline: cross-entropy.
    """
    import tensorflow as tf

    if name == "capsnet":
        capsules = model.encoder(images, training=True)
        lengths = tf.sqrt(tf.reduce_sum(tf.square(capsules), -1) + capsnet.EPSILON)
        masked = tf.reshape(capsules * one_hot[..., None], (-1, capsnet.NUM_CLASSES * capsnet.DIGIT_DIM))
        reconstruction = model.decoder(masked, training=True)
        return (
            capsnet.margin_loss(one_hot, lengths)
            + capsnet.RECONSTRUCTION_WEIGHT
            * tf.reduce_sum(tf.square(reconstruction - images), axis=[1, 2, 3])
        ), lengths
    predicted = model.network(images, training=True)
    return tf.keras.losses.categorical_crossentropy(one_hot, predicted), predicted


def _train_step_function(name: str, model, optimizer):
    import tensorflow as tf

    variables = [v for part in model.parts for v in part.trainable_variables]
    signature = [tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([None, 10], tf.float32)]

    @tf.function(input_signature=signature)  # traced once: one graph for the whole run
    def step(images, one_hot):
        with tf.GradientTape() as tape:
            losses, predicted = per_example_loss(name, model, images, one_hot)
            loss = tf.reduce_mean(losses)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        correct = tf.reduce_sum(tf.cast(tf.argmax(predicted, -1) == tf.argmax(one_hot, -1), tf.float32))
        return loss, correct

    return step


class CapsNetTask(training.Task):
    """What training `name` needs; the Trainer (engine/core/training.py) runs its epochs."""

    monitor = "validation_accuracy"  # best.npz on >=: ties go to the later epoch
    unit = "images"
    batch_size = BATCH_SIZE

    def __init__(self, name: str, seed: int = 0):
        self.name, self.seed, self.asset = name, seed, WEIGHTS[name]
        self.legacy_checkpoints = CHECKPOINTS / name  # the cache's checkpoints from before run folders

    def build_inputs(self, first_epoch: int) -> None:
        self.data = mnist.load_mnist()
        self.rng = np.random.default_rng(self.seed + first_epoch)  # a resumed run draws new batches

    def build_model(self) -> list:
        self.model, self.step = capsnet.build(self.name), None
        return self.model.parts

    def steps_per_epoch(self) -> int:
        return len(self.data.train.labels) // BATCH_SIZE

    def batches(self, epoch: int):
        order = self.rng.permutation(len(self.data.train.labels))
        for batch in range(self.steps_per_epoch()):
            index = order[batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
            yield self._batch(index, self.rng)

    def _batch(self, index: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Training digits `index`, shifted (the only augmentation), and their one-hot labels."""
        shifted = evaluation.shift_images(self.data.train.images[index], rng, MAX_SHIFT)
        return capsnet.to_input(shifted), np.eye(10, dtype=np.float32)[self.data.train.labels[index]]

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        return self._batch(rng.integers(0, len(self.data.train.labels), size), rng)

    def loss(self, batch):
        return per_example_loss(self.name, self.model, *batch)[0]  # what the step averages

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self.step is None:
            self.step = _train_step_function(self.name, self.model, optimizer)
        loss, correct = self.step(*batch)
        return {"loss": float(loss), "train_accuracy": float(correct) / len(batch[1])}

    def validate(self) -> dict[str, float]:
        return {"validation_accuracy": evaluation.accuracy(self.model, self.data.validation)}

    def evaluate(self, weights: pathlib.Path) -> dict:
        stored = capsnet.build(self.name)
        weights_io.load_float16(stored.parts, weights)
        return evaluation.evaluate_model(stored)

    def outputs(self, run: runs.Run, figures: dict, history: list[dict], epochs: int) -> list[runs.Output]:
        # The log beside the weights lets a later --resume on another machine continue from them.
        return [
            *super().outputs(run, figures, history, epochs),
            runs.Output(_history_path(self.name).relative_to(PROJECT_ASSETS).as_posix(), "history.json"),
        ]

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        best = manifest.best_epoch(history)
        timed = [entry["seconds"] for entry in history if "seconds" in entry]  # lost logs have no time
        untimed = (
            f", {len(history) - len(timed)} more epochs whose time was not logged"
            if len(timed) < len(history)
            else ""
        )
        return (
            f"python -m engine train {self.name} --epochs {epochs or len(history)} (best of "
            f"{len(history)} epochs on validation: epoch {best['epoch']}; "
            f"{sum(timed) / 60:.0f} min for {len(timed)} epochs on 2 shared CPU cores{untimed})",
            f"MNIST test accuracy {figures['test_accuracy']:.4f}; overlapping pairs, both digits in the "
            f"top 2: {figures['overlapping_pair_accuracy']:.4f} ({figures['overlapping_pairs']} pairs)",
        )


def train(
    name: str = "capsnet",
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    seed: int = 0,
    max_batches: int | None = None,
    output: pathlib.Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    run: str | None = None,
) -> dict:
    """Train `name` ("capsnet" or "capsnet-baseline") from scratch, or resume it, into runs/NAME/RUN/.

    Args:
        epochs: total epochs (default DEFAULT_EPOCHS).
        resume: continue towards `epochs` from the latest run's checkpoint or, on a machine without one,
            from the committed weights and their history (assets/capsnet/).
        max_steps: stop each epoch after this many batches and write nothing (smoke tests only);
            `max_batches` is its old name.
        output: a copy of the float16 weights (`python -m engine promote` puts them under assets/).
        run: the run folder's name (default: the start time; with `resume`, the latest run).
    Returns:
        Per-epoch history and the test figures of the best epoch, as measured on the float16 weights.
    """
    return training.train(
        CapsNetTask(name, seed),
        epochs or DEFAULT_EPOCHS,
        schedules.exponential(LEARNING_RATE, LEARNING_RATE_DECAY),
        output=output,
        resume=resume,
        run=run,
        max_steps=max_steps if max_steps is not None else max_batches,
        on_progress=on_progress,
        should_stop=should_stop,
    )


def _history_path(name: str) -> pathlib.Path:
    return (PROJECT_ASSETS / WEIGHTS[name]).with_suffix(".history.json")


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config; the committed weights are run1's (`python -m engine configs capsnet`).
for _name in ("capsnet", "capsnet-baseline"):
    configs.register(_name, configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
    configs.register(
        _name,
        "run1",
        configs.TrainerDefaults(12),
        note="the committed weights: 12 epochs of today's settings, resumed once from a checkpoint "
        "(epoch 6, capsnet 7) with the step count restored and a new Adam state",
    )
