"""The TF Hub path, run for real against a SavedModel folder this test writes (no network)."""

import numpy as np
import pytest

from engine.classification import classify as classification
from engine.core import runtime
from engine.core.errors import InvalidInput, ModelUnavailable


@pytest.fixture(scope="module")
def color_classifier_folder(tmp_path_factory):
    """A SavedModel in TF Hub's image-classifier format: [0,1] images in, 1001 logits out.

    Its logits are a fixed linear map of the mean colour: red images score class 1 ("tench",
    after TF Hub's background class 0), green ones class 2 ("goldfish").
    """
    import tensorflow as tf

    weights = np.zeros((3, 1001), np.float32)
    weights[0, 1] = 10.0
    weights[1, 2] = 10.0

    class ColorClassifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(weights, trainable=False)

        @tf.function(input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32)])
        def __call__(self, images):
            return tf.matmul(tf.reduce_mean(images, axis=[1, 2]), self.weights)

    folder = tmp_path_factory.mktemp("hub") / "color_classifier"
    tf.saved_model.save(ColorClassifier(), str(folder))
    return folder


@pytest.fixture
def allowed_models(color_classifier_folder, monkeypatch):
    """The server allows SavedModels from the folder that holds the test model."""
    monkeypatch.setenv(runtime.MODEL_DIR_ENV_VAR, str(color_classifier_folder.parent))
    return color_classifier_folder.parent


def test_saved_model_folder_loads_through_hub_keras_layer(color_classifier_folder, allowed_models):
    loaded = classification.load_custom_hub(color_classifier_folder.name)  # a name inside the allowed folder
    assert type(loaded.model.model).__module__.startswith("tf_keras")
    red = np.zeros((300, 400, 3), np.uint8)
    red[..., 0] = 255
    green = np.zeros((50, 60, 3), np.uint8)
    green[..., 1] = 255
    assert classification.classify(red, loaded, 1).top[0].label == "tench"
    result = classification.classify(green, loaded, 3)
    assert result.top[0].label == "goldfish"
    assert result.top[0].score > 0.9  # logits went through softmax
    assert "TF Hub" in result.source


def test_folder_without_saved_model_is_refused(allowed_models):
    (allowed_models / "empty").mkdir(exist_ok=True)
    with pytest.raises(ModelUnavailable, match="not a SavedModel folder"):
        classification.load_custom_hub("empty")


def test_absolute_path_inside_the_allowed_folder_is_accepted(color_classifier_folder, allowed_models):
    assert runtime.user_model_reference(str(color_classifier_folder)) == str(
        color_classifier_folder.resolve()
    )


@pytest.mark.parametrize("reference", ["/etc", "../../etc", "color_classifier/../../..", "/"])
def test_paths_outside_the_allowed_folder_are_refused(reference, allowed_models):
    with pytest.raises(InvalidInput, match="outside the model folder"):
        classification.load_custom_hub(reference)


def test_a_link_out_of_the_allowed_folder_is_refused(allowed_models, tmp_path):
    (allowed_models / "escape").unlink(missing_ok=True)
    (allowed_models / "escape").symlink_to(tmp_path)
    with pytest.raises(InvalidInput, match="outside the model folder"):
        classification.load_custom_hub("escape")


def test_local_folders_are_off_unless_the_server_allows_them(color_classifier_folder, monkeypatch):
    monkeypatch.delenv(runtime.MODEL_DIR_ENV_VAR, raising=False)
    with pytest.raises(InvalidInput, match="turned off on this server"):
        classification.load_custom_hub(str(color_classifier_folder))


@pytest.mark.parametrize(
    "reference",
    [
        "file:///etc/passwd",
        "http://tfhub.dev/google/x/1",
        "gs://bucket/model",
        "https://evil.example/model",
        "https://tfhub.dev.evil.example/x",
        "https://tfhub.dev/../../etc",
    ],
)
def test_only_tfhub_and_kaggle_handles_reach_the_web(reference, monkeypatch):
    monkeypatch.delenv(runtime.MODEL_DIR_ENV_VAR, raising=False)
    with pytest.raises(InvalidInput):
        classification.load_custom_hub(reference)


@pytest.mark.parametrize(
    "handle",
    [
        classification.CHAPTER_HUB_HANDLE,
        "https://www.kaggle.com/models/google/mobilenet-v2/tensorFlow2/100-224-classification/2",
    ],
)
def test_hub_handles_pass_unchanged(handle):
    assert runtime.user_model_reference(handle) == handle


def test_empty_reference_is_refused():
    with pytest.raises(InvalidInput, match="TF Hub handle"):
        classification.load_custom_hub("   ")
