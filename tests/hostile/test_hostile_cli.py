"""Every CLI command that reads a file, given every hostile file: one line on stderr, exit 2.

All files x all commands run through `tests.hostile.cli_driver` (one interpreter, each command as
a process sees it); a sample also runs as real subprocesses, and accepted files give exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import conftest
from tests.conftest import ROOT
from tests.hostile.corpus import Hostile, image_files, sample, text_files

# command -> argv after the command name, given the input file and a scratch folder
IMAGE_COMMANDS = {
    "classify": lambda path, scratch: ["classify", path, "--json"],
    "segment": lambda path, scratch: ["segment", path, "--json", "--mask-out", str(scratch / "mask.png")],
    "detect": lambda path, scratch: ["detect", path, "--json", "--out", str(scratch / "boxes.png")],
    "gradcam": lambda path, scratch: ["gradcam", path, "--json", "--out", str(scratch / "cam.png")],
    "dream": lambda path, scratch: [
        "dream",
        path,
        "--json",
        "--out",
        str(scratch / "dream.png"),
        "--steps",
        "1",
        "--octaves",
        "1",
        "--size",
        "256",
    ],
    "capsnet": lambda path, scratch: ["capsnet", path, "--json"],
}
TEXT_COMMAND = lambda path, scratch: ["sentiment", "--file", path, "--json"]  # noqa: E731


def write_corpus(folder, items: tuple[Hostile, ...]) -> dict[str, str]:
    paths = {}
    for item in items:
        path = folder / item.name
        path.write_bytes(item.data)
        paths[item.name] = str(path)
    return paths


def assert_one_line_refusal(stdout: str, stderr: str, code: int, item: Hostile, what: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, f"{what}: exit {code}, stderr {stderr[-500:]!r}"
    assert "Traceback" not in stderr, f"{what}: {stderr[-800:]}"
    assert stdout == "", f"{what}: printed {stdout[:200]!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {stderr!r}"
    assert item.refusal in lines[0].lower(), f"{what}: {lines[0]!r} lacks {item.refusal!r}"


def test_every_command_refuses_every_bad_file_on_one_line(tmp_path):
    refused_images = [item for item in image_files() if not item.accept]
    refused_texts = [item for item in text_files() if not item.accept]
    paths = write_corpus(tmp_path, tuple(refused_images + refused_texts))
    cases, expected = [], []
    for item in refused_images:
        for command, argv in IMAGE_COMMANDS.items():
            cases.append(argv(paths[item.name], tmp_path))
            expected.append((item, command))
    for item in refused_texts:
        cases.append(TEXT_COMMAND(paths[item.name], tmp_path))
        expected.append((item, "sentiment"))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.hostile.cli_driver",
            str(tmp_path / "cases.json"),
            str(tmp_path / "results.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == len(cases) >= 100
    for result, (item, command) in zip(results, expected):
        assert_one_line_refusal(
            result["stdout"], result["stderr"], result["code"], item, f"{command} {item.name}"
        )
    assert (
        not (tmp_path / "mask.png").exists() and not (tmp_path / "dream.png").exists()
    )  # nothing half-written


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return conftest.run_cli(*args, timeout=180)  # the image commands on hostile files take longer


@pytest.mark.slow
@pytest.mark.parametrize("command", list(IMAGE_COMMANDS))
def test_real_processes_refuse_a_sample_and_accept_an_odd_file(command, tmp_path):
    items = sample("image", 3)  # two refusals of different kinds, then an accepted file
    paths = write_corpus(tmp_path, items)
    for item in items:
        result = run_cli(*IMAGE_COMMANDS[command](paths[item.name], tmp_path))
        if item.accept and command == "capsnet" and result.returncode:
            # A photo may hold no digit, and the CapsNet weights may be untrained yet: still one line.
            assert_one_line_refusal(
                result.stdout,
                result.stderr,
                result.returncode,
                Hostile(item.name, "image", b"", False),
                f"{command} {item.name}",
            )
        elif item.accept:
            assert result.returncode == 0, f"{command} {item.name}: {result.stderr[-500:]}"
            json.loads(result.stdout)
        else:
            assert_one_line_refusal(
                result.stdout, result.stderr, result.returncode, item, f"{command} {item.name}"
            )


@pytest.mark.slow
def test_sentiment_reads_hostile_text_from_a_file_and_from_stdin(tmp_path):
    control = next(item for item in text_files() if item.name == "control-characters.txt")
    latin = next(item for item in text_files() if item.name == "latin1.txt")
    paths = write_corpus(tmp_path, (control, latin))
    accepted = run_cli(*TEXT_COMMAND(paths[control.name], tmp_path))
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["label"] in {"negative", "neutral", "positive"}
    piped = subprocess.run(
        [sys.executable, "-m", "engine", "sentiment", "-", "--json"],
        cwd=ROOT,
        input=latin.data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert_one_line_refusal(
        piped.stdout.decode(), piped.stderr.decode(), piped.returncode, latin, "sentiment -"
    )


def test_unreadable_inputs_are_one_line_too(tmp_path):
    folder = tmp_path / "a folder.jpg"
    folder.mkdir()
    for path in (str(folder), str(tmp_path / "missing.png")):
        result = run_cli("classify", path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


BUGGY_COMMAND = (
    "import argparse, sys; from engine import cli; parser = argparse.ArgumentParser(); "
    "parser.set_defaults(run=lambda args: 1 / 0); cli.build_parser = lambda: parser; sys.exit(cli.main([]))"
)


def test_a_bug_is_one_line_too_with_the_traceback_on_demand():
    result = subprocess.run(
        [sys.executable, "-c", BUGGY_COMMAND],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: unexpected failure (ZeroDivisionError: division by zero). This is a bug in ConvNet Studio; "
        "rerun with CONVNET_STUDIO_DEBUG=1 to see the traceback."
    ]
    debug = subprocess.run(
        [sys.executable, "-c", BUGGY_COMMAND],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CONVNET_STUDIO_DEBUG": "1"},
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr
