"""Fixtures shared by the engine tests: the feature-model pages' extractors (DeepDream, Grad-CAM, atlas), and a
temporary assets/ folder with runs beside it for tests that train and promote."""

import pytest

from engine.core import manifest, media, registry, runs
from engine.features import extractors


@pytest.fixture(scope="module")
def loaded(offline_models):
    """The offline ImageNet MobileNetV2 extractors."""
    return registry.load(extractors.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def cat(chelsea_bytes):
    """chelsea.jpg decoded to RGB pixels."""
    return media.decode_image(chelsea_bytes).pixels


@pytest.fixture
def assets_dir(tmp_path, monkeypatch):
    """assets/ and its manifest in tmp_path/assets, runs in tmp_path/runs: a test that trains and promotes writes
    nothing of the project's."""
    folder = tmp_path / "assets"
    folder.mkdir()
    monkeypatch.setattr(manifest, "PROJECT_ASSETS", folder)
    monkeypatch.setattr(manifest, "MANIFEST_PATH", folder / "MANIFEST.jsonl")
    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path / "runs"))
    return folder
