"""Shared fixtures: the offline assets the tests need, and sample images."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture(scope="session", autouse=True)
def offline_models():
    """Fetch (or verify) the run-time model files once; a no-op when they are cached."""
    from engine.core import assets

    assets.fetch(group="models")


@pytest.fixture(scope="session")
def chelsea_bytes() -> bytes:
    return (SAMPLES / "chelsea.jpg").read_bytes()


@pytest.fixture(scope="session")
def coffee_bytes() -> bytes:
    return (SAMPLES / "coffee.jpg").read_bytes()


def encode(pixels: np.ndarray, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()
