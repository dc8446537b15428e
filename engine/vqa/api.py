"""Visual question answering: the two Sort-of-CLEVR models' builder and evaluator, and their inference.

The chapter's CNN + LSTM model and a Relation Network (Santoro et al., "A simple neural network module
for relational reasoning", NeurIPS 2017), both trained here (engine/vqa/train.py, which this module never
imports) on generated scenes (engine/data/sort_of_clevr.py) and measured by engine/vqa/evaluation.py. This
module keeps TensorFlow out of import time.
"""

from __future__ import annotations

import dataclasses
import time

import cv2
import numpy as np

from engine.core import manifest, registry
from engine.core.errors import InvalidInput
from engine.data import sort_of_clevr as vqa_data
from engine.vqa import models as vqa_models

MODELS = tuple(vqa_models.TITLES)  # "vqa-cnn-lstm", "vqa-relation-network"
DEFAULT_MODEL = "vqa-relation-network"
TITLES = vqa_models.TITLES
GRID = 5  # as vqa_models.GRID: the RN's feature cells are GRID x GRID
CELL = vqa_data.SIZE / GRID  # pixels per cell side (15)


def build(spec: registry.ModelSpec, source: registry.WeightSource):
    """The registry's builder of both VQA models (engine/core/entries.py)."""
    from engine.core import weights_io

    model = vqa_models.build(spec.name)
    weights_io.load_float16(model, manifest.verified(source.reference))
    return model


def evaluate(name: str) -> dict:
    """`python -m engine eval NAME`: accuracy per question type on the test scenes, measured now."""
    from engine.vqa import evaluation as vqa_evaluation

    return {"model": name, **vqa_evaluation.accuracy_by_type(registry.load(name).model)}


# --- Inference for the page and the CLI ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PairWeight:
    first: tuple[int, int]  # (row, column) of cell o_i in the GRID x GRID feature map
    second: tuple[int, int]  # (row, column) of cell o_j
    weight: float  # L2 norm of g(o_i, o_j, q)


@dataclasses.dataclass(frozen=True)
class VqaAnswer:
    model: str
    question: str
    answer: str
    probabilities: dict[str, float]  # answer -> probability, in vqa_data.ANSWERS order
    pair_weights: np.ndarray | None  # (25, 25) for the Relation Network, else None
    ms: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "answer": self.answer,
            "probabilities": {name: round(value, 6) for name, value in self.probabilities.items()},
        }

    def top_pairs(self, count: int = 5) -> list[PairWeight]:
        """The cell pairs whose g output was largest (Relation Network only; [] otherwise)."""
        if self.pair_weights is None:
            return []
        order = np.argsort(self.pair_weights.ravel())[::-1][:count]
        cells = self.pair_weights.shape[0]
        return [
            PairWeight(
                divmod(int(index // cells), GRID),
                divmod(int(index % cells), GRID),
                float(self.pair_weights.ravel()[index]),
            )
            for index in order
        ]


def to_scene_image(pixels: np.ndarray) -> np.ndarray:
    """Any RGB uint8 image -> 75 x 75 (area resize); the models were trained on 75 x 75 scenes."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InvalidInput("Expected an RGB uint8 image.")
    if pixels.shape[:2] == (vqa_data.SIZE, vqa_data.SIZE):
        return pixels
    return cv2.resize(pixels, (vqa_data.SIZE, vqa_data.SIZE), interpolation=cv2.INTER_AREA)


def ask(name: str, model, image: np.ndarray, question: str) -> VqaAnswer:
    """One model's answer to a free-text question about a 75 x 75 scene image.

    Raises:
        InvalidInput: empty question, unknown words (listed with the known ones), wrong image.
    """
    tokens = vqa_data.tokenize(question)
    image = to_scene_image(image)
    started = time.perf_counter()
    output = model.predict_on_batch([image[None].astype(np.float32), tokens[None]])
    probabilities, pairs = (output[0], output[1]) if isinstance(output, (list, tuple)) else (output, None)
    probabilities = np.asarray(probabilities)[0]
    if vqa_models.SYMMETRIC_VIEWS.get(
        model.name
    ):  # the answer is the mean over its invariant views; pairs: as seen
        probabilities = vqa_models.answer_probabilities(model, image[None], tokens[None])[0]
    best = int(probabilities.argmax())
    return VqaAnswer(
        name,
        question,
        vqa_data.ANSWERS[best],
        {label: float(value) for label, value in zip(vqa_data.ANSWERS, probabilities)},
        None if pairs is None else np.asarray(pairs)[0],
        (time.perf_counter() - started) * 1000,
    )


def truth(objects, question: str) -> str | None:
    """The exact answer when the question is one of the templates and its object is in the scene."""
    parsed = vqa_data.parse(question)
    return None if parsed is None else vqa_data.answer(objects, parsed.kind, parsed.colour)
