import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from engine.core import registry, weights_io
from engine.core.errors import InvalidInput
from engine.data import scenes
from engine.segmentation import api as segmentation
from engine.segmentation import unet as scene_unet
from tests.conftest import ROOT, SAMPLES

SUBSET = 100  # the first 100 test scenes
# Measured with the committed weights and the test-time shifts on test scenes 0..99: mean IoU 0.9191, pixel
# accuracy 0.9956 (all 500: 0.9034 / 0.9950); the tests allow a small margin for float round-off across machines.
MEASURED_IOU = 0.9191
MEASURED_ACCURACY = 0.9956
MARGIN = 0.01


@pytest.fixture(scope="module")
def unet() -> scene_unet.SceneSegmenter:
    return registry.load("unet").model


def test_architecture_is_a_unet_with_skips_and_transposed_convolutions():
    rows = scene_unet.describe_architecture()
    by_name = {row.name: row for row in rows}
    assert [row.name for row in rows if row.kind == "Conv2DTranspose"] == [
        "up3_transpose",
        "up2_transpose",
        "up1_transpose",
        "up0_transpose",
    ]
    # Each skip concatenates the upsampled map with the same-size map of the way down: channels double.
    for level, width in enumerate(scene_unet.FILTERS[:-1]):
        side = scenes.SIZE // 2**level
        assert by_name[f"down{level}_relu2"].output_shape == f"{side} x {side} x {width}"
        assert by_name[f"up{level}_transpose"].output_shape == f"{side} x {side} x {width}"
        assert by_name[f"up{level}_skip"].output_shape == f"{side} x {side} x {2 * width}"
    assert by_name["bottleneck_relu2"].output_shape == "6 x 6 x 256"
    # Full-size scores = the top level's 1x1 scores + the three coarse levels' scores, upsampled.
    assert by_name["coarse4_scores"].output_shape == "6 x 6 x 17"
    assert by_name["coarse3_scores"].output_shape == "12 x 12 x 17"
    assert by_name["coarse2_scores"].output_shape == "24 x 24 x 17"
    assert rows[-1].kind == "Add" and rows[-1].output_shape == "96 x 96 x 17"
    assert sum(row.parameters for row in rows) == scene_unet.build_network().count_params() == 1953460


@pytest.mark.slow
def test_growing_the_three_level_unet_keeps_its_scores(tmp_path):
    """`grow` maps a trained 3-level U-Net into the 4-level one; at inference the two give the same scores."""
    small = scene_unet.build_network(scene_unet.FILTERS[:-1], coarse_heads=2)
    rng = np.random.default_rng(0)
    for variable in small.weights:  # random weights and batch statistics, as a trained network would have
        values = rng.normal(0.0, 0.2, variable.shape)
        variable.assign(np.abs(values) + 0.5 if "variance" in variable.path else values)
    path = tmp_path / "three_level.npz"
    weights_io.save_float16(small, path, dtype=np.float32)
    assert scene_unet.is_three_level(path)
    grown = scene_unet.build_network()
    images, _ = scene_unet.generate("validation", 6)
    scene_unet.grow(grown, path, images[:4])
    before = np.asarray(small.predict_on_batch(images.astype(np.float32)))
    after = np.asarray(grown.predict_on_batch(images.astype(np.float32)))
    assert np.abs(after - before).max() < 1e-3 * np.abs(before).max()
    assert np.any(grown.get_layer("bottleneck_conv1").get_weights()[0])  # the new level is not left at zero
    weights_io.save_float16(grown, tmp_path / "four_level.npz", dtype=np.float32)
    assert not scene_unet.is_three_level(tmp_path / "four_level.npz")


@pytest.mark.slow
def test_held_out_figures_on_the_first_test_scenes(unet):
    figures = scene_unet.evaluate_model(unet, SUBSET)
    assert figures["scenes"] == SUBSET and set(figures["per_label"]) <= set(scene_unet.LABELS)
    assert figures["mean_iou"] >= MEASURED_IOU - MARGIN
    assert figures["pixel_accuracy"] >= MEASURED_ACCURACY - MARGIN


