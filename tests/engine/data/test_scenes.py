"""The scenes generator and the metrics every scene model reports."""

import numpy as np
import pytest

from engine.core.errors import InvalidInput
from engine.data import scenes
from engine.ops import metrics as scene_metrics


def test_same_index_same_scene_and_splits_differ():
    first, again = scenes.scene("train", 7), scenes.scene("train", 7)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.boxes, again.boxes)
    assert not np.array_equal(first.image, scenes.scene("test", 7).image)


def test_objects_come_from_their_own_split():
    train, test = scenes._bank("train"), scenes._bank("test")
    train_digits = {glyph.tobytes() for glyph in train.images[3][:2000]}
    assert not any(glyph.tobytes() in train_digits for glyph in test.images[3])


@pytest.mark.parametrize("index", range(6))
def test_boxes_masks_and_label_map_agree(index):
    item = scenes.scene("validation", index)
    assert item.image.shape == (scenes.SIZE, scenes.SIZE, 3) and item.image.dtype == np.uint8
    assert 1 <= len(item.labels) <= scenes.MAX_OBJECTS
    assert len(item.boxes) == len(item.labels) == len(item.masks)
    assert not np.any(item.masks.sum(0) > 1), "visible masks must not overlap"
    for box, label, mask in zip(item.boxes, item.labels, item.masks):
        ys, xs = np.nonzero(mask)
        assert len(xs) > 0
        # the visible pixels lie inside the (unoccluded) box
        assert xs.min() >= box[0] and ys.min() >= box[1] and xs.max() < box[2] and ys.max() < box[3]
        assert np.all(item.label_map[mask] == label + 1)
    assert np.all((item.label_map == 0) == (item.masks.sum(0) == 0))


def test_single_variant_has_one_object_and_batches_pad():
    batch = scenes.batch("train", 0, 5, single=True)
    assert np.all(batch.labels[:, 0] >= 0) and np.all(batch.labels[:, 1:] == -1)
    assert batch.images.shape == (5, scenes.SIZE, scenes.SIZE, 3)


def test_bad_arguments_get_clear_errors():
    with pytest.raises(InvalidInput, match="Splits"):
        scenes.scene("holdout", 0)
    with pytest.raises(InvalidInput):
        scenes.scene("test", -1)
    with pytest.raises(InvalidInput):
        scenes.scene("test", 0, objects=9)


def _detections(boxes, scores, labels):
    return scene_metrics.ImageDetections(
        np.array(boxes, float).reshape(-1, 4), np.array(scores, float), np.array(labels)
    )


def test_map_is_one_for_the_truth_and_zero_for_wrong_classes_or_places():
    truth_boxes = [np.array([[10, 10, 30, 30], [50, 50, 80, 90]], float), np.array([[0, 0, 20, 20]], float)]
    truth_labels = [np.array([1, 2]), np.array([1])]
    perfect = [_detections(b, np.ones(len(b)), labels) for b, labels in zip(truth_boxes, truth_labels)]
    assert scene_metrics.mean_average_precision(perfect, truth_boxes, truth_labels, 3)[
        "map"
    ] == pytest.approx(1.0)
    wrong_class = [
        _detections(b, np.ones(len(b)), (labels + 1) % 3) for b, labels in zip(truth_boxes, truth_labels)
    ]
    assert scene_metrics.mean_average_precision(wrong_class, truth_boxes, truth_labels, 3)["map"] == 0.0
    moved = [_detections(b + 15, np.ones(len(b)), labels) for b, labels in zip(truth_boxes, truth_labels)]
    assert scene_metrics.mean_average_precision(moved, truth_boxes, truth_labels, 3)["map"] == 0.0


def test_map_counts_a_duplicate_as_a_false_positive_and_ranks_by_score():
    truth_boxes, truth_labels = [np.array([[10, 10, 30, 30], [40, 40, 60, 60]], float)], [np.array([0, 0])]
    # ranks: hit (1.0), duplicate of the same object (0.9, false positive), second object (0.8)
    found = [_detections([[10, 10, 30, 30], [11, 11, 30, 30], [40, 40, 60, 60]], [1.0, 0.9, 0.8], [0, 0, 0])]
    # precision at recall 0.5 is 1, at recall 1.0 it is 2/3: AP = 0.5 * 1 + 0.5 * 2/3
    result = scene_metrics.mean_average_precision(found, truth_boxes, truth_labels, 1)
    assert result["map"] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_mean_iou():
    truth = np.array([[0, 0], [1, 1]])
    assert scene_metrics.mean_iou(truth, truth, 2)["mean_iou"] == 1.0
    assert scene_metrics.mean_iou(np.array([[0, 0], [1, 0]]), truth, 2)["mean_iou"] == pytest.approx(
        (2 / 3 + 1 / 2) / 2
    )


def test_roi_align_averages_exactly_one_cell_and_max_pool_takes_its_maximum():
    import tensorflow as tf

    from engine.detection.trained import common as scene_detectors

    features = tf.reshape(tf.range(144, dtype=tf.float32), (1, 12, 12, 1))  # value = 12 * row + column
    cell = np.array([[8, 8, 16, 16]], np.float32)  # feature cell (1, 1) exactly, value 13
    aligned = scene_detectors.roi_features(features, cell, np.array([0]), size=2)[..., 0].numpy()
    assert aligned.mean() == pytest.approx(13.0)
    assert aligned[0, 0, 0] == pytest.approx(12 * 0.75 + 0.75)  # mean of the bin's four bilinear samples
    pooled = scene_detectors.roi_features(features, cell, np.array([0]), size=2, pool="max")[..., 0].numpy()
    assert pooled[0, 1, 1] > aligned[0, 1, 1]
