"""Every page loads fetched models (AppTest runs the page itself)."""

import pytest


@pytest.fixture(autouse=True)
def _models(offline_models):
    """The fetched model files, verified once per session."""
