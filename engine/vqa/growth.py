"""Growing a trained Relation Network into a larger one that still computes what it did.

Three ways of growing, each function-preserving, so a resumed run starts from the old network's answers:

- g wider (Net2WiderNet; Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge
  Transfer", ICLR 2016, sec. 2.2): a layer of n units becomes one of n' > n by copying units, each new unit
  a copy of a random old one, and the next layer divides the weights it reads from each copy by the number
  of copies, so every sum it forms is unchanged. Every layer of g (G_UNITS, all of one width) is widened
  that way, and so is the normalised pair sum that f reads (each of its features belongs to one unit of g's
  last layer). A copy's incoming weights get a little noise (NOISE of their layer's standard deviation):
  without it, copies receive the same gradients and stay copies forever.
- f wider and deeper (Net2DeeperNet, sec. 2.3, in its simplest form): a new unit of an f layer starts with
  the fresh random incoming weights the built model gave it, and every layer reads it with zero weights
  until training moves them; a new f layer starts as the identity on the units it inherits (exact after a
  ReLU, whose outputs are already >= 0).
- Coordinate channels (CoordConv; Liu et al., "An intriguing failing of convolutional neural networks and
  the CoordConv solution", NeurIPS 2018): the first convolution reads two more input channels, each
  pixel's x and y, with zero weights to start.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np

from engine.core import weights_io
from engine.core.errors import ModelUnavailable

NOISE = 0.01  # of each kernel's standard deviation, on the copied g units' incoming weights
G_LAYERS = ("g1_first", "g1_second", "g1_question", "g2", "g3")  # the layers whose units are copied
G_READERS = ("g2", "g3", "f1")  # layers whose kernel rows read g's (copied) units


def architecture(arrays: dict[str, np.ndarray]) -> dict:
    """What `grow` compares: g's width, f's layer widths, the first convolution's input channels."""
    f_layers = sorted(
        (key.split("/")[0] for key in arrays if re.fullmatch(r"f\d+/kernel", key)),
        key=lambda layer: int(layer[1:]),
    )
    if "g2/kernel" not in arrays or "conv1/kernel" not in arrays:
        raise ModelUnavailable("This weight file holds no Relation Network (no g2 or conv1 layer).")
    return {
        "g_units": int(arrays["g2/kernel"].shape[0]),
        "f_units": [int(arrays[f"{layer}/kernel"].shape[1]) for layer in f_layers],
        "input_channels": int(arrays["conv1/kernel"].shape[2]),
    }


def model_arrays(model) -> dict[str, np.ndarray]:
    return {variable.path: np.asarray(variable.numpy()) for variable in model.weights}


def stored_architecture(path: pathlib.Path) -> dict:
    return architecture(weights_io.stored_arrays(path))


def grow(model, path: pathlib.Path, rng: np.random.Generator, noise: float = NOISE) -> None:
    """Load the smaller Relation Network stored at `path` into `model` (wider g, wider or more f layers,
    coordinate channels), function-preservingly: exactly with noise=0, up to the noise on g's copies else."""
    arrays = weights_io.stored_arrays(path)
    old, new = architecture(arrays), architecture(model_arrays(model))
    f_old, f_new = old["f_units"], new["f_units"]
    if (
        new["g_units"] < old["g_units"]
        or len(f_new) < len(f_old)
        or new["input_channels"] < old["input_channels"]
        or any(n < o for n, o in zip(f_new, f_old))
    ):
        raise ModelUnavailable(
            f"{pathlib.Path(path).name} is larger than this Relation Network ({old} > {new})."
        )
    g_old, g_new = old["g_units"], new["g_units"]
    source = np.concatenate(
        [np.arange(g_old), rng.integers(0, g_old, g_new - g_old)]
    )  # new g unit -> its original
    copies = np.bincount(source, minlength=g_old)[source].astype(
        np.float32
    )  # how many units share its original
    # Units each f layer inherits: a stored layer its own; a new layer those of the last stored one (identity).
    inherited = {f"f{index + 1}": f_old[min(index, len(f_old) - 1)] for index in range(len(f_new))}
    previous = {f"f{index}": f"f{index - 1}" for index in range(2, len(f_new) + 1)} | {
        "answer": f"f{len(f_new)}"
    }
    for variable in model.weights:
        layer, name = variable.path.split("/", 1)
        fresh = np.asarray(variable.numpy())
        values = arrays.get(variable.path)
        if values is None and not (layer in inherited and name in ("kernel", "bias")):
            raise ModelUnavailable(
                f"{pathlib.Path(path).name} has no {variable.path} and it cannot be grown."
            )
        if layer in G_LAYERS or layer == "sum_norm":
            values = values[
                ..., source
            ]  # each new unit (column, or per-feature vector) is its original's copy
            if name == "kernel" and noise:
                values[..., g_old:] += rng.normal(0, noise * values.std(), values[..., g_old:].shape).astype(
                    np.float32
                )
        if layer in G_READERS and name == "kernel":
            values = (
                values[source] / copies[:, None]
            )  # each copy passes on its share of the original's weight
        if layer == "conv1" and name == "kernel":
            values = embed(values, fresh.shape)  # new input channels read 0
        if layer in inherited or layer == "answer":
            values = _grow_f_layer(
                layer,
                name,
                values,
                fresh,
                inherited.get(layer, fresh.shape[-1]),
                inherited.get(previous.get(layer), g_new),
            )
        if tuple(variable.shape) != values.shape:
            raise ModelUnavailable(
                f"{pathlib.Path(path).name}: {variable.path} does not fit the grown Relation Network."
            )
        variable.assign(values)


def _grow_f_layer(layer: str, name: str, values, fresh: np.ndarray, kept: int, read: int) -> np.ndarray:
    """An f (or answer) layer's kernel or bias: its `kept` inherited units computed as before from the `read`
    inherited units of the layer below; new units fresh; inherited units read new units below with zero weight."""
    if values is None:  # a new layer: the identity on the inherited units
        values = np.eye(read, kept, dtype=np.float32) if name == "kernel" else np.zeros(kept, np.float32)
    if name == "bias":
        return embed(values[:kept], fresh.shape)
    grown = fresh.copy()
    grown[:, :kept] = 0.0  # inherited units ignore the new units below ...
    grown[:read, :kept] = values[:read, :kept]  # ... and read the inherited ones as before
    return grown


def embed(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of `shape` with `values` written into their leading block."""
    grown = np.zeros(shape, np.float32)
    grown[tuple(slice(0, size) for size in values.shape)] = values
    return grown
