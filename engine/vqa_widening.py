"""Widening a trained Relation Network's g so that it still computes what it did (Net2WiderNet).

Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge Transfer", ICLR 2016, sec. 2.2:
a layer of n units becomes one of n' > n by copying units, each new unit a copy of a random old one,
and the next layer divides the weights it reads from each copy by the number of copies, so every sum it
forms is unchanged. Here every layer of g (G_UNITS, all of one width) is widened that way, and so is the
normalised pair sum that f reads (each of its features belongs to one unit of g's last layer). A copy's
incoming weights get a little noise (NOISE of their layer's standard deviation): without it, copies
receive the same gradients and stay copies forever.
"""

from __future__ import annotations

import pathlib

import numpy as np

from engine import weights_io
from engine.errors import ModelUnavailable

NOISE = 0.01  # of each kernel's standard deviation, on the new units' incoming weights
G_LAYERS = ("g1_first", "g1_second", "g1_question", "g2", "g3")  # the layers whose units are copied
READERS = ("g2", "g3", "f1")  # layers whose kernel rows read g's (copied) units


def stored_g_width(path: pathlib.Path) -> int:
    """The width of g in a stored Relation Network (its g2 kernel's rows)."""
    with np.load(path) as stored:
        keys = [key for key in stored.files if key.endswith(":g2/kernel")]
        if not keys:
            raise ModelUnavailable(f"{pathlib.Path(path).name} holds no Relation Network (no g2 layer).")
        return int(stored[keys[0]].shape[0])


def widen(model, path: pathlib.Path, rng: np.random.Generator, noise: float = NOISE) -> None:
    """Load the narrower Relation Network stored at `path` into `model`, whose g is wider, function-preservingly
    (up to the noise on the copies; exactly with noise=0)."""
    arrays = weights_io.stored_arrays(path)
    if len(arrays) != len(model.weights):
        raise ModelUnavailable(f"{pathlib.Path(path).name} is not a Relation Network of this architecture.")
    old = arrays["g2/kernel"].shape[0]
    new = model.get_layer("head").get_layer("g2").units
    if new < old:
        raise ModelUnavailable(f"{pathlib.Path(path).name} has a wider g ({old}) than this model ({new}).")
    source = np.concatenate([np.arange(old), rng.integers(0, old, new - old)])  # new unit -> the old unit it copies
    copies = np.bincount(source, minlength=old)[source].astype(np.float32)  # how many units share its original
    for (key, values), variable in zip(arrays.items(), model.weights):  # by position, as weights_io.load_float16
        layer, name = key.split("/", 1)
        if layer in G_LAYERS or layer == "sum_norm":
            values = values[..., source]  # each new unit (column, or per-feature vector) is its original's copy
            if name == "kernel" and noise:
                values[..., old:] += rng.normal(0, noise * values.std(), values[..., old:].shape).astype(np.float32)
        if layer in READERS and name == "kernel":
            values = values[source] / copies[:, None]  # each copy passes on its share of the original's weight
        if tuple(variable.shape) != values.shape:
            raise ModelUnavailable(f"{pathlib.Path(path).name}: {key} does not fit the widened Relation Network.")
        variable.assign(values)
