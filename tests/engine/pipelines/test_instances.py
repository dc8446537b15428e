"""Instance segmentation: the people pipeline on a photo, label/id maps, TF Hub Mask R-CNN outputs."""

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.pipelines import instances
from engine.segmentation import api as segmentation
from tests.conftest import SAMPLES

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


def _instance(label, score, box, shape=(20, 20)):
    mask = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return instances.Instance(label, score, tuple(float(v) for v in box), mask)


def test_the_astronaut_is_one_person_whose_mask_lies_in_their_box():
    image, result = segmentation.segment_bytes((SAMPLES / "astronaut.jpg").read_bytes(), "ssd-selfie-people")
    assert [item.label for item in result.instances] == ["person"]
    person = result.instances[0]
    assert person.score > 0.8 and person.mask.shape == image.pixels.shape[:2]
    x0, y0, x1, y1 = person.box
    ys, xs = np.nonzero(person.mask)
    assert person.area > 0.25 * person.mask.size  # the astronaut fills much of the photo
    pad = 0.1 * max(x1 - x0, y1 - y0) + 1  # the selfie model sees the box grown by 10 % per side
    assert xs.min() >= x0 - pad and xs.max() <= x1 + pad and ys.min() >= y0 - pad and ys.max() <= y1 + pad
    assert result.to_json()["instances"][0]["area"] == person.area
    assert np.array_equal(result.label_map == 1, person.mask)


def test_no_people_on_the_coffee_photo():
    _, result = segmentation.segment_bytes((SAMPLES / "coffee.jpg").read_bytes(), "ssd-selfie-people")
    assert result.instances == () and not result.label_map.any()


def test_maps_put_the_best_instance_on_top():
    low, high = _instance("cat", 0.6, (0, 0, 10, 10)), _instance("dog", 0.9, (5, 5, 15, 15))
    labels = ("background", "cat", "dog")
    painted = instances.label_map([low, high], labels, (20, 20))
    assert painted[7, 7] == 2 and painted[2, 2] == 1 and painted[18, 18] == 0
    ids = instances.id_map([low, high], (20, 20))
    assert ids[7, 7] == 2 and ids[2, 2] == 1
    drawn = instances.draw(np.zeros((20, 20, 3), np.uint8), [low, high])
    assert drawn.shape == (20, 20, 3) and drawn[7, 7].any()


def test_box_relative_masks_are_pasted_into_their_boxes():
    pasted = instances.paste_box_mask(np.ones((33, 33), np.float32), (10, 20, 30, 25), (40, 50))
    assert pasted.sum() == 20 * 5 and pasted[20:25, 10:30].all()


def test_hub_mask_rcnn_decodes_object_detection_api_masks(tmp_path):
    """A SavedModel in the TF2 Object Detection API's Mask R-CNN format, written here (no network)."""
    import tensorflow as tf

    class Fixed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
        def __call__(self, images):
            masks = tf.concat([tf.ones((1, 1, 33, 33)), tf.zeros((1, 1, 33, 33))], axis=1)
            return {
                "detection_boxes": tf.constant([[[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]]]),
                "detection_scores": tf.constant([[0.9, 0.3]]),
                "detection_classes": tf.constant([[18.0, 1.0]]),
                "num_detections": tf.constant([2.0]),
                "detection_masks": masks,
            }

    tf.saved_model.save(Fixed(), str(tmp_path / "mask_rcnn"))
    found = instances.HubMaskRCNN(str(tmp_path / "mask_rcnn")).instances(np.zeros((100, 200, 3), np.uint8))
    assert [item.label for item in found] == ["dog"]  # the 0.3 person is below MIN_SCORE
    assert found[0].mask[10:50, 40:120].all() and found[0].area == 40 * 80


def test_a_detector_is_not_a_segmentation_model():
    with pytest.raises(InvalidInput, match="not a segmentation model"):
        segmentation.segment_bytes(b"x", "ssdlite-person")
    with pytest.raises(InvalidInput, match="not a segmentation model"):
        segmentation.segment(np.zeros((8, 8, 3), np.uint8), registry.load("haar-face"))
