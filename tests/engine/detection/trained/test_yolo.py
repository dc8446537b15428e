"""The YOLO-style scene detector: targets, loss, decoding and the committed weights' mAP."""

import json
import pathlib

import numpy as np
import pytest

from engine.core import registry
from engine.data import scenes
from engine.detection.trained import common as scene_detectors
from engine.detection.trained import yolo as scene_yolo

# mAP@0.5 of the committed weights on test scenes 0..99, as measured when they were committed
MEASURED_MAP_100 = 0.8957  # (test scenes 0..499: 0.9242)
MARGIN = 0.01


def _logit(probability):
    probability = np.clip(probability, 1e-6, 1 - 1e-6)
    return np.log(probability / (1 - probability))


def _perfect_output(objects, targets, classes):
    """A raw grid output whose first predictor reproduces the targets exactly."""
    raw = np.full(
        objects.shape + (scene_yolo.BOXES_PER_CELL * 5 + scene_yolo.NUM_CLASSES,), -20.0, np.float32
    )
    raw[..., 0:4] = _logit(targets)
    raw[..., 4] = np.where(objects > 0, _logit(np.full_like(objects, 0.999)), -20.0)
    raw[..., scene_yolo.BOXES_PER_CELL * 5 :] = np.eye(scene_yolo.NUM_CLASSES)[classes] * 30
    return raw


def test_targets_put_each_object_in_the_cell_of_its_centre():
    item = scenes.scene("train", 3)
    objects, targets, classes = scene_yolo.grid_targets(item.boxes, item.labels)
    assert objects.shape == (scene_yolo.GRID, scene_yolo.GRID) and objects.sum() == len(item.labels)
    for box, label in zip(item.boxes, item.labels):
        column, row = ((box[:2] + box[2:]) / 2 // (scenes.SIZE / scene_yolo.GRID)).astype(int)
        assert objects[row, column] == 1 and classes[row, column] == label
        np.testing.assert_allclose(targets[row, column, 2:] ** 2 * scenes.SIZE, box[2:] - box[:2], rtol=1e-5)


def test_loss_is_small_for_a_perfect_output_and_large_for_a_wrong_one():
    images, objects, targets, classes = scene_yolo.scene_arrays("train", 4)
    raw = _perfect_output(objects, targets, classes)
    loss, (coordinates, with_object, without_object, class_loss) = scene_yolo.yolo_loss(
        raw, objects, targets, classes
    )
    assert float(coordinates) < 1e-6 and float(class_loss) < 1e-6 and float(without_object) < 1e-6
    assert float(with_object) < 0.01  # objectness 0.999 against an IoU of 1
    shifted = raw.copy()
    shifted[..., 0] = _logit(np.clip(targets[..., 0] - 0.4, 0, 1))
    assert float(scene_yolo.yolo_loss(shifted, objects, targets, classes)[1][0]) > 0.1


def test_decoding_a_perfect_output_gives_the_true_boxes_and_labels():
    images, objects, targets, classes = scene_yolo.scene_arrays("train", 2)
    boxes, objectness, probabilities = (
        np.asarray(part) for part in scene_yolo.decode_grid(_perfect_output(objects, targets, classes))
    )
    for index in range(2):
        scores = objectness[index][..., None] * probabilities[index][:, :, None, :]
        found = scene_yolo._select(boxes[index].reshape(-1, 4) * scenes.SIZE, scores.reshape(-1, 16), 0.01)
        truth = scenes.scene("train", index)
        assert sorted(found.labels.tolist()) == sorted(truth.labels.tolist())
        for box, label in zip(truth.boxes, truth.labels):
            np.testing.assert_allclose(found.boxes[found.labels == label][0], box, atol=1e-3)


@pytest.fixture(scope="module")
def committed():
    return registry.load("yolo").model


def test_committed_weights_reach_their_map_on_100_test_scenes(committed):
    figures = scene_detectors.evaluate(committed.predict, 100)
    assert figures["map50"] >= MEASURED_MAP_100 - MARGIN


def test_decoded_boxes_lie_inside_the_scene_and_are_sorted(committed):
    found = committed.predict(np.stack([scenes.scene("test", index).image for index in range(5)]))
    for detections in found:
        assert len(detections.boxes) <= scene_yolo.MAX_DETECTIONS
        assert np.all(detections.boxes >= 0) and np.all(detections.boxes <= scenes.SIZE)
        assert np.all(np.diff(detections.scores) <= 0) and np.all(detections.scores >= scene_yolo.MIN_SCORE)


@pytest.mark.training
def test_training_writes_a_run_folder_and_nothing_under_assets(tmp_path, monkeypatch):
    from engine.core import runs
    from tests.conftest import ROOT

    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(scene_yolo, "VALIDATION_SCENES", 10)
    monkeypatch.setattr(
        scene_yolo.YoloTask,
        "evaluate",
        lambda self, weights: scene_yolo.evaluate_model(scene_yolo.build(weights), 10),
    )
    committed = (ROOT / "assets" / scene_yolo.WEIGHTS).read_bytes()
    smoke = scene_yolo.train(epochs=1, train_scenes=2 * scene_yolo.BATCH_SIZE, max_batches=1)
    assert len(smoke["history"]) == 1 and np.isfinite(smoke["history"][0]["loss"]) and "run" not in smoke
    assert not any(tmp_path.iterdir())  # a smoke run writes nothing
    result = scene_yolo.train(epochs=1, train_scenes=scene_yolo.BATCH_SIZE)
    run = pathlib.Path(result["run"])
    assert run.parent == tmp_path / "yolo" and result["scenes"] == 10 and 0 <= result["map50"] <= 1
    summary = json.loads((run / "run.json").read_text())
    assets = [output["asset"] for output in summary["outputs"]]
    assert assets == [scene_yolo.WEIGHTS, "scene_detection/yolo.history.json"]
    assert "python -m engine train yolo --epochs 1" in summary["outputs"][0]["how"]
    assert json.loads((run / "yolo.history.json").read_text())["best_epoch"] == 1
    assert (ROOT / "assets" / scene_yolo.WEIGHTS).read_bytes() == committed
