"""R-CNN and Fast R-CNN on the scenes: box regression, proposals, sampling and the committed weights' mAP."""

import json

import numpy as np
import pytest

from engine.core import registry
from engine.data import scenes
from engine.detection.trained import fast_rcnn
from engine.detection.trained import proposals as scene_proposals
from engine.detection.trained import rcnn as scene_rcnn
from engine.ops import boxes as box_ops

# mAP@0.5 of the committed weights on test scenes 0..49, as measured when they were committed
# (all 500 test scenes: R-CNN 0.8786, Fast R-CNN 0.8772)
MEASURED_MAP = {"rcnn": 0.8955, "fast-rcnn": 0.8792}
MARGIN = 0.01
SUBSET = 50


def test_encode_then_decode_gives_back_the_boxes_in_numpy_and_tensorflow():
    import tensorflow as tf

    rois = np.array([[10, 10, 30, 40], [0, 0, 5, 5], [50, 60, 90, 70]], np.float32)
    truth = np.array([[12, 8, 35, 41], [1, 2, 9, 7], [40, 55, 95, 80]], np.float32)
    for scale in ((1, 1, 1, 1), scene_proposals.BOX_SCALE):
        deltas = scene_proposals.encode_boxes(rois, truth, scale)
        np.testing.assert_allclose(scene_proposals.decode_boxes(rois, deltas, scale), truth, atol=1e-4)
        tensor_deltas = scene_proposals.encode_boxes(tf.constant(rois), tf.constant(truth), scale)
        assert isinstance(tensor_deltas, tf.Tensor)
        np.testing.assert_allclose(tensor_deltas.numpy(), deltas, atol=1e-5)
        np.testing.assert_allclose(
            scene_proposals.decode_boxes(tf.constant(rois), tensor_deltas, scale).numpy(), truth, atol=1e-4
        )
    # the paper's parameterization: centre shift in units of the proposal's size, log size ratio
    np.testing.assert_allclose(
        scene_proposals.encode_boxes([[0, 0, 10, 20]], [[5, 0, 25, 20]]),
        [[1.0, 0.0, np.log(2.0), 0.0]],
        atol=1e-6,
    )


def test_decoding_clips_huge_size_deltas():
    decoded = scene_proposals.decode_boxes([[0, 0, 16, 16]], [[0, 0, 50, 50]])
    assert np.all(np.isfinite(decoded))
    np.testing.assert_allclose(decoded[0, 2] - decoded[0, 0], 1000.0, rtol=1e-4)


def test_selective_search_proposes_boxes_inside_the_scene_that_cover_the_objects():
    hits = total = 0
    for index in range(10):
        item = scenes.scene("validation", index)
        proposals = scene_proposals.selective_search(item.image)
        assert (
            proposals.ndim == 2
            and proposals.shape[1] == 4
            and 0 < len(proposals) <= scene_proposals.MAX_PROPOSALS
        )
        assert proposals.min() >= 0 and proposals.max() <= scenes.SIZE
        assert np.all(proposals[:, 2:] - proposals[:, :2] >= scene_proposals.MIN_PROPOSAL_SIDE)
        hits += int((box_ops.iou_matrix(item.boxes, proposals).max(1) >= 0.5).sum())
        total += len(item.boxes)
    assert hits / total >= 0.9  # 0.972 measured on 60 validation scenes


def test_sampled_regions_are_a_quarter_objects_with_targets_that_reach_their_boxes():
    item = scenes.scene("train", 5)
    proposals = scene_proposals.selective_search(item.image)
    regions, labels, targets = scene_proposals.sample_regions(
        proposals, item.boxes, item.labels, 32, np.random.default_rng(0)
    )
    assert regions.shape == (32, 4) and labels.shape == (32,) and targets.shape == (32, 4)
    candidate_labels, _ = scene_proposals.label_proposals(
        np.concatenate([proposals, item.boxes]), item.boxes, item.labels
    )
    assert (labels > 0).sum() == min(8, (candidate_labels > 0).sum()) > 0  # this scene has 6 object regions
    assert (labels == 0).sum() == 32 - (labels > 0).sum()
    overlaps = box_ops.iou_matrix(regions, item.boxes)
    assert np.all(overlaps[labels > 0].max(1) >= scene_proposals.FOREGROUND_IOU)
    assert np.all(overlaps[labels == 0].max(1) < scene_proposals.BACKGROUND_IOU)
    assert np.all(targets[labels == 0] == 0)
    decoded = scene_proposals.decode_boxes(
        regions[labels > 0], targets[labels > 0], scene_proposals.BOX_SCALE
    )
    best = overlaps[labels > 0].argmax(1)
    np.testing.assert_allclose(decoded, item.boxes[best], atol=1e-3)
    np.testing.assert_array_equal(labels[labels > 0], item.labels[best] + 1)


