"""Training and evaluating the CapsNet and its baseline CNN on MNIST.

Both are trained the same way (paper, sec. 4): Adam, learning rate decayed each epoch, images
shifted by up to 2 pixels in each direction as the only augmentation, batches of 128, on the 50,000
training digits; the 10,000 validation digits pick the best epoch; the 10,000 test digits are
touched only for the reported figures. Each epoch ends with a checkpoint, so a run that is stopped
resumes where it was (`--resume` is automatic when a checkpoint exists).

Overlapping digits (after the paper's MultiMNIST, sec. 6): pairs of test digits of different
classes, each shifted by up to 4 pixels, merged by pixel-wise maximum. A model trained on single
digits "gets" a pair when its two highest scores are the two digits.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from engine.core import assets
from engine.capsules import model as capsnet
from engine.data import mnist
from engine.core import manifest
from engine.core import weights_io
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.core.registry import PROJECT_ASSETS

WEIGHTS = {"capsnet": "capsnet/capsnet.npz", "capsnet-baseline": "capsnet/baseline_cnn.npz"}
CHECKPOINTS = assets.cache_dir() / "train"  # per-epoch float32 checkpoints and logs, outside git
DEFAULT_EPOCHS = 8
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
LEARNING_RATE_DECAY = 0.9  # multiplied in after every epoch
MAX_SHIFT = 2  # pixels, the paper's only augmentation
PAIR_SHIFT = 4  # pixels each digit of an overlapping pair may move
EVAL_BATCH = 500


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., None]


def shift_images(images: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Move each image by a random (dy, dx) in [-max_shift, max_shift], filling with black."""
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    offsets = rng.integers(0, 2 * max_shift + 1, size=(len(images), 2))
    rows = offsets[:, 0, None] + np.arange(28)[None]
    cols = offsets[:, 1, None] + np.arange(28)[None]
    return padded[np.arange(len(images))[:, None, None], rows[:, :, None], cols[:, None, :]]


