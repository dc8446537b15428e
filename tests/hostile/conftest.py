"""Most hostile inputs go through pages, CLI commands and engine entry points that load fetched models."""

import pytest


@pytest.fixture(autouse=True)
def _models(offline_models):
    """The fetched model files, verified once per session."""
