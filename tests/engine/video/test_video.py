"""The six trained video ways: each reaches its measured accuracy with the committed weights, way 1
fails where only the order of the frames tells, and the CLI answers in JSON."""

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.data import clips as video_clips
from engine.video import api as video
from engine.video import models as video_models
from engine.video import train as video_training
from tests.conftest import ROOT

SUBSET = 100  # test clips 0..99
# Accuracy measured on test clips 0..99 with the committed float16 weights (python -m engine eval video
# on 100 clips, 2026-11-28); the assertions allow MARGIN below it.
MEASURED = {
    "frame_cnn": 0.29,
    "cnn_rnn": 0.71,
    "conv3d": 0.89,
    "features_rnn": 0.78,
    "features_mlp": 0.70,
    "conv3d_rnn": 0.90,
}
MARGIN = 0.03


@pytest.fixture(scope="module")
def ways():
    return registry.load(video.MODEL_NAME).model


@pytest.fixture(scope="module")
def subset():
    return video_clips.test_clips(SUBSET)


@pytest.fixture(scope="module")
def scores(ways, subset):
    mobilenet = video_models.frame_features(ways, subset.frames)
    return {
        way: video_models.predict(ways, way, subset.frames, features=mobilenet) for way in video_models.WAYS
    }


@pytest.mark.slow
@pytest.mark.parametrize("way", video_models.WAYS)
def test_each_way_reaches_its_measured_accuracy(way, scores, subset):
    accuracy = float(np.mean(scores[way].argmax(-1) == subset.labels))
    assert accuracy >= MEASURED[way] - MARGIN, f"{way}: {accuracy:.3f}"


@pytest.mark.slow
def test_frame_by_frame_voting_fails_where_only_time_tells(scores, subset):
    temporal = np.isin(subset.labels, video_clips.TEMPORAL_CLASSES)
    single = ~temporal

    def accuracy(way, mask):
        return float(np.mean(scores[way][mask].argmax(-1) == subset.labels[mask]))

    assert accuracy("frame_cnn", temporal) < 0.35  # at best the group, never the direction (measured 0.18)
    assert accuracy("frame_cnn", single) > 0.6  # one frame shows two digits or a garment (measured 0.75)
    assert accuracy("conv3d", temporal) > accuracy("frame_cnn", temporal) + 0.2


def test_the_committed_table_has_six_rows_and_matches_the_manifest():
    table = video_training.load_table()
    assert [row["way"] for row in table["rows"]] == list(video_models.WAYS)
    assert table["test_clips"] == video_clips.TEST_CLIPS
    from engine.core import manifest

    for row in table["rows"]:
        assert (
            f"{row['accuracy']:.4f}" in manifest.entries()[video_training.weights_file(row["way"])]["metric"]
        )


def test_vote_counts_frames_and_breaks_ties_by_probability():
    frames = np.array([[[0.6, 0.4, 0], [0.6, 0.4, 0], [0.1, 0.9, 0], [0.45, 0.55, 0]]])  # 2 votes each
    shares = video_models.vote(frames)
    assert shares.argmax() == 1 and shares[0, 0] == pytest.approx(0.5, abs=1e-3)  # 2.25 > 1.75 summed


def test_classify_clip_checks_the_shape(ways):
    with pytest.raises(InvalidInput, match="Expected a uint8 clip"):
        video.classify_clip(ways, np.zeros((8, 48, 48, 3), np.uint8))


@pytest.mark.slow
def test_cli_classifies_a_generated_clip_as_json():
    result = subprocess.run(
        [sys.executable, "-m", "engine", "video", "--test-clip", "3", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["true"] == video_clips.clip("test", 3).name
    assert [row["way"] for row in output["six_ways"]] == list(video_models.WAYS)


@pytest.mark.training
def test_a_tiny_run_trains_the_six_ways_into_a_run_folder_ready_to_promote(tmp_path, monkeypatch, assets_dir):
    from engine.core import manifest, runs

    monkeypatch.setattr(video_training, "CACHE", tmp_path / "cache")  # clips and features of these tiny sets
    table = video_training.train(
        epochs=2, train_clips=8, validation_clips=4, test_clips=4, run="tiny", output_dir=tmp_path / "copy"
    )
    assert [row["way"] for row in table["rows"]] == list(video_models.WAYS)
    assert all(
        row["epochs"] == 2 and row["best_epoch"] in (1, 2) and row["test_clips"] == 4 for row in table["rows"]
    )
    assert table["promote"] == "python -m engine promote video tiny" and not any(assets_dir.iterdir())
    assert sorted(path.name for path in (tmp_path / "copy").iterdir()) == sorted(
        [f"{way}.npz" for way in video_models.WAYS] + ["table.json"]
    )
    promoted = runs.promote("video", "tiny")
    assert len(promoted["manifest"]) == 6 and (assets_dir / video_training.TABLE_FILE).is_file()
    row = table["rows"][0]
    assert manifest.entries()[video_training.weights_file(row["way"])]["metric"] == (
        f"test clips (4): accuracy {row['accuracy']:.4f}"
    )
