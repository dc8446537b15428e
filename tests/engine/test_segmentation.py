import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine import registry, segmentation, segmentation_render
from engine.errors import InvalidInput, InvalidMedia
from tests.conftest import ROOT, SAMPLES


def shares_of(name: str, model: str) -> dict[str, float]:
    _, result = segmentation.segment_bytes((SAMPLES / f"{name}.jpg").read_bytes(), model)
    return result.class_shares()


def test_deeplab_finds_the_cat_and_the_astronaut():
    cat = shares_of("chelsea", "deeplabv3-voc")
    assert cat.get("cat", 0) > 0.5
    person = shares_of("astronaut", "deeplabv3-voc")
    assert person.get("person", 0) > 0.3 and person.get("cat", 0) < 0.01


def test_selfie_mask_covers_the_astronaut_but_not_the_corners():
    _, result = segmentation.segment_bytes((SAMPLES / "astronaut.jpg").read_bytes(), "selfie-segmentation")
    mask = result.label_map
    assert 0.3 < mask.mean() < 0.8
    height, width = mask.shape
    assert mask[height // 3, width // 2] == 1  # the face
    assert mask[5, 5] == 0  # top-left corner is background


def test_label_map_has_the_photo_size_and_valid_values():
    image, result = segmentation.segment_bytes((SAMPLES / "coffee.jpg").read_bytes())
    assert result.label_map.shape == image.pixels.shape[:2]
    assert result.label_map.max() < len(result.labels) == 21
    assert abs(sum(result.class_shares().values()) - 1) < 1e-6


def test_overlay_colours_only_visible_classes():
    pixels = np.full((4, 4, 3), 100, np.uint8)
    labels = np.zeros((4, 4), np.uint8)
    labels[:2] = 8  # cat
    labels[2:, :2] = 15  # person
    drawn = segmentation_render.overlay(pixels, labels, 1.0, visible={8})
    assert (drawn[:2] == segmentation_render.palette(21)[8]).all()
    assert (drawn[2:] == 100).all()


def test_background_blur_keeps_the_person_and_smooths_the_rest():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    person = np.zeros((64, 64), np.float32)
    person[:, :32] = 1
    edited = segmentation_render.blur_background(pixels, person, 15)
    assert np.abs(edited[:, :20].astype(int) - pixels[:, :20]).mean() < 2
    assert edited[:, 44:].std() < pixels[:, 44:].std() / 2


def test_wrong_input_is_refused():
    with pytest.raises(InvalidInput):
        segmentation.segment(np.zeros((5, 5), np.float32), registry.load("deeplabv3-voc"))
    with pytest.raises(InvalidMedia):
        segmentation.segment_bytes(b"")


def test_cli_json_and_mask(tmp_path):
    mask_path = tmp_path / "mask.png"
    result = subprocess.run([sys.executable, "-m", "engine", "segment", str(SAMPLES / "chelsea.jpg"), "--json",
                             "--mask-out", str(mask_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["model"] == "deeplabv3-voc" and output["classes"]["cat"] > 0.5
    assert set(output) >= {"model", "classes", "instances", "ms"}
    mask = np.asarray(Image.open(mask_path))
    assert mask.shape == tuple(output["size"][::-1]) and set(np.unique(mask)) <= {0, 8, 15, 12}
