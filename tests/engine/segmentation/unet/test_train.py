import json
import pathlib

import numpy as np
import pytest

from engine.core.errors import InvalidInput
from engine.core.runs import RUNS_ENV_VAR
from engine.segmentation.unet import evaluation, model
from engine.segmentation.unet import train as unet_training
from tests.conftest import ROOT


def test_training_for_no_epoch_is_refused():
    with pytest.raises(InvalidInput):
        unet_training.train(epochs=0)


@pytest.mark.training
def test_one_training_step_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(RUNS_ENV_VAR, str(tmp_path))
    result = unet_training.train(
        epochs=1, train_scenes=unet_training.BATCH_SIZE, max_batches=1, validation_scenes=4
    )
    assert len(result["history"]) == 1 and np.isfinite(result["history"][0]["loss"])
    assert not any(tmp_path.iterdir())  # a smoke run writes nothing


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Runs in a temporary folder, and no old cache for --resume to find."""
    monkeypatch.setenv(RUNS_ENV_VAR, str(tmp_path / "runs"))
    monkeypatch.setattr(unet_training.UNetTask, "legacy_checkpoints", tmp_path / "no-cache")
    return tmp_path / "runs"


@pytest.mark.training
def test_resume_goes_on_from_the_committed_weights_and_their_whole_log(runs):
    committed = json.loads((ROOT / "assets" / model.WEIGHTS).with_suffix(".history.json").read_text())
    result = unet_training.train(
        epochs=1,
        train_scenes=unet_training.BATCH_SIZE,
        max_batches=1,
        validation_scenes=2,
        resume=True,
        peak_learning_rate=3e-4,
    )
    (run,) = (runs / "unet").iterdir()
    assert (run / "best.npz").read_bytes() == (ROOT / "assets" / model.WEIGHTS).read_bytes()
    assert (
        len(result["history"]) == len(committed) + 1
        and result["history"][-2]["epoch"] == committed[-1]["epoch"]
    )
    new = result["history"][-1]
    assert new["cycle"] == max(entry.get("cycle", 0) for entry in committed) + 1 and not new["grown"]
    assert new["learning_rate"] == new["peak_learning_rate"] == 3e-4 and new["epoch"] == len(committed) + 1


@pytest.mark.training
def test_a_cycle_resumed_from_a_finished_run_is_recorded_with_its_peak(runs, monkeypatch):
    monkeypatch.setattr(
        unet_training.UNetTask,
        "evaluate",
        lambda self, weights: evaluation.evaluate_model(model.build(weights), 2),
    )
    first = unet_training.train(epochs=1, train_scenes=unet_training.BATCH_SIZE, validation_scenes=2)
    assert first["history"][0]["kept"] and first["scenes"] == 2
    second = unet_training.train(
        epochs=1,
        train_scenes=unet_training.BATCH_SIZE,
        validation_scenes=2,
        resume=True,
        peak_learning_rate=3e-4,
    )
    assert second["run"] == first["run"]  # the newest run goes on
    assert [(entry["cycle"], entry["peak_learning_rate"]) for entry in second["history"]] == [
        (0, unet_training.LEARNING_RATE),
        (1, 3e-4),
    ]
    outputs = json.loads((pathlib.Path(second["run"]) / "run.json").read_text())["outputs"]
    assert (
        outputs[0]["asset"] == model.WEIGHTS and outputs[1]["asset"] == "scene_segmentation/unet.history.json"
    )
    assert outputs[0]["how"].startswith(
        "python -m engine train unet --epochs 1, then --resume --epochs 1 "
        "--peak-learning-rate 0.0003 (8 + 8 new training scenes"
    )
    assert outputs[0]["metric"].startswith("test scenes (2): mean IoU")


def test_scenes_showing_the_oversampled_labels_weigh_more():
    maps = np.zeros((3, 8, 8), np.uint8)
    maps[1, 2, 2] = model.LABELS.index("sneaker")
    maps[2, 2, 2], maps[2, 5, 5] = model.LABELS.index("sneaker"), model.LABELS.index("1")
    maps[2, 6, 6] = model.LABELS.index("dress")  # not oversampled
    weights = unet_training.scene_weights(maps, {"sneaker": 2.0, "1": 1.0})
    assert weights.tolist() == [1.0, 3.0, 4.0]


def test_the_kept_epoch_is_the_one_best_npz_holds():
    old = [{"epoch": 1, "validation_mean_iou": 0.80}, {"epoch": 2, "validation_mean_iou": 0.85}]
    # New epochs are measured with test-time shifts, so their figures can beat the old best without being kept.
    unkept = old + [{"epoch": 3, "validation_mean_iou": 0.86, "kept": False}]
    assert unet_training.best_entry(unkept)["epoch"] == 2
    kept = unkept + [
        {"epoch": 4, "validation_mean_iou": 0.90, "kept": True},
        {"epoch": 5, "validation_mean_iou": 0.89, "kept": False},
    ]
    assert unet_training.best_entry(kept)["epoch"] == 4


def test_boundary_pixels_are_the_rims_on_both_sides_of_a_label_edge():
    label_map = np.zeros((1, 12, 12), np.int32)
    label_map[0, 3:8, 3:8] = 5  # a 5 x 5 object
    label_map[0, 3:8, 8:10] = 7  # touching another on its right
    rims = unet_training.boundary_pixels(label_map).numpy()[0].astype(bool)
    expected = np.zeros((12, 12), bool)
    expected[2:9, 2:11] = True  # the objects and a one-pixel ring of background around them ...
    expected[4:7, 4:7] = False  # ... but not the first object's interior
    assert (rims == expected).all()


def test_the_boundary_weight_changes_the_loss():
    import keras

    keras.utils.set_random_seed(0)
    network = model.build_network()
    images, label_maps = evaluation.generate("train", 2, objects=4)
    plain = float(
        unet_training.batch_loss(network, images.astype(np.float32), label_maps.astype(np.int32), 0.0)
    )
    weighted = float(
        unet_training.batch_loss(network, images.astype(np.float32), label_maps.astype(np.int32), 2.0)
    )
    assert weighted != pytest.approx(plain, rel=1e-4)
