import json
import subprocess
import sys

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.data import scenes
from engine.segmentation import api as segmentation
from engine.segmentation.unet import model as unet_model
from tests.conftest import ROOT, SAMPLES


@pytest.fixture(scope="module")
def unet() -> unet_model.SceneSegmenter:
    return registry.load("unet").model


def test_architecture_is_a_unet_with_skips_and_transposed_convolutions():
    rows = unet_model.describe_architecture()
    by_name = {row.name: row for row in rows}
    assert [row.name for row in rows if row.kind == "Conv2DTranspose"] == [
        "up3_transpose",
        "up2_transpose",
        "up1_transpose",
        "up0_transpose",
    ]
    # Each skip concatenates the upsampled map with the same-size map of the way down: channels double.
    for level, width in enumerate(unet_model.FILTERS[:-1]):
        side = scenes.SIZE // 2**level
        assert by_name[f"down{level}_relu2"].output_shape == f"{side} x {side} x {width}"
        assert by_name[f"up{level}_transpose"].output_shape == f"{side} x {side} x {width}"
        assert by_name[f"up{level}_skip"].output_shape == f"{side} x {side} x {2 * width}"
    assert by_name["bottleneck_relu2"].output_shape == "6 x 6 x 256"
    # Full-size scores = the top level's 1x1 scores + the three coarse levels' scores, upsampled.
    assert by_name["coarse4_scores"].output_shape == "6 x 6 x 17"
    assert by_name["coarse3_scores"].output_shape == "12 x 12 x 17"
    assert by_name["coarse2_scores"].output_shape == "24 x 24 x 17"
    assert rows[-1].kind == "Add" and rows[-1].output_shape == "96 x 96 x 17"
    assert sum(row.parameters for row in rows) == unet_model.build_network().count_params() == 1953460


def test_a_photo_gets_a_label_map_of_its_own_size(unet):
    pixels = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    label_map = unet.label_map(pixels)
    assert label_map.shape == (120, 200) and label_map.dtype == np.uint8
    assert label_map.max() < len(unet_model.LABELS)


def test_a_scene_through_the_segmentation_entry_point(unet):
    item = scenes.scene("test", 3)  # a "2" and a sandal
    result = segmentation.segment(item.image, registry.load("unet"))
    assert result.labels == unet_model.LABELS and result.label_map.shape == (96, 96)
    present = {unet_model.LABELS[label + 1] for label in item.labels}
    assert present <= set(result.class_shares())


def test_wrong_shapes_are_refused(unet):
    with pytest.raises(InvalidInput):
        unet.scores(np.zeros((2, 64, 64, 3), np.uint8))


@pytest.mark.slow
def test_cli_segments_a_photo_with_the_unet():
    result = subprocess.run(
        [sys.executable, "-m", "engine", "segment", str(SAMPLES / "coffee.jpg"), "--model", "unet", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["model"] == "unet" and output["labels"] == list(unet_model.LABELS)
    assert abs(sum(output["classes"].values()) - 1) < 1e-3


@pytest.mark.parametrize("shift", [(3, 0), (0, -2), (-3, 3)])
def test_shifted_scenes_and_scores_line_up_again(shift):
    images = np.random.default_rng(1).integers(0, 255, (2, 96, 96, 3)).astype(np.uint8)
    moved = unet_model.shift_scenes(images, shift)
    dx, dy = shift
    assert np.array_equal(moved[:, 40 + dy, 50 + dx], images[:, 40, 50])  # content moved by (dx, dy)
    back = unet_model.shift_back(moved.astype(np.float32), shift)
    assert np.array_equal(back[:, 4:92, 4:92], images[:, 4:92, 4:92])  # and back, away from the lost border


def test_test_time_shifts_give_probabilities_of_the_scene_size(unet, monkeypatch):
    item = scenes.scene("test", 3)
    monkeypatch.setattr(unet_model, "TEST_TIME_SHIFTS", ())
    plain = unet.scores(item.image[None])
    monkeypatch.setattr(unet_model, "TEST_TIME_SHIFTS", ((2, 0), (0, 2)))
    averaged = unet.scores(item.image[None])
    assert averaged.shape == plain.shape == (1, 96, 96, len(unet_model.LABELS))
    assert np.allclose(averaged.sum(-1), 1, atol=1e-4) and not np.allclose(averaged, plain)
