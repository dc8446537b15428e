"""The multi-graph trained-here models exported as one SavedModel each: reloaded with
tf.saved_model.load and in a TF1 session as TF Serving loads it, the serving signature gives what
the in-process engine gives."""

import pathlib

import numpy as np
import pytest

from engine.core import registry
from engine.serving import export as serving

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


class Served:
    """An export loaded twice: with tf.saved_model.load, and in a TF1 session as TF Serving loads it
    (serving.SessionModel); `predict` checks the two agree and returns NumPy outputs."""

    def __init__(self, result: serving.ExportResult):
        import tensorflow as tf

        self.result = result
        self.saved = tf.saved_model.load(result.path)
        self.session = serving.SessionModel(pathlib.Path(result.path))

    def predict(self, signature: str = "serving_default", **inputs) -> dict:
        import tensorflow as tf

        function = self.saved.signatures[signature]
        specs = function.structured_input_signature[1]
        outputs = {
            name: value.numpy()
            for name, value in function(
                **{name: tf.constant(value, specs[name].dtype) for name, value in inputs.items()}
            ).items()
        }
        in_session = self.session.predict(inputs, signature)
        assert sorted(in_session) == sorted(outputs)
        for name, value in outputs.items():
            np.testing.assert_allclose(in_session[name], value, atol=1e-5, err_msg=name)
        return outputs


def served(name: str, tmp_path_factory) -> Served:
    result = serving.export(name, tmp_path_factory.mktemp(name) / name)
    assert result.kind == "module" and (pathlib.Path(result.path) / "saved_model.pb").is_file()
    assert (
        (pathlib.Path(result.path) / "assets.extra" / "signature.txt")
        .read_text()
        .startswith("Three signatures" if name == "mtcnn" else "serving_default")
    )
    return Served(result)


def test_capsnet_serves_read_digit(tmp_path_factory):
    import cv2

    from engine.capsules import api as capsules

    digits = []
    for character in "3718":  # drawn digits, made MNIST-like as the page does
        canvas = np.full((80, 60), 255, np.uint8)
        cv2.putText(canvas, character, (8, 66), cv2.FONT_HERSHEY_SIMPLEX, 2.4, 0, 7)
        digits.append(capsules.prepare_digit(canvas))
    digits = np.stack(digits)
    model = served("capsnet", tmp_path_factory)
    assert model.result.inputs == (("digits", (None, 28, 28), "uint8"),) and model.result.labels[3] == "3"
    outputs = model.predict(digits=digits)
    readings = [capsules.read_digit(registry.load("capsnet").model, digit) for digit in digits]
    assert list(outputs["predicted"]) == [reading.predicted for reading in readings] == [3, 7, 1, 8]
    np.testing.assert_allclose(outputs["lengths"], np.stack([r.lengths for r in readings]), atol=1e-5)
    np.testing.assert_allclose(outputs["capsules"], np.stack([r.capsules for r in readings]), atol=1e-5)
    pixels = (np.clip(outputs["reconstruction"], 0, 1) * 255).astype(np.uint8).astype(int)
    assert np.abs(pixels - np.stack([r.reconstruction for r in readings])).max() <= 1


def _same_detections(outputs, found, image: int) -> int:
    count = int(outputs["num_detections"][image])
    assert count == len(found.labels)
    np.testing.assert_array_equal(outputs["detection_classes"][image, :count], found.labels)
    np.testing.assert_allclose(outputs["detection_boxes"][image, :count], found.boxes, atol=1e-3)
    np.testing.assert_allclose(outputs["detection_scores"][image, :count], found.scores, atol=1e-5)
    return count


@pytest.mark.parametrize("name", ["faster-rcnn", "mask-rcnn"])
def test_faster_and_mask_rcnn_serve_predict_with_nms_in_the_graph(name, tmp_path_factory):
    from engine.data import scenes

    images = np.stack([scenes.scene("test", index).image for index in range(3)])
    outputs = served(name, tmp_path_factory).predict(images=images)
    network = registry.load(name).model
    found = network.predict(images)
    counts = [_same_detections(outputs, item, image) for image, item in enumerate(found)]
    assert min(counts) >= 2  # real detections were compared, not empty lists
    assert ("detection_masks" in outputs) == (name == "mask-rcnn")
    if name == "mask-rcnn":  # the 28 x 28 masks the engine pastes into the boxes
        features = network._infer(images.astype(np.float32))[0]
        for image, item in enumerate(found):
            expected = network._masks(
                features[image : image + 1],
                item.boxes.astype(np.float32),
                np.zeros(len(item.labels), np.int32),
                item.labels.astype(np.int32),
            ).numpy()
            np.testing.assert_allclose(
                outputs["detection_masks"][image, : len(item.labels)], expected, atol=1e-4
            )


@pytest.mark.parametrize("name", ["rcnn", "fast-rcnn"])
def test_rcnn_family_serves_predict_on_client_proposals(name, tmp_path_factory):
    from engine.data import scenes
    from engine.detection.trained import proposals as scene_proposals

    images = np.stack([scenes.scene("test", index).image for index in range(2)])
    proposals = [scene_proposals.selective_search(image) for image in images]
    padded = np.zeros((len(images), max(len(found) for found in proposals), 4), np.float32)
    for row, found in enumerate(proposals):
        padded[row, : len(found)] = found  # zero rows past each count: padding the signature must ignore
    model = served(name, tmp_path_factory)
    assert [input_name for input_name, _, _ in model.result.inputs] == [
        "images",
        "proposal_counts",
        "proposals",
    ]
    outputs = model.predict(
        images=images, proposals=padded, proposal_counts=[len(found) for found in proposals]
    )
    found = registry.load(name).model.model.predict(images, proposals)
    assert min(_same_detections(outputs, item, image) for image, item in enumerate(found)) >= 2


@pytest.mark.slow
def test_video_serves_all_six_ways(tmp_path_factory):
    from engine.data import clips as video_clips
    from engine.video import models as video_models

    clips = np.stack([video_clips.clip("test", index).frames for index in range(2)])
    outputs = served("video-six-ways", tmp_path_factory).predict(clips=clips)
    ways = registry.load("video-six-ways").model
    assert sorted(outputs) == sorted(video_models.WAYS)
    for way in video_models.WAYS:
        np.testing.assert_allclose(
            outputs[way], video_models.predict(ways, way, clips), atol=1e-5, err_msg=way
        )


def test_mtcnn_serves_its_three_networks(tmp_path_factory):
    model = served("mtcnn", tmp_path_factory)
    assert sorted(model.saved.signatures) == ["onet", "rnet", "serve", "serving_default"]
    detector = registry.load("mtcnn").model
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (1, 40, 52, 3)).astype(np.float32)
    outputs = model.predict(image=image)
    offsets, faces = detector.pnet(image)
    np.testing.assert_allclose(outputs["box_offsets"], offsets.numpy(), atol=1e-5)
    np.testing.assert_allclose(outputs["face_probabilities"], faces.numpy(), atol=1e-5)
    patches = rng.uniform(-1, 1, (3, 48, 48, 3)).astype(np.float32)
    outputs = model.predict("onet", patches=patches)
    for key, expected in zip(("box_offsets", "landmarks", "face_probabilities"), detector.onet(patches)):
        np.testing.assert_allclose(outputs[key], expected.numpy(), atol=1e-5, err_msg=key)
