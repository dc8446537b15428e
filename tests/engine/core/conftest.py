"""Fixtures the core's tests share."""

import pytest

from engine.core import manifest


@pytest.fixture
def assets_dir(tmp_path, monkeypatch):
    """assets/ and its manifest in a temporary folder: nothing here writes the project's."""
    folder = tmp_path / "assets"
    folder.mkdir()
    monkeypatch.setattr(manifest, "PROJECT_ASSETS", folder)
    monkeypatch.setattr(manifest, "MANIFEST_PATH", folder / "MANIFEST.jsonl")
    return folder
