"""Capsule networks page: the registry's builder and evaluator, and the inference views.

The models are in engine/capsules/model.py (Sabour, Frosst & Hinton 2017), their held-out figures in
engine/capsules/evaluation.py, training in engine/capsules/train.py (which this module never imports);
this module keeps TensorFlow out of import time.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.core import manifest, registry
from engine.core.errors import InvalidInput, InvalidMedia


def evaluate() -> dict:
    """`python -m engine eval capsnet`: both models on the MNIST test digits and overlapping pairs."""
    from engine.capsules import evaluation

    return {
        name: evaluation.evaluate_model(registry.load(name).model) for name in ("capsnet", "capsnet-baseline")
    }


def build(spec: registry.ModelSpec, source: registry.WeightSource):
    """The registry's builder of "capsnet" and "capsnet-baseline" (engine/core/entries.py)."""
    from engine.capsules import model as capsnet
    from engine.core import weights_io

    model = capsnet.build(spec.name)
    weights_io.load_float16(model.parts, manifest.verified(source.reference))
    return model


# --- Inference views for the page -------------------------------------------------------------

PERTURBATION_RANGE = 0.25  # the paper's Figure 4 moves each dimension within [-0.25, 0.25]
MNIST_BOX = 20  # MNIST digits fit a 20 x 20 box centred by mass in 28 x 28


@dataclasses.dataclass(frozen=True)
class CapsuleReading:
    lengths: np.ndarray  # (10,) capsule lengths = class probabilities (not summing to 1)
    predicted: int
    capsules: np.ndarray  # (10, 16) digit capsule vectors
    couplings: np.ndarray  # (iterations, 1152, 10) c_ij per routing iteration
    primary_lengths: np.ndarray  # (1152,) how active each primary capsule is
    reconstruction: np.ndarray  # uint8 (28, 28) from the winning capsule


def _check_digit(digit: np.ndarray) -> None:
    if digit.shape != (28, 28) or digit.dtype != np.uint8:
        raise InvalidInput("Expected a 28 x 28 uint8 digit image.")


def read_digit(model, digit: np.ndarray) -> CapsuleReading:
    """Run the CapsNet on one digit and keep what routing did on the way."""
    import keras

    _check_digit(digit)
    if not hasattr(model, "primary_model"):
        model.primary_model = keras.Model(
            model.encoder.input, model.encoder.get_layer("primary_squash").output
        )
    primary = model.primary_model.predict_on_batch((digit.astype(np.float32) / 255.0)[None, ..., None])
    layer = model.encoder.get_layer("digit_caps")
    outputs, couplings = layer.route(layer.predictions(primary))
    capsules = np.asarray(outputs)[0]
    lengths = np.linalg.norm(capsules, axis=-1)
    predicted = int(lengths.argmax())
    return CapsuleReading(
        lengths,
        predicted,
        capsules,
        np.stack([np.asarray(c)[0] for c in couplings]),
        np.linalg.norm(np.asarray(primary)[0], axis=-1),
        reconstruct(model, capsules, predicted),
    )


def reconstruct(
    model, capsules: np.ndarray, class_index: int, deltas: np.ndarray | None = None
) -> np.ndarray:
    """Decode one digit capsule (others masked to zero), optionally with its 16 dimensions moved."""
    if not 0 <= class_index < 10:
        raise InvalidInput("class_index must be 0..9.")
    chosen = capsules[class_index].astype(np.float32).copy()
    if deltas is not None:
        deltas = np.asarray(deltas, np.float32)
        if deltas.shape != (16,) or np.abs(deltas).max() > PERTURBATION_RANGE + 1e-6:
            raise InvalidInput(f"Perturbations are 16 values within +-{PERTURBATION_RANGE}.")
        chosen += deltas
    masked = np.zeros((1, 10 * 16), np.float32)
    masked[0, class_index * 16 : (class_index + 1) * 16] = chosen
    pixels = model.decoder.predict_on_batch(masked)[0, :, :, 0]
    return (np.clip(pixels, 0, 1) * 255).astype(np.uint8)


def baseline_probabilities(model, digit: np.ndarray) -> np.ndarray:
    _check_digit(digit)
    return model.scores(digit[None])[0]


def prepare_digit(pixels: np.ndarray) -> np.ndarray:
    """A photo or drawing of one digit -> MNIST style: white on black, 20 px box, centred by mass.

    Raises:
        InvalidMedia: nothing that looks like a digit (a blank or nearly uniform image).
    """
    import cv2

    gray = (
        cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if pixels.ndim == 3
        else pixels.astype(np.float32)
    )
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 127:  # dark ink on light paper: invert to MNIST's white on black
        gray, border = 255 - gray, 255 - border
    gray = np.clip(gray - np.median(border), 0, 255)  # the paper's own shade becomes black
    if gray.max() < 40 or (gray > gray.max() * 0.5).mean() > 0.6:
        raise InvalidMedia("No digit found: upload one dark digit on a light background (or light on dark).")
    rows, cols = np.nonzero(gray > gray.max() * 0.2)
    crop = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = MNIST_BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    small = small * (255.0 / max(small.max(), 1))
    canvas = np.zeros((28, 28), np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    total = canvas.sum()
    centre_row = (canvas.sum(axis=1) * np.arange(28)).sum() / total
    centre_col = (canvas.sum(axis=0) * np.arange(28)).sum() / total
    shift = np.float32([[1, 0, 13.5 - centre_col], [0, 1, 13.5 - centre_row]])
    return np.clip(cv2.warpAffine(canvas, shift, (28, 28)), 0, 255).astype(np.uint8)
