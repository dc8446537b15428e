"""Compact weight files for the models this project trains and commits.

Weights are stored as float16 in a compressed `.npz` keyed by each variable's path, which halves
the file against float32 and, for these models, changes held-out accuracy by less than the noise
(each trainer measures the float16 copy, not the float32 one, before it records a metric).
"""

from __future__ import annotations

import pathlib

import numpy as np

from engine.core.errors import ModelUnavailable


def _variables(models) -> dict:
    """Variables of one or several Keras models keyed "model name:variable path"."""
    models = models if isinstance(models, (list, tuple)) else [models]
    return {f"{model.name}:{variable.path}": variable for model in models for variable in model.weights}


def save_float16(models, path: pathlib.Path, dtype=np.float16) -> None:
    """Store the weights of a model, or a list of models, as float16 (or `dtype`, for checkpoints)."""
    arrays = {key: np.asarray(variable.numpy(), dtype=dtype) for key, variable in _variables(models).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # a file handle keeps numpy from appending ".npz"
        np.savez_compressed(handle, **arrays)


def stored_arrays(path: pathlib.Path) -> dict[str, np.ndarray]:
    """A weight file's arrays as float32, keyed by variable path without the model name ("g2/kernel"), in
    stored order: for code that maps them onto a different architecture (growing, widening)."""
    with np.load(path) as stored:
        return {key.split(":", 1)[1]: stored[key].astype(np.float32) for key in stored.files}


def load_float16(models, path: pathlib.Path) -> None:
    """Assign stored values to the model(s)' variables, in order, shapes checked.

    Variables are matched by position within each model (the order `model.weights` gives for the
    same architecture), not by path: Keras numbers unnamed layers per process ("dense_3"), so the
    same model built twice can carry different paths.
    """
    models = models if isinstance(models, (list, tuple)) else [models]
    with np.load(path) as stored:
        for model in models:
            keys = [key for key in stored.files if key.split(":", 1)[0] == model.name]
            if len(keys) != len(model.weights):
                raise ModelUnavailable(
                    f"{pathlib.Path(path).name} does not fit this model ({len(keys)} stored "
                    f"arrays for {model.name}, which has {len(model.weights)}); retrain it."
                )
            for key, variable in zip(keys, model.weights):
                values = stored[key]
                if tuple(values.shape) != tuple(variable.shape):
                    raise ModelUnavailable(
                        f"{pathlib.Path(path).name}: {key} has shape {values.shape}, "
                        f"the model expects {tuple(variable.shape)}; retrain it."
                    )
                variable.assign(values.astype(variable.dtype))