def overlapping_pairs(split: mnist.DigitSplit, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` merged pairs of different digits and their two labels, deterministic by seed."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(split.labels), count)
    second = rng.integers(0, len(split.labels), count)
    clash = split.labels[first] == split.labels[second]
    while clash.any():  # redraw partners of the same class
        second[clash] = rng.integers(0, len(split.labels), clash.sum())
        clash = split.labels[first] == split.labels[second]
    merged = np.maximum(shift_images(split.images[first], rng, PAIR_SHIFT),
                        shift_images(split.images[second], rng, PAIR_SHIFT))
    return merged, np.stack([split.labels[first], split.labels[second]], axis=1)


class CapsNetModel:
    """Encoder + decoder, with the inference views the page needs."""

    def __init__(self):
        self.encoder = capsnet.build_encoder()
        self.decoder = capsnet.build_decoder()

    @property
    def parts(self) -> list:
        return [self.encoder, self.decoder]

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Capsule lengths (N, 10) for uint8 digits (N, 28, 28)."""
        out = []
        for start in range(0, len(images), EVAL_BATCH):
            capsules = self.encoder.predict_on_batch(to_input(images[start:start + EVAL_BATCH]))
            out.append(np.linalg.norm(capsules, axis=-1))
        return np.concatenate(out)


class BaselineModel:
    def __init__(self):
        self.network = capsnet.build_baseline_cnn()

    @property
    def parts(self) -> list:
        return [self.network]

    def scores(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self.network.predict_on_batch(to_input(images[start:start + EVAL_BATCH]))
                               for start in range(0, len(images), EVAL_BATCH)])


def build(name: str):
    return CapsNetModel() if name == "capsnet" else BaselineModel()


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
        return (capsnet.margin_loss(one_hot, lengths) + capsnet.RECONSTRUCTION_WEIGHT
                * tf.reduce_sum(tf.square(reconstruction - images), axis=[1, 2, 3])), lengths
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


def train(name: str = "capsnet", epochs: int | None = None, on_progress: ProgressCallback = no_progress,
          should_stop: StopCheck = never_stop, seed: int = 0, max_batches: int | None = None,
          output: pathlib.Path | None = None, resume: bool = False) -> dict:
    """Train `name` ("capsnet" or "capsnet-baseline") from scratch, or resume it.

    Args:
        epochs: total epochs (default DEFAULT_EPOCHS).
        resume: continue towards `epochs` from the last checkpoint in the cache or, on a machine
            without one, from the committed weights and their history (assets/capsnet/).
        max_batches: stop each epoch after this many batches (smoke tests only).
        output: where the float16 weights go (default: the committed file under assets/).
    Returns:
        Per-epoch history and the test figures of the best epoch, as measured.
    """
    import keras

    epochs = epochs or DEFAULT_EPOCHS
    data = mnist.load_mnist()
    model = build(name)
    steps_per_epoch = len(data.train.labels) // BATCH_SIZE
    schedule = keras.optimizers.schedules.ExponentialDecay(LEARNING_RATE, steps_per_epoch, LEARNING_RATE_DECAY,
                                                           staircase=True)
    optimizer = keras.optimizers.Adam(schedule)
    checkpoint_dir = CHECKPOINTS / name
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    log_path = checkpoint_dir / "history.json"
    committed = PROJECT_ASSETS / WEIGHTS[name]
    if resume and not log_path.exists() and committed.exists() and _history_path(name).exists():
        committed_history = json.loads(_history_path(name).read_text())
        # The committed weights are the best epoch's, so the run goes on from that epoch.
        manifest.seed_cache(committed, checkpoint_dir, committed_history,
                                   manifest.best_epoch(committed_history)["epoch"])
    if not resume and max_batches is None:  # a smoke run saves nothing, so it must not drop the log either
        log_path.unlink(missing_ok=True)
    history = json.loads(log_path.read_text()) if log_path.exists() and max_batches is None else []
    step = _train_step_function(name, model, optimizer)
    if history:  # resume: weights of the last finished epoch, optimizer step count restored
        weights_io.load_float16(model.parts, checkpoint_dir / "last.npz")
        optimizer.iterations.assign(len(history) * steps_per_epoch)
    rng = np.random.default_rng(seed + len(history))
    for epoch in range(len(history), epochs):
        started = time.perf_counter()
        order = rng.permutation(len(data.train.labels))
        total_loss, total_correct, seen = 0.0, 0.0, 0
        batches = steps_per_epoch if max_batches is None else min(max_batches, steps_per_epoch)
        for batch in range(batches):
            if should_stop():
                break
            index = order[batch * BATCH_SIZE:(batch + 1) * BATCH_SIZE]
            images = to_input(shift_images(data.train.images[index], rng, MAX_SHIFT))
            one_hot = np.eye(10, dtype=np.float32)[data.train.labels[index]]
            loss, correct = step(images, one_hot)
            total_loss += float(loss) * len(index)
            total_correct += float(correct)
            seen += len(index)
            if batch % 20 == 0:
                on_progress((epoch + batch / batches) / epochs,
                            f"{name} epoch {epoch + 1}/{epochs}, batch {batch}/{batches}, "
                            f"loss {total_loss / seen:.4f}, train accuracy {total_correct / seen:.4f}")
        if should_stop() or seen == 0:
            break
        validation = accuracy(model, data.validation)
        history.append({"epoch": epoch + 1, "loss": total_loss / seen, "train_accuracy": total_correct / seen,
                        "validation_accuracy": validation, "seconds": time.perf_counter() - started})
        on_progress((epoch + 1) / epochs, f"{name} epoch {epoch + 1}: validation accuracy {validation:.4f}",
                    history[-1])
        if max_batches is not None:
            continue
        weights_io.save_float16(model.parts, checkpoint_dir / "last.npz", dtype=np.float32)
        if validation >= max(entry["validation_accuracy"] for entry in history):
            weights_io.save_float16(model.parts, checkpoint_dir / "best.npz")
        log_path.write_text(json.dumps(history, indent=1))
    if max_batches is not None:
        return {"name": name, "history": history}
    return {"name": name, "history": history, **finalize(name, epochs, output)}


def finalize(name: str, epochs: int | None = None, output: pathlib.Path | None = None) -> dict:
    """Measure the best checkpoint as stored in float16, copy it under assets/ and record it."""
    checkpoint_dir = CHECKPOINTS / name
    history = json.loads((checkpoint_dir / "history.json").read_text())
    stored = build(name)
    weights_io.load_float16(stored.parts, checkpoint_dir / "best.npz")
    figures = evaluate_model(name, stored)  # on the float16 weights we commit, not the float32 ones
    target = output or PROJECT_ASSETS / WEIGHTS[name]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((checkpoint_dir / "best.npz").read_bytes())
    if output is None:
        _history_path(name).write_text(json.dumps(history, indent=1))  # lets a later --resume continue
        best = manifest.best_epoch(history)
        timed = [entry["seconds"] for entry in history if "seconds" in entry]  # lost logs have no time
        untimed = f", {len(history) - len(timed)} more epochs whose time was not logged" if len(timed) < len(history) else ""
        manifest.record(
            WEIGHTS[name], f"python -m engine train {name} --epochs {epochs or len(history)} (best of "
            f"{len(history)} epochs on validation: epoch {best['epoch']}; "
            f"{sum(timed) / 60:.0f} min for {len(timed)} epochs on 2 shared CPU cores{untimed})",
            f"MNIST test accuracy {figures['test_accuracy']:.4f}; overlapping pairs, both digits in the "
            f"top 2: {figures['overlapping_pair_accuracy']:.4f} ({figures['overlapping_pairs']} pairs)")
    return figures


def _history_path(name: str) -> pathlib.Path:
    return (PROJECT_ASSETS / WEIGHTS[name]).with_suffix(".history.json")


def accuracy(model, split: mnist.DigitSplit) -> float:
    return float(np.mean(model.scores(split.images).argmax(-1) == split.labels))


def evaluate_model(name: str, model, pairs: int = 2000) -> dict:
    data = mnist.load_mnist()
    merged, labels = overlapping_pairs(data.test, pairs)
    top_two = np.argsort(model.scores(merged), axis=-1)[:, -2:]
    both = np.mean([set(found) == set(truth) for found, truth in zip(top_two.tolist(), labels.tolist())])
    return {"test_accuracy": accuracy(model, data.test), "overlapping_pair_accuracy": float(both),
            "overlapping_pairs": pairs}
