"""Streamlit helpers of the video page: the comparison table and chart, clips, predictions, timeline."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from engine.data import clips as video_clips
from engine.video import api as video
from engine.video import io as video_io

GROUP_SHORT = {
    "left / right / up / down": "direction",
    "clockwise / counter-clockwise": "rotation",
    "growing / shrinking": "scale",
    "single frame tells": "single frame",
}
ENLARGE = 4  # the 48 px clips are shown at 4x, nearest neighbour


def comparison_table(table: dict) -> pd.DataFrame:
    """One row per way: accuracy overall and per class group, parameters, seconds, ms per clip."""
    rows = []
    for row in table["rows"]:
        groups = {f"{GROUP_SHORT[name]}": value for name, value in row["by_group"].items()}
        rows.append(
            {
                "way": row["title"],
                "test accuracy": row["accuracy"],
                **groups,
                "trained parameters": row["parameters"]["trained"],
                "frozen parameters": row["parameters"]["frozen"],
                "training s": row.get("train_seconds"),
                "frozen-feature s": row.get("feature_seconds"),
                "ms per clip": row["inference_ms_per_clip"],
            }
        )
    return pd.DataFrame(rows)


def show_comparison(table: dict) -> None:
    """The table and a grouped bar chart of accuracy per class group."""
    frame = comparison_table(table)
    percent = {
        column: st.column_config.NumberColumn(format="%.3f")
        for column in ["test accuracy", *GROUP_SHORT.values()]
    }
    st.dataframe(frame, hide_index=True, width="stretch", column_config=percent)
    long = frame.melt(
        id_vars="way",
        value_vars=["test accuracy", *GROUP_SHORT.values()],
        var_name="measured on",
        value_name="accuracy",
    )
    chart = px.bar(
        long,
        x="measured on",
        y="accuracy",
        color="way",
        barmode="group",
        range_y=[0, 1],
        title=f"Accuracy on {table['test_clips']} held-out test clips, by class group",
    )
    chart.add_hline(y=1 / len(video_clips.CLASSES), line_dash="dot", annotation_text="chance (10 classes)")
    st.plotly_chart(chart, width="stretch")


def clip_movie(frames: np.ndarray) -> bytes:
    """A generated clip as an enlarged WebM (VP8), 8 frames per second, for st.video."""
    large = np.stack(
        [cv2.resize(frame, None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_NEAREST) for frame in frames]
    )
    return video_io.write_webm(large, 8.0)


def clip_strip(frames: np.ndarray, every: int = 3) -> np.ndarray:
    """Every `every`-th frame side by side, enlarged 2x."""
    picked = [
        cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST) for frame in frames[::every]
    ]
    gap = np.full((picked[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([part for frame in picked for part in (frame, gap)][:-1], axis=1)


def predictions_table(predictions: video.ClipPredictions, truth: str | None = None) -> pd.DataFrame:
    # st.table renders Markdown: "1. per-frame ..." would become a numbered list, so the "." is escaped.
    rows = [
        {
            "way": re.sub(r"^(\d+)\. ", r"\1\\. ", item.title),
            "says": item.label,
            "score": round(item.score, 3),
            "ms": round(item.ms, 1),
        }
        for item in predictions.predictions
    ]
    frame = pd.DataFrame(rows)
    if truth is not None:
        frame["right"] = ["yes" if row["says"] == truth else "no" for row in rows]
    return frame


def timeline_chart(timeline: video_io.Timeline):
    frame = pd.DataFrame(
        [
            {"second": item.second, "score": item.score, "ImageNet top-1": item.label}
            for item in timeline.frames
        ]
    )
    chart = px.scatter(
        frame,
        x="second",
        y="score",
        color="ImageNet top-1",
        range_y=[0, 1.05],
        title=f"Per-frame ImageNet top-1 ({timeline.model}); majority: {timeline.majority}",
    )
    chart.update_traces(marker={"size": 12})
    return chart


@st.cache_data(max_entries=4, show_spinner="Preparing the video for the browser...")
def browser_playable(data: bytes, filename: str) -> tuple[bytes, str]:
    """`video_io.browser_playable`, remembered: moving a slider must not transcode the upload again."""
    return video_io.browser_playable(data, filename)
