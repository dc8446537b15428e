import keras
import numpy as np
import pytest

from engine.core import weights_io
from engine.core.errors import ModelUnavailable


def small_model(units: int = 4) -> keras.Model:
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(units)(inputs)  # unnamed: Keras numbers it per process
    return keras.Model(inputs, keras.layers.Dense(2)(hidden), name="small")


def test_round_trip_into_a_second_build_with_other_layer_names(tmp_path):
    first, second = small_model(), small_model()
    assert [v.path for v in first.weights] != [v.path for v in second.weights]
    weights_io.save_float16(first, tmp_path / "w.npz")
    weights_io.load_float16(second, tmp_path / "w.npz")
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-3)  # float16 rounding only
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(first.predict_on_batch(x), second.predict_on_batch(x), atol=1e-2)


def test_a_different_architecture_is_refused(tmp_path):
    weights_io.save_float16(small_model(4), tmp_path / "w.npz")
    with pytest.raises(ModelUnavailable, match="expects"):
        weights_io.load_float16(small_model(5), tmp_path / "w.npz")
