"""Widgets of the segmentation page: the input (photo or generated scene) and the architecture notes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from engine.core import media
from engine.core.errors import InvalidInput
from engine.data import scenes
from ui.inputs import image_source

PHOTO, SCENE = "Photo", "Generated scene"
MAX_SEED = 1_000_000


@dataclasses.dataclass(frozen=True)
class PickedInput:
    name: str
    pixels: np.ndarray  # uint8 RGB
    truth: np.ndarray | None  # the scene's true label map (0 background, 1 + class), None for a photo


@st.cache_data(max_entries=32, show_spinner=False)
def _scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    generated = scenes.scene("test", seed)
    return generated.image, generated.label_map


def input_picker(key: str, decode_limit: int) -> PickedInput | None:
    """A photo (upload or sample, decoded within `decode_limit` pixels) or a test-split scene by seed."""
    source = st.radio(
        "Input",
        [PHOTO, SCENE],
        horizontal=True,
        key=f"{key}-input",
        help="A generated scene is a 96 x 96 image from the test split of engine/data/scenes.py, "
        "never seen in training; the same seed always gives the same scene.",
    )
    if source == SCENE:
        seed = int(st.number_input("Scene seed", 0, MAX_SEED, 0, 1, key=f"{key}-seed"))
        image, truth = _scene(seed)
        return PickedInput(f"scene {seed}", image, truth)
    picked = image_source(key)
    if picked is None:
        return None
    return PickedInput(picked[0], media.decode_within(picked[1], decode_limit).pixels, None)


def classes_key(present: list[str]) -> str:
    """The key of the "Classes to colour" widget: it names the classes found, so that a picture with other
    classes starts again with all of them coloured (as the widget did when it had no key)."""
    return "segmentation-classes:" + ",".join(present)


def enlarge(pixels: np.ndarray, factor: int = 4) -> np.ndarray:
    """A small scene shown larger with its pixels kept sharp (the browser would blur them)."""
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def scene_figures(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel accuracy and mean IoU (labels present in either map) of one scene's prediction."""
    from engine.ops import metrics

    if predicted.shape != truth.shape:
        raise InvalidInput("The prediction and the scene's label map differ in size.")
    return {
        "pixel accuracy": float(np.mean(predicted == truth)),
        "mean IoU": metrics.mean_iou(predicted, truth, len(scenes.CLASSES) + 1)["mean_iou"],
    }


@st.cache_resource(show_spinner="Building the U-Net layer table...")
def _architecture() -> pd.DataFrame:
    from engine.segmentation.unet import model as unet_model

    rows = unet_model.describe_architecture()
    return pd.DataFrame(
        [
            {
                "layer": row.name,
                "type": row.kind,
                "output shape": row.output_shape,
                "parameters": row.parameters,
            }
            for row in rows
        ]
    )


def architecture_notes() -> None:
    """The U-Net's layers and a short note on DeepLab's atrous convolution."""
    with st.expander("Architectures: the U-Net's layers, and atrous convolution in DeepLab"):
        table = _architecture()
        st.markdown(
            "**U-Net** (Ronneberger et al. 2015), as trained here on the scenes: going down, two 3 x 3 "
            "convolutions per level and a 2 x 2 max pooling (96 -> 48 -> 24 -> 12 -> 6 pixels, 16 -> 32 -> 64 "
            "-> 128 -> 256 filters); going up, a 2 x 2 *transposed convolution* doubles the size and its output is "
            "*concatenated* with the same-size map from the way down (the `_skip` rows: the channels "
            "double), so fine edges from early layers rejoin the coarse class evidence of the bottleneck. "
            "A 1 x 1 convolution scores the 17 labels at every pixel; as in FCN, the three coarsest levels "
            "(`coarse4`, `coarse3`, `coarse2`) score them too, and their upsampled scores are added, "
            "so the class of an "
            "object is decided where the features are wide and see all of it. The page averages the label "
            "probabilities over the scene and its 8 copies shifted by one pixel (test-time augmentation). "
            f"{int(table['parameters'].sum()):,} parameters in all."
        )
        st.dataframe(table, hide_index=True, width="stretch")
        st.markdown(
            "**Atrous convolution in DeepLab**: a classifier shrinks the image 32 times, too coarse for "
            "a pixel map. Instead of pooling and upsampling like the U-Net, DeepLab drops the last strides "
            "and spreads each 3 x 3 kernel out with gaps (rate r: taps r pixels apart), so the same 9 "
            "weights see a (2r + 1)-pixel window and the receptive field keeps growing while the feature "
            "map stays 8 or 16 times smaller than the input. Its *atrous spatial pyramid pooling* runs "
            "several rates side by side to catch objects at several scales. The *Convolution types* page "
            "animates a dilated kernel."
        )
