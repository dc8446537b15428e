"""Fixtures shared by the engine tests of the feature-model pages (DeepDream, Grad-CAM, atlas)."""

import pytest

from engine.core import media, registry
from engine.features import extractors


@pytest.fixture(scope="module")
def loaded(offline_models):
    """The offline ImageNet MobileNetV2 extractors."""
    return registry.load(extractors.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def cat(chelsea_bytes):
    """chelsea.jpg decoded to RGB pixels."""
    return media.decode_image(chelsea_bytes).pixels
