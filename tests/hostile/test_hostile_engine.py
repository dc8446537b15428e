"""Every hostile file through every engine entry point a page or a CLI command uses.

A refused file must raise the project's own error (a `StudioError`) whose message says why, on one
line; an accepted file must give a real result. Any other exception is a bug a user would see.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.capsules import api as capsules
from engine.classification import classify as classification
from engine.convolutions import catalog as convolutions
from engine.core import media, registry
from engine.core.errors import StudioError
from engine.data import text as text_data
from engine.detection import api as detection
from engine.features import deepdream, explain, extractors
from engine.segmentation import api as segmentation
from engine.text import sentiment
from tests.hostile.corpus import Hostile, image_files, text_files

REFUSED_IMAGES = [item for item in image_files() if not item.accept]
# The 62-megapixel PNG takes about 40 s through every entry point: `make test-fast` leaves it out.
ACCEPTED_IMAGES = [
    pytest.param(item, marks=pytest.mark.slow) if item.name == "huge-but-legal.png" else item
    for item in image_files()
    if item.accept
]
OFFLINE_DETECTORS = (
    "ssdlite-person",
    "blazeface-short",
    "blazeface-full",
    "mtcnn",
    "haar-face",
    "selective-search-efficientnet",
)


def _features():
    loaded = registry.load(extractors.DEFAULT_MODEL)
    return loaded, extractors.feature_model_of(loaded)


def _dream(data: bytes):
    loaded, model = _features()
    settings = deepdream.DreamSettings(tuple(model.dream_layers), steps=1, octaves=1, output_size=256)
    return deepdream.dream(media.decode_image(data, min_side=256).pixels, loaded, settings)


def _detector(name: str):
    return lambda data: detection.detect_bytes(data, name, detection.DetectSettings(0.5, 0.5, 20))


# name -> what a page or command does with the uploaded bytes (the same decode bounds as the page).
IMAGE_ENTRY_POINTS = {
    "decode_image": lambda data: media.decode_image(data),
    "classify_bytes": lambda data: classification.classify_bytes(data),
    "segment_bytes (DeepLab)": lambda data: segmentation.segment_bytes(data, "deeplabv3-voc"),
    "segment_bytes (selfie)": lambda data: segmentation.segment_bytes(data, "selfie-segmentation"),
    **{f"detect_bytes ({name})": _detector(name) for name in OFFLINE_DETECTORS},
    "dream": _dream,
    "gradcam": lambda data: explain.gradcam(
        media.decode_image(data, min_side=explain.GRADCAM_SIDE).pixels, _features()[0]
    ),
    "activation_maps": lambda data: explain.activation_maps(
        media.decode_image(data, min_side=448).pixels, _features()[0], _features()[1].layers[3], 8
    ),
    # the engine's own bound; pages/convolutions.py itself gets every image in test_hostile_pages.py
    "convolutions.apply_to_image": lambda data: convolutions.apply_to_image(
        media.decode_within(data, convolutions.MAX_EFFECT_SIDE, min_side=256).pixels
    ),
    "capsules.prepare_digit": lambda data: capsules.prepare_digit(
        media.decode_image(data, min_side=56).pixels
    ),
}
# Accepted images some views still refuse, for a reason the message gives.
EXPECTED_REFUSALS = {
    ("dream", "long-strip.png"): "less elongated",
    ("dream", "tall-strip-ok.jpg"): "less elongated",
    **{
        ("capsules.prepare_digit", name): "no digit"
        for name in ("one-pixel.png", "tall-strip-ok.jpg", "all-black.jpg", "huge-but-legal.png")
    },
}


def assert_clear(error: StudioError, item: Hostile) -> None:
    message = str(error)
    assert message and "\n" not in message and len(message) < 400, message
    assert "Traceback" not in message and 'File "' not in message
    assert item.refusal in message.lower(), f"{item.name}: {message!r} lacks {item.refusal!r}"


def test_the_convolution_effects_refuse_an_image_larger_than_they_need():
    with pytest.raises(StudioError, match="resize it"):
        convolutions.apply_to_image(np.zeros((10, convolutions.MAX_EFFECT_SIDE + 1, 3), np.uint8))


def test_the_corpus_is_large_and_mixed():
    assert len(image_files()) + len(text_files()) >= 40
    assert len(REFUSED_IMAGES) >= 15 and len(ACCEPTED_IMAGES) >= 8
    assert any(len(item.data) >= 1_000_000 for item in text_files())  # 1 MB of text
    bomb = next(item for item in image_files() if item.name == "bomb-144mp.png")
    assert len(bomb.data) < 100_000  # a real bomb: small file, 144 megapixels inside


@pytest.mark.parametrize("item", REFUSED_IMAGES, ids=lambda item: item.name)
def test_refused_images_get_a_clear_message_from_every_entry_point(item):
    for entry in IMAGE_ENTRY_POINTS.values():
        with pytest.raises(StudioError) as caught:
            entry(item.data)
        assert_clear(caught.value, item)


@pytest.mark.parametrize("item", ACCEPTED_IMAGES, ids=lambda item: item.name)
def test_odd_but_valid_images_give_results_everywhere(item):
    for name, entry in IMAGE_ENTRY_POINTS.items():
        expected = EXPECTED_REFUSALS.get((name, item.name))
        if expected:
            with pytest.raises(StudioError, match=f"(?i){expected}"):
                entry(item.data)
            continue
        try:
            result = entry(item.data)
        except StudioError as error:  # pragma: no cover - the failure message names the pair
            pytest.fail(f"{name} refused {item.name} ({item.why}): {error}")
        if name == "classify_bytes":
            assert len(result.top) == 5 and 0.0 <= result.top[0].score <= 1.0
        elif name.startswith("segment_bytes"):
            image, segmented = result
            assert segmented.label_map.shape == image.pixels.shape[:2]
        elif name.startswith("detect_bytes"):
            pixels, scale, found = result
            assert all(0 <= box.score <= 1 and np.isfinite(box.box).all() for box in found.detections)
        elif name == "dream":
            assert result.pixels.dtype == np.uint8 and np.isfinite(result.losses).all()
        elif name == "gradcam":
            assert np.isfinite(result.heatmap).all()


@pytest.mark.parametrize("item", text_files(), ids=lambda item: item.name)
def test_text_files_are_labelled_or_refused_clearly(item):
    if not item.accept:
        with pytest.raises(StudioError) as caught:
            sentiment.sentiment(text_data.decode_text(item.data))
        assert_clear(caught.value, item)
        return
    result = sentiment.sentiment(text_data.decode_text(item.data))
    assert result.label in result.probabilities
    assert abs(sum(result.probabilities.values()) - 1) < 1e-3
    assert len(result.text) <= text_data.MAX_TEXT_CHARS
    if len(item.data) > text_data.MAX_TEXT_CHARS:
        assert "only the first" in result.notice