def test_a_photo_gets_a_label_map_of_its_own_size(unet):
    pixels = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    label_map = unet.label_map(pixels)
    assert label_map.shape == (120, 200) and label_map.dtype == np.uint8
    assert label_map.max() < len(scene_unet.LABELS)


def test_a_scene_through_the_segmentation_entry_point(unet):
    item = scenes.scene("test", 3)  # a "2" and a sandal
    result = segmentation.segment(item.image, registry.load("unet"))
    assert result.labels == scene_unet.LABELS and result.label_map.shape == (96, 96)
    present = {scene_unet.LABELS[label + 1] for label in item.labels}
    assert present <= set(result.class_shares())


def test_wrong_shapes_are_refused(unet):
    with pytest.raises(InvalidInput):
        unet.scores(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(InvalidInput):
        scene_unet.train(epochs=0)


@pytest.mark.training
def test_one_training_step_runs(tmp_path, monkeypatch):
    from engine.core import training

    monkeypatch.setenv(training.RUNS_ENV_VAR, str(tmp_path))
    result = scene_unet.train(
        epochs=1, train_scenes=scene_unet.BATCH_SIZE, max_batches=1, validation_scenes=4
    )
    assert len(result["history"]) == 1 and np.isfinite(result["history"][0]["loss"])
    assert not any(tmp_path.iterdir())  # a smoke run writes nothing


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Runs in a temporary folder, and no old cache for --resume to find."""
    from engine.core import training

    monkeypatch.setenv(training.RUNS_ENV_VAR, str(tmp_path / "runs"))
    monkeypatch.setattr(scene_unet.UNetTask, "legacy_checkpoints", tmp_path / "no-cache")
    return tmp_path / "runs"


@pytest.mark.training
def test_resume_goes_on_from_the_committed_weights_and_their_whole_log(runs):
    committed = json.loads((ROOT / "assets" / scene_unet.WEIGHTS).with_suffix(".history.json").read_text())
    result = scene_unet.train(
        epochs=1,
        train_scenes=scene_unet.BATCH_SIZE,
        max_batches=1,
        validation_scenes=2,
        resume=True,
        peak_learning_rate=3e-4,
    )
    (run,) = (runs / "unet").iterdir()
    assert (run / "best.npz").read_bytes() == (ROOT / "assets" / scene_unet.WEIGHTS).read_bytes()
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
        scene_unet.UNetTask,
        "evaluate",
        lambda self, weights: scene_unet.evaluate_model(scene_unet.build(weights), 2),
    )
    first = scene_unet.train(epochs=1, train_scenes=scene_unet.BATCH_SIZE, validation_scenes=2)
    assert first["history"][0]["kept"] and first["scenes"] == 2
    second = scene_unet.train(
        epochs=1,
        train_scenes=scene_unet.BATCH_SIZE,
        validation_scenes=2,
        resume=True,
        peak_learning_rate=3e-4,
    )
    assert second["run"] == first["run"]  # the newest run goes on
    assert [(entry["cycle"], entry["peak_learning_rate"]) for entry in second["history"]] == [
        (0, scene_unet.LEARNING_RATE),
        (1, 3e-4),
    ]
    outputs = json.loads((pathlib.Path(second["run"]) / "run.json").read_text())["outputs"]
    assert (
        outputs[0]["asset"] == scene_unet.WEIGHTS
        and outputs[1]["asset"] == "scene_segmentation/unet.history.json"
    )
    assert outputs[0]["how"].startswith(
        "python -m engine train unet --epochs 1, then --resume --epochs 1 "
        "--peak-learning-rate 0.0003 (8 + 8 new training scenes"
    )
    assert outputs[0]["metric"].startswith("test scenes (2): mean IoU")


@pytest.mark.slow
def test_cli_segments_a_photo_with_the_unet():
    result = subprocess.run(
        [sys.executable, "-m", "engine", "segment", str(SAMPLES / "coffee.jpg"), "--model", "unet", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["model"] == "unet" and output["labels"] == list(scene_unet.LABELS)
    assert abs(sum(output["classes"].values()) - 1) < 1e-3


@pytest.mark.parametrize("shift", [(3, 0), (0, -2), (-3, 3)])
def test_shifted_scenes_and_scores_line_up_again(shift):
    images = np.random.default_rng(1).integers(0, 255, (2, 96, 96, 3)).astype(np.uint8)
    moved = scene_unet.shift_scenes(images, shift)
    dx, dy = shift
    assert np.array_equal(moved[:, 40 + dy, 50 + dx], images[:, 40, 50])  # content moved by (dx, dy)
    back = scene_unet.shift_back(moved.astype(np.float32), shift)
    assert np.array_equal(back[:, 4:92, 4:92], images[:, 4:92, 4:92])  # and back, away from the lost border


def test_test_time_shifts_give_probabilities_of_the_scene_size(unet, monkeypatch):
    item = scenes.scene("test", 3)
    monkeypatch.setattr(scene_unet, "TEST_TIME_SHIFTS", ())
    plain = unet.scores(item.image[None])
    monkeypatch.setattr(scene_unet, "TEST_TIME_SHIFTS", ((2, 0), (0, 2)))
    averaged = unet.scores(item.image[None])
    assert averaged.shape == plain.shape == (1, 96, 96, len(scene_unet.LABELS))
    assert np.allclose(averaged.sum(-1), 1, atol=1e-4) and not np.allclose(averaged, plain)


def test_scenes_showing_the_oversampled_labels_weigh_more():
    maps = np.zeros((3, 8, 8), np.uint8)
    maps[1, 2, 2] = scene_unet.LABELS.index("sneaker")
    maps[2, 2, 2], maps[2, 5, 5] = scene_unet.LABELS.index("sneaker"), scene_unet.LABELS.index("1")
    maps[2, 6, 6] = scene_unet.LABELS.index("dress")  # not oversampled
    weights = scene_unet.scene_weights(maps, {"sneaker": 2.0, "1": 1.0})
    assert weights.tolist() == [1.0, 3.0, 4.0]


def test_the_kept_epoch_is_the_one_best_npz_holds():
    old = [{"epoch": 1, "validation_mean_iou": 0.80}, {"epoch": 2, "validation_mean_iou": 0.85}]
    # New epochs are measured with test-time shifts, so their figures can beat the old best without being kept.
    unkept = old + [{"epoch": 3, "validation_mean_iou": 0.86, "kept": False}]
    assert scene_unet.best_entry(unkept)["epoch"] == 2
    kept = unkept + [
        {"epoch": 4, "validation_mean_iou": 0.90, "kept": True},
        {"epoch": 5, "validation_mean_iou": 0.89, "kept": False},
    ]
    assert scene_unet.best_entry(kept)["epoch"] == 4


def test_boundary_pixels_are_the_rims_on_both_sides_of_a_label_edge():
    label_map = np.zeros((1, 12, 12), np.int32)
    label_map[0, 3:8, 3:8] = 5  # a 5 x 5 object
    label_map[0, 3:8, 8:10] = 7  # touching another on its right
    rims = scene_unet.boundary_pixels(label_map).numpy()[0].astype(bool)
    expected = np.zeros((12, 12), bool)
    expected[2:9, 2:11] = True  # the objects and a one-pixel ring of background around them ...
    expected[4:7, 4:7] = False  # ... but not the first object's interior
    assert (rims == expected).all()


def test_the_boundary_weight_changes_the_loss():
    import keras

    keras.utils.set_random_seed(0)
    network = scene_unet.build_network()
    images, label_maps = scene_unet.generate("train", 2, objects=4)
    plain = float(scene_unet.batch_loss(network, images.astype(np.float32), label_maps.astype(np.int32), 0.0))
    weighted = float(
        scene_unet.batch_loss(network, images.astype(np.float32), label_maps.astype(np.int32), 2.0)
    )
    assert weighted != pytest.approx(plain, rel=1e-4)
