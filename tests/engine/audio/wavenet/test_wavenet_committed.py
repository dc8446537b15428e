"""The committed WaveNet: conditioned notes at the requested pitch (basic-pitch), CLI, registry."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from engine.audio.wavenet import model as wavenet
from engine.audio.wavenet import train as wavenet_training
from engine.core import registry
from tests.conftest import ROOT

SUBSET_PITCHES = (52, 64)  # 4 instruments x 2 pitches, the check's own settings otherwise
# Measured with the committed weights (wavenet_training.pitch_check(model, SUBSET_PITCHES)):
MEASURED_SUBSET = 1.0  # 8 of 8
MARGIN = 0.13  # one note of eight


@pytest.fixture(scope="module")
def model():
    return registry.load("wavenet").model


@pytest.mark.slow
def test_generated_notes_are_at_the_requested_pitch(model):
    figures = wavenet_training.pitch_check(model, SUBSET_PITCHES)
    assert figures["notes"] == len(model.instruments) * len(SUBSET_PITCHES)
    assert figures["pitch_accuracy"] >= MEASURED_SUBSET - MARGIN, figures["rows"]


def test_generated_audio_is_finite_in_range_and_not_silent(model):
    generation = wavenet.generate(
        model, [wavenet.NoteRequest("organ", 60), wavenet.NoteRequest("flute", 67)], 0.25
    )
    assert generation.audio.shape == (2, 4000) and np.isfinite(generation.audio).all()
    assert (
        np.abs(generation.audio).max() <= 1.0 and (np.sqrt((generation.audio**2).mean(axis=1)) > 0.01).all()
    )


@pytest.mark.slow
def test_cli_writes_a_wav_and_reports_speed(tmp_path):
    out = tmp_path / "note.wav"
    reply = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "wavenet",
            "--instrument",
            "piano:0.5,flute:0.5",
            "--pitch",
            "60",
            "--seconds",
            "0.2",
            "--out",
            str(out),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert reply.returncode == 0, reply.stderr
    result = json.loads(reply.stdout)
    assert result["instrument"] == {"piano": 0.5, "flute": 0.5} and result["method"] == "fast"
    assert result["samples_per_second"] > 0
    audio, rate = soundfile.read(out)
    assert rate == 16000 and len(audio) == 3200


@pytest.mark.slow
def test_cli_refuses_an_unknown_instrument_in_one_line(tmp_path):
    reply = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "wavenet",
            "--instrument",
            "kazoo",
            "--out",
            str(tmp_path / "x.wav"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (
        reply.returncode == 2 and "knows the instruments" in reply.stderr and "Traceback" not in reply.stderr
    )
    assert not (tmp_path / "x.wav").exists()
