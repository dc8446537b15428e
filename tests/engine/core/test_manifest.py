import pytest

from engine.core import manifest as project_weights
from engine.core.errors import ModelUnavailable


def test_every_manifest_line_matches_its_file():
    entries = project_weights.entries()
    assert "samples/chelsea.jpg" in entries
    for relative_path, entry in entries.items():
        assert project_weights.verified(relative_path).stat().st_size == entry["bytes"]
        assert entry["how"] and entry["metric"]


def test_altered_project_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(project_weights, "PROJECT_ASSETS", tmp_path)
    monkeypatch.setattr(project_weights, "MANIFEST_PATH", tmp_path / "MANIFEST.jsonl")
    (tmp_path / "weights.bin").write_bytes(b"trained")
    project_weights.record("weights.bin", "python -m engine train tiny", "accuracy 0.99 (test)")
    assert project_weights.verified("weights.bin").read_bytes() == b"trained"
    (tmp_path / "weights.bin").write_bytes(b"tampered")
    with pytest.raises(ModelUnavailable, match="does not match its manifest checksum"):
        project_weights.verified("weights.bin")
    with pytest.raises(ModelUnavailable, match="missing"):
        project_weights.verified("other.bin")
