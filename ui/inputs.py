"""Widget groups that several pages share."""

from __future__ import annotations

import pathlib

import streamlit as st

from engine import media, registry

SAMPLES = registry.PROJECT_ASSETS / "samples"
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]


def sample_images() -> dict[str, pathlib.Path]:
    return {path.stem: path for path in sorted(SAMPLES.glob("*.jpg"))}


def image_source(key: str) -> tuple[str, bytes] | None:
    """An uploaded image or a chosen sample: (name, bytes), or None when neither is given."""
    uploaded = st.file_uploader(f"Upload an image ({media.describe_limits()})", type=IMAGE_TYPES,
                                key=f"{key}-upload")
    if uploaded is not None:
        return uploaded.name, uploaded.getvalue()
    samples = sample_images()
    choice = st.selectbox("...or pick a sample photo", ["(none)", *samples], key=f"{key}-sample")
    if choice == "(none)":
        return None
    return choice, samples[choice].read_bytes()
