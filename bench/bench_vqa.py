"""VQA: answers per second (one question at a time, batched, batched with the answers' symmetric views) and
training time per epoch, both models.

Speed does not depend on the weights' values, so fresh models are timed (no committed weights needed).
The per-epoch figure is measured on a few training steps and scaled to STEPS_PER_EPOCH; the committed
histories (assets/vqa/*.history.json) give the real epochs of the last training, when present.
"""

from __future__ import annotations

import time

import numpy as np

from bench.timing import median_ms
from engine.data import sort_of_clevr
from engine.vqa import api as vqa
from engine.vqa import models as vqa_models
from engine.vqa import train as vqa_training

BATCH = 64
TIMED_STEPS = 10


def main() -> None:
    data = sort_of_clevr.scene_set("test", 0, BATCH)
    questions = np.arange(BATCH) % len(sort_of_clevr.QUESTION_TABLE)
    tokens = sort_of_clevr.QUESTION_TOKENS[questions]
    rows = []
    for name in vqa.MODELS:
        model = vqa_models.build(name)
        one = median_ms(
            lambda: vqa.ask(name, model, data.images[0], sort_of_clevr.EXAMPLES[3]), repeats=20, warmup=2
        )
        batched = median_ms(
            lambda: vqa_models.probabilities(model, data.images, tokens, BATCH), repeats=5, warmup=1
        )
        # As the page and the evaluation answer: the RN averages each answer over its invariant views.
        viewed = median_ms(
            lambda: vqa_models.answer_probabilities(model, data.images, tokens, BATCH), repeats=5, warmup=1
        )
        step = vqa_training._train_step_function(model, __import__("keras").optimizers.Adam(1e-3))
        arguments = (data.images.astype(np.float32), tokens, data.answers[np.arange(BATCH), questions])
        step(*arguments)  # trace once
        started = time.perf_counter()
        for _ in range(TIMED_STEPS):
            step(*arguments)
        per_step = (time.perf_counter() - started) / TIMED_STEPS
        history = vqa_training.history(name)
        recorded = (
            (
                f", last training {np.median([e['seconds'] for e in history]):.0f} s per epoch (median of "
                f"{len(history)})"
            )
            if history
            else ""
        )
        rows.append(
            (
                name,
                1000 / one,
                BATCH / batched * 1000,
                BATCH / viewed * 1000,
                per_step * vqa_training.STEPS_PER_EPOCH,
                recorded,
            )
        )
    base = rows[0][1]
    for name, single, batched, viewed, epoch, recorded in rows:
        print(
            f"  {name:<22} {single:7.1f} answers/s one at a time (x{single / base:4.2f} of the CNN + LSTM), "
            f"{batched:7.0f} answers/s in batches of {BATCH}, {viewed:7.0f} with the answer's symmetric views "
            f"(x{viewed / batched:4.2f}); training ~{epoch:.0f} s per epoch "
            f"({vqa_training.STEPS_PER_EPOCH} x {BATCH}){recorded}"
        )
