import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.core import assets, media, registry
from engine.core.errors import InvalidInput, InvalidMedia, ModelUnavailable
from engine.segmentation import api as segmentation
from engine.segmentation import render
from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


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
    drawn = render.overlay(pixels, labels, 1.0, visible={8})
    assert (drawn[:2] == render.palette(21)[8]).all()
    assert (drawn[2:] == 100).all()


def test_background_blur_keeps_the_person_and_smooths_the_rest():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    person = np.zeros((64, 64), np.float32)
    person[:, :32] = 1
    edited = render.blur_background(pixels, person, 15)
    assert np.abs(edited[:, :20].astype(int) - pixels[:, :20]).mean() < 2
    assert edited[:, 44:].std() < pixels[:, 44:].std() / 2


def test_wrong_input_is_refused():
    with pytest.raises(InvalidInput):
        segmentation.segment(np.zeros((5, 5), np.float32), registry.load("deeplabv3-voc"))
    with pytest.raises(InvalidMedia):
        segmentation.segment_bytes(b"")


def test_cli_json_and_mask(tmp_path):
    mask_path = tmp_path / "mask.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "segment",
            str(SAMPLES / "chelsea.jpg"),
            "--json",
            "--mask-out",
            str(mask_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["model"] == "deeplabv3-voc" and output["classes"]["cat"] > 0.5
    assert set(output) >= {"model", "classes", "instances", "ms"}
    mask = np.asarray(Image.open(mask_path))
    assert mask.shape == tuple(output["size"][::-1]) and set(np.unique(mask)) <= {0, 8, 15, 12}


class _FakeHub:
    """Stands in for tfhub.dev: records the URLs asked for and answers with fixed bytes (no network)."""

    def __init__(self, reply: bytes | Exception):
        self.reply, self.urls = reply, []

    def __call__(self, url, timeout):
        self.urls.append(url)
        if isinstance(self.reply, Exception):
            raise self.reply
        return io.BytesIO(self.reply)


def _hub_deeplab(monkeypatch, tmp_path, reply) -> _FakeHub:
    fake = _FakeHub(reply)
    monkeypatch.setattr(segmentation.urllib.request, "urlopen", fake)
    monkeypatch.setenv(assets.CACHE_ENV_VAR, str(tmp_path))  # a fresh cache: nothing downloaded yet
    return fake


def test_deeplab_from_tf_hub_is_downloaded_once_and_finds_the_cat(monkeypatch, tmp_path):
    offline = assets.verified_path("deeplabv3.tflite")  # TF Hub's metadata/2 file is this model
    fake = _hub_deeplab(monkeypatch, tmp_path, offline.read_bytes())
    spec = registry.get_spec("deeplabv3-hub")
    assert spec.sources[0].kind == "hub" and spec.sources[0].status() == "network"
    hub_model = spec.builder(spec, spec.sources[0])
    assert fake.urls == [segmentation.DEEPLAB_HUB_HANDLE + "?lite-format=tflite"]
    assert str(hub_model.runtime.path).startswith(str(tmp_path))
    image = media.decode_within((SAMPLES / "chelsea.jpg").read_bytes(), segmentation.MAX_WORKING_SIDE)
    label_map = hub_model.label_map(image.pixels)
    assert hub_model.labels[8] == "cat" and np.mean(label_map == 8) > 0.5
    spec.builder(spec, spec.sources[0])  # second build: from the cache
    assert len(fake.urls) == 1


def test_deeplab_from_tf_hub_without_a_network_says_so(monkeypatch, tmp_path):
    fake = _hub_deeplab(monkeypatch, tmp_path, OSError("no route to host"))
    spec = registry.get_spec("deeplabv3-hub")
    with pytest.raises(ModelUnavailable, match="network connection"):
        spec.builder(spec, spec.sources[0])
    assert len(fake.urls) == 1 and not list(tmp_path.rglob("*.tflite"))


def test_a_hub_reply_that_is_not_tflite_is_refused(monkeypatch, tmp_path):
    _hub_deeplab(monkeypatch, tmp_path, b"<!doctype html><title>Sign in</title>")
    with pytest.raises(ModelUnavailable, match="not a TFLite model"):
        segmentation.hub_tflite_file(segmentation.DEEPLAB_HUB_HANDLE)
    assert not list(tmp_path.rglob("*.tflite"))
    with pytest.raises(InvalidInput, match="not a TF Hub handle"):
        segmentation.hub_tflite_file("https://evil.example/model")
