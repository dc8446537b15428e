"""Widgets of the detection page: photo or generated scene, the trained models' table, the speed panel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.core import media, registry
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from ui.inputs import image_source
from ui.models import get_model

PHOTO, SCENE = "Photo", "Generated scene"
MAX_SEED = 99_999
SCENE_ZOOM = 4  # scenes are 96 px: shown 4x larger with sharp pixels


@dataclasses.dataclass(frozen=True)
class Picked:
    name: str
    data: bytes  # PNG or the uploaded file
    scene: scenes.Scene | None  # the ground truth when it is a generated scene


def pick_input(key: str) -> Picked | None:
    source = st.radio(
        "Input",
        [PHOTO, SCENE],
        horizontal=True,
        key=f"{key}-input",
        help="A generated scene is a 96 x 96 image from the test split of engine/data/scenes.py (objects "
        "never seen in training); the same seed and count always give the same scene.",
    )
    if source == SCENE:
        seed = int(st.number_input("Scene seed", 0, MAX_SEED, 0, 1, key=f"{key}-seed"))
        count = st.select_slider("Objects", ["random", 1, 2, 3, 4], "random", key=f"{key}-objects")
        item = scenes.scene("test", seed, objects=None if count == "random" else int(count))
        return Picked(f"scene {seed}", media.encode_png(item.image), item)
    picked = image_source(key)
    return None if picked is None else Picked(picked[0], picked[1], None)


def default_detector(for_scene: bool) -> str:
    """Faster R-CNN (or the first trained scene detector present) for scenes, the person detector for photos."""
    if for_scene:
        present = {spec.name for spec in registry.all_specs("detection") if registry.available_source(spec)}
        for name in ("faster-rcnn", "yolo", "mask-rcnn", "fast-rcnn", "rcnn"):
            if name in present:
                return name
    return "ssdlite-person"


def enlarge(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(pixels, SCENE_ZOOM, axis=0), SCENE_ZOOM, axis=1)


def truth_table(item: scenes.Scene) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"label": scenes.CLASSES[label], "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]}
            for label, box in zip(item.labels, item.boxes)
        ]
    )


def trained_models_table() -> None:
    """The detectors trained here with their held-out metric as recorded in assets/MANIFEST.jsonl."""
    rows = [
        {
            "model": spec.name,
            "what": spec.title,
            "held-out metric": scene_detectors.metric_of(spec.sources[0].reference),
        }
        for spec in registry.all_specs("detection")
        if spec.sources[0].kind == "project"
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def speed_panel(pixels: np.ndarray) -> None:
    """Run R-CNN, Fast R-CNN and Faster R-CNN on the same image and compare the times measured."""
    present = {spec.name for spec in registry.all_specs("detection") if registry.available_source(spec)}
    missing = [name for name in scene_detectors.FAMILY if name not in present]
    if missing:
        st.info(f"Not trained yet: {', '.join(missing)}; the speed panel needs all three.")
        return
    if not st.button("Time R-CNN, Fast R-CNN and Faster R-CNN on this image", key="family-speed"):
        return
    with st.spinner("Running each detector 4 times..."):
        rows = scene_detectors.time_family(
            pixels, {name: get_model(name).model for name in scene_detectors.FAMILY}
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    figure = go.Figure(
        go.Bar(
            x=[row["model"] for row in rows],
            y=[row["ms"] for row in rows],
            text=[f"{row['ms']:.0f} ms" for row in rows],
        )
    )
    figure.update_layout(
        yaxis_title="ms per image (median of 3, log scale)",
        yaxis_type="log",
        height=300,
        margin=dict(t=10, b=10),
    )
    st.plotly_chart(figure, width="stretch")
    st.caption(
        "The chapter's claims (Fast ~25x R-CNN, Faster ~10x Fast) come from VGG-16 on 600-pixel PASCAL "
        "images with ~2000 proposals; here the images are 96 px, the CNNs small and selective search "
        "itself is a large share of R-CNN's and Fast R-CNN's time, so the ratios differ: these are the "
        "ones measured on this machine, now."
    )
