"""The VQA models' held-out figures: accuracy per question type and kind on every canonical question of
generated Sort-of-CLEVR scenes (engine/data/sort_of_clevr.py). Read by `python -m engine eval NAME`
(engine/vqa/api.py) and by training's validation and finalize (engine/vqa/train.py); no TensorFlow at import.
"""

from __future__ import annotations

import numpy as np

from engine.data import sort_of_clevr as vqa_data
from engine.vqa import models as vqa_models


def question_set(split: str, start: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every canonical (kind, colour) question of scenes start..start+count-1.

    Returns:
        images uint8 (M, 75, 75, 3) (repeated per question), tokens int32 (M, MAX_WORDS),
        answers int64 (M,), kinds (M,) indices into KINDS; M = count * 36.
    """
    data = vqa_data.scene_set(split, start, count)
    ids = vqa_data.canonical_question_ids()
    images = np.repeat(data.images, len(ids), axis=0)
    tokens = np.tile(vqa_data.QUESTION_TOKENS[ids], (count, 1))
    answers = data.answers[:, ids].reshape(-1)
    kinds = np.tile([vqa_data.KINDS.index(vqa_data.QUESTION_TABLE[i].kind) for i in ids], count)
    return images, tokens, answers, kinds


def accuracy_by_type(model, split: str = "test", count: int = vqa_data.TEST_SCENES, start: int = 0) -> dict:
    """Accuracy per question type and per kind on `count` scenes x 36 questions."""
    images, tokens, answers, kinds = question_set(split, start, count)
    correct = vqa_models.answer_probabilities(model, images, tokens).argmax(-1) == answers
    kind_names = np.array(vqa_data.KINDS)[kinds]
    types = np.array([vqa_data.KIND_TYPE[kind] for kind in kind_names])
    figures = {
        "split": split,
        "scenes": count,
        "questions": int(len(answers)),
        "overall": float(correct.mean()),
    }
    figures.update(
        {kind_type: float(correct[types == kind_type].mean()) for kind_type in vqa_data.QUESTION_TYPES}
    )
    figures["by_kind"] = {kind: float(correct[kind_names == kind].mean()) for kind in vqa_data.KINDS}
    return figures
