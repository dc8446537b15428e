"""SavedModel export for TF Serving: the served signature gives the Keras model's answers."""

import subprocess
import sys

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.data import text as text_data
from engine.serving import export as serving
from engine.text import sentiment
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


def test_text_cnn_export_serves_the_same_probabilities(tmp_path):
    import tensorflow as tf

    result = serving.export("text-cnn", tmp_path / "text-cnn")
    folder = tmp_path / "text-cnn" / "1"
    assert (
        result.path == str(folder)
        and (folder / "saved_model.pb").is_file()
        and (folder / "variables").is_dir()
    )
    assert (folder / "assets.extra" / "labels.txt").read_text().split() == ["negative", "neutral", "positive"]
    ((name, shape, dtype),) = result.inputs
    assert dtype == "int32" and len(shape) == 2

    classifier: sentiment.TextClassifier = registry.load("text-cnn").model
    reviews = ["The crew was lovely and kind, thank you!", "Delayed again, rude staff, never again."]
    ids = np.stack([classifier.encode(text_data.token_strings(review))[0] for review in reviews]).astype(
        np.int32
    )
    served = tf.saved_model.load(str(folder)).signatures["serving_default"](**{name: tf.constant(ids)})
    probabilities = next(iter(served.values())).numpy()
    expected = np.asarray(classifier.model(ids, training=False))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert list(probabilities.argmax(axis=1)) == [2, 0]  # positive, negative
    (in_session,) = (
        serving.SessionModel(folder).predict({name: ids}).values()
    )  # as TF Serving loads and runs it
    np.testing.assert_allclose(in_session, expected, atol=1e-5)


def test_an_existing_version_is_not_overwritten(tmp_path):
    (tmp_path / "1").mkdir()
    with pytest.raises(InvalidInput, match="exists already"):
        serving.export("text-cnn", tmp_path)


def test_what_tf_serving_cannot_run_is_refused_with_the_reason(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "engine", "export", "haar-face", "--out", str(tmp_path / "x"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "cannot be served by TF Serving" in completed.stderr and "OpenCV Haar cascade" in completed.stderr
    assert "text-cnn" in completed.stderr and "capsnet" in completed.stderr  # the exportable list
    assert not (tmp_path / "x" / "1").exists()
    with pytest.raises(InvalidInput, match="pipeline"):
        serving.export("selective-search-efficientnet", tmp_path / "y")
    with pytest.raises(
        InvalidInput, match="TF Hub model: TF Serving serves the SavedModel published at https://tfhub"
    ):
        serving.export("mask-rcnn-hub", tmp_path / "z")


def test_every_model_here_exports_or_is_refused_with_a_reason():
    here = [spec.name for spec in registry.all_specs() if registry.available_source(spec) is not None]
    exportable = serving.exportable_names()
    assert sorted(exportable + list(serving.REFUSED)) == sorted(here)
    assert {"capsnet", "faster-rcnn", "mask-rcnn", "rcnn", "fast-rcnn", "video-six-ways", "mtcnn"} <= set(
        exportable
    )
    kinds = {name: serving.export_kind(registry.get_spec(name)) for name in exportable}
    assert (
        kinds["efficientnet-lite0"] == kinds["basic-pitch"] == "tflite"
        and kinds["ssdlite-person"] == "frozen graph"
    )
    assert [name for name in serving.TRAINED_KERAS if kinds[name] != "keras"] == []
    for name in serving.TRAINED_KERAS:  # one Keras graph each, so Model.export serves them
        assert serving.keras_model_of(registry.load(name)) is not None, name


def test_tflite_models_are_copied_for_prefer_tflite_model_and_custom_ops_refused(tmp_path):
    from engine.core import assets

    result = serving.export("efficientnet-lite0", tmp_path / "efficientnet-lite0")
    folder = tmp_path / "efficientnet-lite0" / "1"
    assert result.kind == "tflite" and not (folder / "saved_model.pb").exists()
    assert (folder / "model.tflite").read_bytes() == assets.verified_path(
        "efficientnet_lite0.tflite"
    ).read_bytes()
    assert result.inputs == (
        ("images", (1, 224, 224, 3), "uint8"),
    )  # the tensor's name: no SignatureDef in the file
    assert len(result.labels) == 1000 and "Egyptian cat" in result.labels
    pitch = serving.export(
        "basic-pitch", tmp_path / "basic-pitch"
    )  # a file with a SignatureDef: its input name
    assert pitch.inputs == (("input_2", (1, 43844, 1), "float32"),)
    for name in (
        "efficientnet_lite0.tflite",
        "deeplabv3.tflite",
        "face_detection_short_range.tflite",
        "face_detection_full_range_sparse.tflite",
        "basic_pitch_nmp.tflite",
    ):
        assert serving.custom_ops(assets.verified_path(name)) == [], name
    assert serving.custom_ops(assets.verified_path("selfie_segmentation.tflite")) == [
        "Convolution2DTransposeBias"
    ]
    with pytest.raises(InvalidInput, match="custom op Convolution2DTransposeBias"):
        serving.export("selfie-segmentation", tmp_path / "selfie")


@pytest.mark.slow
def test_frozen_graph_detector_serves_the_same_people(tmp_path):
    import tensorflow as tf
    from PIL import Image

    from tests.conftest import SAMPLES

    result = serving.export("ssdlite-person", tmp_path / "ssdlite-person")
    assert result.kind == "frozen graph" and result.inputs == (("images", (None, None, None, 3), "uint8"),)
    pixels = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))[None]
    outputs = tf.saved_model.load(result.path).signatures["serving_default"](images=tf.constant(pixels))
    expected = registry.load("ssdlite-person").model.function(tf.constant(pixels))
    for key, value in zip(
        ("detection_boxes", "detection_scores", "detection_classes", "num_detections"), expected
    ):
        np.testing.assert_allclose(outputs[key].numpy(), value.numpy(), atol=1e-5, err_msg=key)
    assert outputs["detection_scores"].numpy()[0, 0] > 0.8 and outputs["detection_classes"].numpy()[0, 0] == 1
    in_session = serving.SessionModel(result.path).predict(
        {"images": pixels}
    )  # as TF Serving loads and runs it
    np.testing.assert_allclose(in_session["detection_boxes"], outputs["detection_boxes"].numpy(), atol=1e-5)


@pytest.mark.slow
def test_wavenet_export_serves_the_same_next_sample_distributions(tmp_path):
    import tensorflow as tf

    from engine.audio.wavenet import model as wavenet
    from engine.data import notes

    result = serving.export("wavenet", tmp_path / "wavenet")
    assert {name for name, _, _ in result.inputs} == {"codes", "instrument", "pitch", "phase"}
    network = registry.load("wavenet").model.network
    codes = np.random.default_rng(0).integers(0, 256, (2, 300)).astype(np.int32)
    inputs = {
        "codes": codes,
        "instrument": np.array([0, 3], np.int32),
        "pitch": np.array([12, 4], np.int32),
        "phase": wavenet.phase_features(notes.midi_frequency([60, 52]), np.zeros(2), 300),
    }
    served = tf.saved_model.load(result.path).signatures["serving_default"](
        **{name: tf.constant(value) for name, value in inputs.items()}
    )
    logits = next(iter(served.values())).numpy()
    np.testing.assert_allclose(
        logits, np.asarray(network([inputs[k] for k in ("codes", "instrument", "pitch", "phase")])), atol=1e-4
    )
