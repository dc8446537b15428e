"""SavedModel export for TF Serving: the served signature gives the Keras model's answers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from engine import registry, serving, text, text_data
from engine.errors import InvalidInput
from tests.conftest import ROOT


def test_text_cnn_export_serves_the_same_probabilities(tmp_path):
    import tensorflow as tf

    result = serving.export("text-cnn", tmp_path / "text-cnn")
    folder = tmp_path / "text-cnn" / "1"
    assert result.path == str(folder) and (folder / "saved_model.pb").is_file() and (folder / "variables").is_dir()
    assert (folder / "assets.extra" / "labels.txt").read_text().split() == ["negative", "neutral", "positive"]
    (name, shape, dtype), = result.inputs
    assert dtype == "int32" and len(shape) == 2

    classifier: text.TextClassifier = registry.load("text-cnn").model
    reviews = ["The crew was lovely and kind, thank you!", "Delayed again, rude staff, never again."]
    ids = np.stack([classifier.encode(text_data.token_strings(review))[0] for review in reviews]).astype(np.int32)
    served = tf.saved_model.load(str(folder)).signatures["serving_default"](**{name: tf.constant(ids)})
    probabilities = next(iter(served.values())).numpy()
    expected = np.asarray(classifier.model(ids, training=False))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert list(probabilities.argmax(axis=1)) == [2, 0]  # positive, negative


def test_an_existing_version_is_not_overwritten(tmp_path):
    (tmp_path / "1").mkdir()
    with pytest.raises(InvalidInput, match="exists already"):
        serving.export("text-cnn", tmp_path)


def test_models_outside_keras_are_refused_with_the_exportable_list(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "engine", "export", "efficientnet-lite0", "--out",
                                str(tmp_path / "x"), "--json"], cwd=ROOT, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "is not one Keras graph" in completed.stderr and "text-cnn" in completed.stderr
    assert not (tmp_path / "x" / "1").exists()
    assert json.dumps(serving.exportable_names())  # plain names


def test_every_listed_trained_here_model_is_one_keras_graph():
    listed = [name for name in serving.exportable_names() if name in serving.TRAINED_KERAS]
    assert sorted(listed) == sorted(serving.TRAINED_KERAS)  # all have committed weights
    for name in listed:
        assert serving.keras_model_of(registry.load(name)) is not None, name
    for name in ("capsnet", "faster-rcnn", "rcnn", "video-six-ways"):  # several graphs: not listed, refused
        assert name not in serving.exportable_names() and serving.keras_model_of(registry.load(name)) is None


def test_wavenet_export_serves_the_same_next_sample_distributions(tmp_path):
    import tensorflow as tf

    from engine import audio_notes, wavenet

    result = serving.export("wavenet", tmp_path / "wavenet")
    assert {name for name, _, _ in result.inputs} == {"codes", "instrument", "pitch", "phase"}
    network = registry.load("wavenet").model.network
    codes = np.random.default_rng(0).integers(0, 256, (2, 300)).astype(np.int32)
    inputs = {"codes": codes, "instrument": np.array([0, 3], np.int32), "pitch": np.array([12, 4], np.int32),
              "phase": wavenet.phase_features(audio_notes.midi_frequency([60, 52]), np.zeros(2), 300)}
    served = tf.saved_model.load(result.path).signatures["serving_default"](
        **{name: tf.constant(value) for name, value in inputs.items()})
    logits = next(iter(served.values())).numpy()
    np.testing.assert_allclose(logits, np.asarray(network([inputs[k] for k in ("codes", "instrument", "pitch", "phase")])),
                               atol=1e-4)
