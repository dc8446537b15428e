"""Widget groups that several pages share."""

from __future__ import annotations

import pathlib
import re

import streamlit as st

from engine.core import media, registry

SAMPLES = registry.PROJECT_ASSETS / "samples"
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]


def sample_images() -> dict[str, pathlib.Path]:
    return {path.stem: path for path in sorted(SAMPLES.glob("*.jpg"))}


def display_name(file_name: str, limit: int = 60) -> str:
    """An uploaded file's name fit to show in captions and charts: letters, digits, spaces and
    `.-_()` only, so no name can carry Markdown, HTML or LaTeX into the page."""
    kept = re.sub(r"[^\w .()-]+", "_", file_name).strip() or "upload"
    return kept if len(kept) <= limit else kept[: limit - 3] + "..."


def image_source(key: str) -> tuple[str, bytes] | None:
    """An uploaded image or a chosen sample: (display name, bytes), or None when neither is given.

    Uploads stay in memory (Streamlit keeps them in the session; nothing is written to disk), and
    the server refuses files over server.maxUploadSize in .streamlit/config.toml (the same bound as
    `media.MAX_UPLOAD_BYTES`, stated in the label).
    """
    uploaded = st.file_uploader(
        f"Upload an image ({media.describe_limits()})", type=IMAGE_TYPES, key=f"{key}-upload"
    )
    if uploaded is not None:
        return display_name(uploaded.name), uploaded.getvalue()
    samples = sample_images()
    choice = st.selectbox("...or pick a sample photo", ["(none)", *samples], key=f"{key}-sample")
    if choice == "(none)":
        return None
    return choice, samples[choice].read_bytes()
