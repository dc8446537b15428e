"""Shared fixtures: the offline assets the tests need, and sample images; the `browser` marker by folder."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
E2E = ROOT / "tests" / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    """Training output of every test (and of the CLI and servers they start) goes to a temporary folder,
    never into the project's runs/: tests that look at a run point $CONVNET_STUDIO_RUNS at their own."""
    if "CONVNET_STUDIO_RUNS" not in os.environ:
        os.environ["CONVNET_STUDIO_RUNS"] = tempfile.mkdtemp(prefix="convnet-studio-runs-")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e drives Chromium: mark it `browser` (`make test-fast` leaves them out)."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def offline_models():
    """Fetch (or verify) the run-time model files once; a no-op when they are cached.

    Only tests that load a fetched model ask for it: as `pytestmark = pytest.mark.usefixtures("offline_models")`
    in an engine test file, by folder in tests/pages, tests/hostile and tests/e2e.
    """
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


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m engine ARGS` as a user runs it, from the project root: exit code, stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
