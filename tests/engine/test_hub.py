"""The TF Hub path, run for real against a SavedModel folder this test writes (no network)."""

import numpy as np
import pytest

from engine import classification
from engine.errors import InvalidInput, ModelUnavailable


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


def test_saved_model_folder_loads_through_hub_keras_layer(color_classifier_folder):
    loaded = classification.load_custom_hub(str(color_classifier_folder))
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


def test_folder_without_saved_model_is_refused(tmp_path):
    with pytest.raises(ModelUnavailable, match="not a SavedModel folder"):
        classification.load_custom_hub(str(tmp_path))


def test_empty_reference_is_refused():
    with pytest.raises(InvalidInput, match="TF Hub handle"):
        classification.load_custom_hub("   ")
