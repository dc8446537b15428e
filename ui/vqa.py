"""Widgets and drawings of the visual question answering page (pages/vqa.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from engine.core import manifest, registry
from engine.data import sort_of_clevr
from engine.vqa import api as vqa

ZOOM = 6  # the 75 px scene is drawn at 450 px
QUESTION_KEY = "vqa_question"


def figures_table() -> pd.DataFrame:
    """Both models' held-out accuracy by question type, as recorded when trained."""
    rows = []
    for spec in registry.all_specs("vqa"):
        entry = manifest.entries().get(spec.sources[0].reference)
        rows.append(
            {
                "model": spec.title,
                "held-out accuracy (as measured when trained)": entry["metric"]
                if entry
                else "not trained yet",
                "how": entry["how"] if entry else "",
            }
        )
    return pd.DataFrame(rows)


def training_curves():
    """Validation accuracy per epoch of both models (the committed histories), or None."""
    from engine.vqa import train as vqa_training

    rows = [
        {
            "model": vqa.TITLES[name],
            "epoch": entry["epoch"],
            "validation accuracy": entry["validation_accuracy"],
        }
        for name in vqa.MODELS
        for entry in vqa_training.history(name)
    ]
    if not rows:
        return None
    return px.line(
        pd.DataFrame(rows),
        x="epoch",
        y="validation accuracy",
        color="model",
        markers=True,
        title="Training curves (validation scenes)",
    )


def scene_input() -> sort_of_clevr.Scene:
    """Radio: a generated test scene by number, or an object table the user composes."""
    how = st.radio("Scene", ["generate by seed", "compose one"], horizontal=True, key="vqa-scene")
    if how == "generate by seed":
        index = st.number_input("Seed (test scene number)", 0, sort_of_clevr.MAX_INDEX - 1, 0, key="vqa-seed")
        return sort_of_clevr.scene("test", int(index))
    start = sort_of_clevr.scene("test", 0).objects
    table = pd.DataFrame(
        [
            {"include": True, "colour": item.colour, "shape": item.shape, "x": item.x, "y": item.y}
            for item in start
        ]
    )
    low, high = sort_of_clevr.OBJECT_HALF, sort_of_clevr.SIZE - sort_of_clevr.OBJECT_HALF
    edited = st.data_editor(
        table,
        hide_index=True,
        disabled=["colour"],
        column_config={
            "shape": st.column_config.SelectboxColumn(
                "shape", options=list(sort_of_clevr.SHAPES), required=True
            ),
            "x": st.column_config.NumberColumn(
                "x (centre, px)", min_value=low, max_value=high, step=1, required=True
            ),
            "y": st.column_config.NumberColumn(
                "y (centre, px)", min_value=low, max_value=high, step=1, required=True
            ),
        },
    )
    chosen = edited[edited["include"]]
    return sort_of_clevr.compose(
        [
            sort_of_clevr.SceneObject(row.colour, row.shape, int(row.x), int(row.y))
            for row in chosen.itertuples()
        ]
    )


def _use_example(text: str) -> None:
    st.session_state[QUESTION_KEY] = text


def example_buttons() -> None:
    """One button per example question; a click puts it in the question box."""
    columns = st.columns(3)
    for index, text in enumerate(sort_of_clevr.EXAMPLES):
        columns[index % 3].button(text, key=f"vqa_example_{index}", on_click=_use_example, args=(text,))


def probability_chart(result: vqa.VqaAnswer):
    frame = pd.DataFrame(
        {"answer": list(result.probabilities), "probability": list(result.probabilities.values())}
    )
    chart = px.bar(
        frame,
        x="answer",
        y="probability",
        range_y=[0, 1],
        title=f"{vqa.TITLES[result.model]}: {result.answer}",
    )
    chart.update_layout(height=300, margin=dict(t=40, b=10))
    return chart


def cell_centre(cell: tuple[int, int]) -> tuple[int, int]:
    row, column = cell
    return int((column + 0.5) * vqa.CELL * ZOOM), int((row + 0.5) * vqa.CELL * ZOOM)


def draw_pairs(image: np.ndarray, pairs: list[vqa.PairWeight]) -> np.ndarray:
    """The scene at ZOOM with the 5 x 5 cell grid and a line per heaviest pair (thicker = heavier)."""
    canvas = cv2.resize(image, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    step = int(vqa.CELL * ZOOM)
    for offset in range(step, canvas.shape[0], step):
        canvas[offset, :] = canvas[:, offset] = (200, 200, 200)
    top = pairs[0].weight if pairs else 1.0
    for rank, pair in enumerate(pairs):
        thickness = max(1, int(round(8 * pair.weight / top)))
        start, end = cell_centre(pair.first), cell_centre(pair.second)
        if start == end:  # a cell paired with itself: a ring
            cv2.circle(canvas, start, 18, (0, 0, 0), thickness, cv2.LINE_AA)
        else:
            cv2.line(canvas, start, end, (0, 0, 0), thickness, cv2.LINE_AA)
        cv2.putText(
            canvas, str(rank + 1), (start[0] + 4, start[1] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2
        )
    return canvas


def pairs_table(pairs: list[vqa.PairWeight]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "rank": rank + 1,
                "cell i (row, col)": str(pair.first),
                "cell j (row, col)": str(pair.second),
                "|g(o_i, o_j, q)|": round(pair.weight, 3),
            }
            for rank, pair in enumerate(pairs)
        ]
    )
