"""The CapsNet's and its baseline's held-out figures, and the digit shifts they rest on.

MNIST test accuracy, and overlapping digits (after the paper's MultiMNIST, Sabour, Frosst & Hinton 2017,
sec. 6): pairs of test digits of different classes, each shifted by up to PAIR_SHIFT pixels, merged by
pixel-wise maximum. A model trained on single digits "gets" a pair when its two highest scores are the two
digits. `shift_images` is also the training's only augmentation (engine/capsules/train.py). Models are
read through their `scores` (engine/capsules/model.py), so this module imports no TensorFlow.
"""

from __future__ import annotations

import numpy as np

from engine.data import mnist

PAIR_SHIFT = 4  # pixels each digit of an overlapping pair may move
PAIRS = 2000  # overlapping pairs measured (seed 0)


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
    merged = np.maximum(
        shift_images(split.images[first], rng, PAIR_SHIFT),
        shift_images(split.images[second], rng, PAIR_SHIFT),
    )
    return merged, np.stack([split.labels[first], split.labels[second]], axis=1)


def accuracy(model, split: mnist.DigitSplit) -> float:
    return float(np.mean(model.scores(split.images).argmax(-1) == split.labels))


def evaluate_model(model, pairs: int = PAIRS) -> dict:
    """Test accuracy and overlapping-pair accuracy of a built model (engine/capsules/model.py)."""
    data = mnist.load_mnist()
    merged, labels = overlapping_pairs(data.test, pairs)
    top_two = np.argsort(model.scores(merged), axis=-1)[:, -2:]
    both = np.mean([set(found) == set(truth) for found, truth in zip(top_two.tolist(), labels.tolist())])
    return {
        "test_accuracy": accuracy(model, data.test),
        "overlapping_pair_accuracy": float(both),
        "overlapping_pairs": pairs,
    }
