import numpy as np
import pytest

from engine.core import weights_io
from engine.segmentation.unet import evaluation, grow, model


@pytest.mark.slow
def test_growing_the_three_level_unet_keeps_its_scores(tmp_path):
    """`grow` maps a trained 3-level U-Net into the 4-level one; at inference the two give the same scores."""
    small = model.build_network(model.FILTERS[:-1], coarse_heads=2)
    rng = np.random.default_rng(0)
    for variable in small.weights:  # random weights and batch statistics, as a trained network would have
        values = rng.normal(0.0, 0.2, variable.shape)
        variable.assign(np.abs(values) + 0.5 if "variance" in variable.path else values)
    path = tmp_path / "three_level.npz"
    weights_io.save_float16(small, path, dtype=np.float32)
    assert model.is_three_level(path)
    grown = model.build_network()
    images, _ = evaluation.generate("validation", 6)
    grow.grow(grown, path, images[:4])
    before = np.asarray(small.predict_on_batch(images.astype(np.float32)))
    after = np.asarray(grown.predict_on_batch(images.astype(np.float32)))
    assert np.abs(after - before).max() < 1e-3 * np.abs(before).max()
    assert np.any(grown.get_layer("bottleneck_conv1").get_weights()[0])  # the new level is not left at zero
    weights_io.save_float16(grown, tmp_path / "four_level.npz", dtype=np.float32)
    assert not model.is_three_level(tmp_path / "four_level.npz")