def test_box_loss_counts_only_objects_and_the_true_class():
    deltas = np.zeros((2, scene_rcnn.NUM_CLASSES * 4), np.float32)
    deltas[0, 4 * 3 : 4 * 4] = 1.0  # class 3's deltas of region 0
    targets = np.zeros((2, 4), np.float32)
    labels = np.array([4, 0], np.int32)  # region 0 is class 3, region 1 background
    assert float(scene_proposals.box_loss(deltas, labels, targets)) == pytest.approx(4 * 0.5 / 2)
    assert float(scene_proposals.box_loss(deltas, np.array([5, 0], np.int32), targets)) == 0.0


def test_both_are_registered_as_detectors():
    for name in ("rcnn", "fast-rcnn"):
        spec = registry.get_spec(name)
        assert spec.task == "detection" and spec.sources[0].reference.startswith("scene_detection/")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rcnn", "fast-rcnn"])
def test_committed_weights_reach_their_map_on_the_first_test_scenes(name):
    from engine.detection.trained import common as scene_detectors

    model = registry.load(name).model.model
    figures = scene_detectors.evaluate(model.predict, SUBSET)
    assert figures["map50"] >= MEASURED_MAP[name] - MARGIN
    found = model.predict(np.stack([scenes.scene("test", index).image for index in range(5)]))
    for detections in found:
        assert np.all(detections.boxes >= 0) and np.all(detections.boxes <= scenes.SIZE)
        assert np.all(np.diff(detections.scores) <= 0)  # best first
        assert set(detections.labels.tolist()) <= set(range(len(scenes.CLASSES)))


@pytest.mark.training
@pytest.mark.parametrize("module", [scene_rcnn, fast_rcnn])
def test_one_training_step_runs_and_reports_its_losses(module, tmp_path, monkeypatch):
    from engine.core import runs

    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path))
    result = module.train(epochs=1, train_scenes=8, validation_scenes=4, max_steps=1, commit=False)
    (epoch,) = result["history"]
    assert epoch["class_loss"] > 0 and epoch["box_loss"] >= 0 and 0 <= epoch["validation_map50"] <= 1
    assert epoch["learning_rate"] == module.LEARNING_RATE and not any(
        tmp_path.iterdir()
    )  # a smoke run writes nothing


@pytest.mark.training
def test_a_finished_run_is_finalized_into_its_run_folder_not_assets(tmp_path, monkeypatch):
    from engine.core import runs
    from tests.conftest import ROOT

    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(
        fast_rcnn.FastRCNNTask,
        "evaluate",
        lambda self, weights: fast_rcnn.evaluate_model(fast_rcnn.build(weights), count=4, timed_scenes=1),
    )
    committed = (ROOT / "assets" / fast_rcnn.WEIGHTS).read_bytes()
    result = fast_rcnn.train(epochs=2, train_scenes=fast_rcnn.SCENES_PER_BATCH, validation_scenes=4)
    assert [entry["learning_rate"] for entry in result["history"]] == pytest.approx(
        [fast_rcnn.LEARNING_RATE, fast_rcnn.LEARNING_RATE * fast_rcnn.LEARNING_RATE_DECAY]
    )
    assert (
        result["scenes"] == 4
        and result["minutes"] > 0
        and result["promote"].startswith("python -m engine promote")
    )
    run = runs.Run.latest("fast-rcnn", tmp_path).path
    outputs = json.loads((run / "run.json").read_text())["outputs"]
    assert [output["asset"] for output in outputs] == [
        fast_rcnn.WEIGHTS,
        "scene_detection/fast_rcnn.history.json",
    ]
    assert outputs[0]["how"].startswith("python -m engine train fast-rcnn --epochs 2 (best of 2 epochs")
    assert json.loads((run / "fast_rcnn.history.json").read_text()) == result["history"]
    assert (ROOT / "assets" / fast_rcnn.WEIGHTS).read_bytes() == committed
