"""The shareable-link recipe (README, "Share it"): the files a hosted Streamlit platform and the
Dockerfile need are present and consistent. The Docker image itself is not built here (no Docker
engine on these machines); the first-start fetch is tested in tests/pages/test_first_start.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest

from tests.conftest import ROOT


def lines(name: str) -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in (ROOT / name).read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def test_requirements_are_pinned_and_include_pip_for_the_first_start_fetch():
    requirements = lines("requirements.txt")
    assert requirements and all(
        re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in requirements
    )
    assert any(line.startswith(("streamlit==", "tensorflow==")) for line in requirements)
    assert any(line.startswith("pip==") for line in requirements)  # assets.fetch runs `pip download`


def test_packages_txt_names_debian_packages():
    packages = lines("packages.txt")
    assert packages and all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", name) for name in packages)
    if shutil.which("apt-cache") is None:
        pytest.skip("apt-cache is not here to confirm the names")
    for name in packages:
        shown = subprocess.run(["apt-cache", "show", name], capture_output=True, text=True, check=False)
        assert shown.returncode == 0 and f"Package: {name}" in shown.stdout, name


def test_dockerfile_installs_the_same_files_and_bakes_the_assets():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile  # the Python the venv and the pins are made for
    for name in ("requirements.txt", "packages.txt"):
        assert name in dockerfile and (ROOT / name).is_file()
    assert "python -m engine assets fetch" in dockerfile
    assert '"streamlit", "run", "app.py"' in dockerfile and "--server.address=0.0.0.0" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text()
    assert ".venv/" in ignored and ".git/" in ignored


def test_streamlit_config_suits_a_shared_server():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["headless"] is True
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False
