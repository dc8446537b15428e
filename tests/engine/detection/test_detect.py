"""Detection: box utilities, the offline detectors on the sample photos, bad input, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.core import registry
from engine.core.errors import InvalidInput, InvalidMedia, UnknownModel
from engine.detection import api as detection
from engine.detection.faces import FULL_RANGE, SHORT_RANGE, ssd_anchor_centres
from engine.ops import boxes
from tests.conftest import ROOT, SAMPLES, encode

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files

FAST_OFFLINE = ["ssdlite-person", "blazeface-short", "blazeface-full", "mtcnn", "haar-face"]


def astronaut() -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))


def run(name: str, pixels: np.ndarray, **settings) -> detection.DetectionResult:
    return detection.detect(pixels, registry.load(name), detection.DetectSettings(**settings))


# --- box utilities -----------------------------------------------------------------------------


def test_iou_of_known_boxes():
    first = [[0, 0, 10, 10]]
    second = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]
    np.testing.assert_allclose(boxes.iou_matrix(first, second), [[1.0, 50 / 150, 0.0]])


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones():
    found = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]
    assert boxes.nms(found, [0.6, 0.9, 0.5], iou_threshold=0.5).tolist() == [1, 2]
    assert boxes.nms(found, [0.6, 0.9, 0.5], iou_threshold=0.99).tolist() == [1, 0, 2]


def test_class_nms_never_suppresses_across_labels():
    found = [[0, 0, 10, 10], [1, 1, 11, 11]]
    assert sorted(boxes.class_nms(found, [0.9, 0.8], ["cat", "dog"], 0.3).tolist()) == [0, 1]
    assert boxes.class_nms(found, [0.9, 0.8], ["cat", "cat"], 0.3).tolist() == [0]


def test_weighted_nms_averages_a_cluster_by_score():
    merged, scores = boxes.weighted_nms(
        [[0, 0, 10, 10], [2, 0, 12, 10], [40, 40, 50, 50]], [0.75, 0.25, 0.5], 0.3
    )
    np.testing.assert_allclose(merged[0], [0.5, 0, 10.5, 10])
    np.testing.assert_allclose(scores, [0.75, 0.5])


def test_clip_and_draw():
    clipped = boxes.clip_boxes([[-5, -5, 30, 8]], width=20, height=10)
    np.testing.assert_allclose(clipped, [[0, 0, 20, 8]])
    canvas = np.zeros((40, 60, 3), np.uint8)
    drawn = boxes.draw_boxes(canvas, [[10, 15, 50, 35]], ["person 0.9"])
    assert canvas.max() == 0 and drawn[25, 10].max() > 0 and drawn[25, 30].max() == 0  # outline, hollow


def test_blazeface_anchor_counts_match_the_models():
    short = ssd_anchor_centres(SHORT_RANGE)
    assert len(short) == 896 and len(ssd_anchor_centres(FULL_RANGE)) == 2304
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[-1], [7.5 / 8, 7.5 / 8])


# --- detectors on real photos -------------------------------------------------------------------


def test_person_detector_finds_the_astronaut():
    result = run("ssdlite-person", astronaut())
    assert [found.label for found in result.detections] == ["person"]
    person = result.detections[0]
    assert person.score > 0.8
    x0, y0, x1, y1 = person.box
    assert (x1 - x0) * (y1 - y0) > 0.4 * 512 * 512  # she fills most of the photo


def test_person_detector_finds_two_people_side_by_side():
    pair = np.concatenate([astronaut(), astronaut()[:, ::-1]], axis=1)  # 1024 x 512, two people
    people = run("ssdlite-person", pair).detections
    assert len(people) == 2 and min(found.score for found in people) > 0.5
    left, right = sorted(people, key=lambda found: found.box[0])
    assert left.box[2] <= 600 and right.box[0] >= 424


@pytest.mark.parametrize("name", FAST_OFFLINE)
def test_boxes_lie_inside_the_image(name):
    pixels = np.ascontiguousarray(astronaut()[40:, :300])  # faces and people cut by the border
    result = run(name, pixels, min_score=0.05)
    assert result.image_size == (300, 472)
    assert result.detections, f"{name} found nothing"
    for found in result.detections:
        x0, y0, x1, y1 = found.box
        assert 0 <= x0 < x1 <= 300 and 0 <= y0 < y1 <= 472
        assert 0 <= found.score <= 1


def test_face_detectors_agree_on_the_astronauts_face():
    pixels = astronaut()
    faces = {name: run(name, pixels).detections[0] for name in ("blazeface-short", "blazeface-full", "mtcnn")}
    assert faces["mtcnn"].score > 0.99 and faces["blazeface-short"].score > 0.8
    reference = faces["blazeface-short"].box
    for name, face in faces.items():
        assert boxes.iou_matrix([reference], [face.box])[0, 0] > 0.6, name


@pytest.mark.parametrize("name", ["blazeface-full", "mtcnn", "ssdlite-person"])
def test_no_faces_or_people_on_the_coffee_cup(name, coffee_bytes):
    _, _, result = detection.detect_bytes(coffee_bytes, name)
    assert result.detections == ()


def test_boxes_are_in_input_image_pixels_after_reduced_decoding():
    big = np.asarray(Image.fromarray(astronaut()).resize((2048, 2048), Image.BICUBIC))
    pixels, scale, result = detection.detect_bytes(encode(big, "JPEG", quality=90), "blazeface-short")
    assert scale < 0.6 and max(pixels.shape) <= detection.MAX_WORKING_SIDE
    assert result.image_size == (2048, 2048)
    small = run("blazeface-short", astronaut()).detections[0].box
    np.testing.assert_allclose(result.detections[0].box, np.asarray(small) * 4, atol=24)


def test_refilter_matches_a_direct_run():
    pixels = np.concatenate([astronaut(), astronaut()], axis=1)
    loaded = registry.load("ssdlite-person")
    raw = detection.detect(pixels, loaded, detection.DetectSettings(0.0, 1.0), max_detections=2000)
    for settings in (detection.DetectSettings(0.5, 0.5), detection.DetectSettings(0.05, 0.2)):
        direct = detection.detect(pixels, loaded, settings)
        assert detection.refilter(raw, settings).detections == direct.detections


def test_rcnn_style_pipeline_names_the_coffee_and_reports_progress(coffee_bytes):
    reports = []
    _, _, result = detection.detect_bytes(
        coffee_bytes,
        "selective-search-efficientnet",
        detection.DetectSettings(0.5, 0.5, max_proposals=60),
        on_progress=lambda fraction, message, preview=None: reports.append(fraction),
    )
    assert result.detections[0].label == "espresso"
    assert reports[0] == 0.0 and reports[-1] == 1.0 and len(reports) >= 4


def test_rcnn_style_pipeline_stops_when_asked():
    loaded = registry.load("selective-search-efficientnet")
    result = detection.detect(
        astronaut(), loaded, detection.DetectSettings(0.0, 0.5, 200), should_stop=lambda: True
    )
    assert result.stopped and result.detections == ()


def test_hub_detector_decodes_object_detection_api_outputs(tmp_path):
    """A SavedModel in the TF2 Object Detection API's format, written here (no network)."""
    import tensorflow as tf

    from engine.detection.objects import HubDetector

    class Fixed(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
        def __call__(self, images):
            return {
                "detection_boxes": tf.constant([[[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]]]),
                "detection_scores": tf.constant([[0.9, 0.3]]),
                "detection_classes": tf.constant([[18.0, 1.0]]),
                "num_detections": tf.constant([2.0]),
            }

    tf.saved_model.save(Fixed(), str(tmp_path / "detector"))
    found = HubDetector(str(tmp_path / "detector")).find(
        np.zeros((100, 200, 3), np.uint8), detection.DetectSettings(), None, None
    )
    assert found.labels == ["dog", "person"]
    np.testing.assert_allclose(found.boxes[0], [40, 10, 120, 50])


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: detection.detect_bytes(b"hello", "ssdlite-person"), InvalidMedia, "not an image"),
        (lambda: detection.detect_bytes(b"", "ssdlite-person"), InvalidMedia, "empty"),
        (lambda: detection.detect_bytes(b"x", "yolo-9000"), UnknownModel, "ssdlite-person"),
        (lambda: detection.detect_bytes(b"x", "efficientnet-lite0"), InvalidInput, "not a detector"),
        (
            lambda: detection.detect_bytes(b"x", "mtcnn", detection.DetectSettings(min_score=1.5)),
            InvalidInput,
            "between 0 and 1",
        ),
        (
            lambda: detection.detect_bytes(b"x", "mtcnn", detection.DetectSettings(max_proposals=0)),
            InvalidInput,
            "proposals",
        ),
        (
            lambda: detection.detect(np.zeros((8, 8), np.uint8), registry.load("haar-face")),
            InvalidInput,
            "RGB",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_detect_command_prints_the_documented_json():
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "detect",
            str(SAMPLES / "astronaut.jpg"),
            "--model",
            "blazeface-short",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout)
    assert output["model"] == "blazeface-short" and output["ms"] > 0
    assert [found["label"] for found in output["detections"]] == ["face"]
    assert (
        set(output["detections"][0]) == {"label", "score", "box"} and len(output["detections"][0]["box"]) == 4
    )


def test_detect_command_refuses_a_text_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("hello")
    completed = subprocess.run(
        [sys.executable, "-m", "engine", "detect", str(tmp_path / "notes.jpg"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.startswith("error:") and "not an image" in completed.stderr
