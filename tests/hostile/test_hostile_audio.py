"""Hostile audio (issue 11): every refusal is a clear message from the engine and the CLI, never a traceback.

The files are made here in memory: empty, one byte, a WAV header without samples, a FLAC cut in half,
text / HTML / a JPEG / a PNG behind audio extensions, silence, NaN and infinite float samples, a header
claiming 1 Hz or 100 channels, more than the byte limit, and a valid note behind .exe. The odd but valid
ones (8-bit, six channels, 96 kHz, 40 s, samples beyond full scale) are analysed: instrument and pitch.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import soundfile

from engine.audio import io as audio_io
from engine.audio import pitch
from engine.audio.instrument import model as instrument_cnn
from engine.core import registry
from engine.core.errors import InvalidMedia
from tests.conftest import SAMPLES
from tests.hostile.corpus import Hostile


def _encode(audio: np.ndarray, rate: int, file_format: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=file_format, subtype=subtype)
    return buffer.getvalue()


def _note(rate: int, seconds: float = 1.0, level: float = 0.5) -> np.ndarray:
    """A decaying A4 with a few harmonics: something both models can name."""
    t = np.arange(int(rate * seconds)) / rate
    tone = sum(np.sin(2 * np.pi * 440.0 * k * t) / k for k in (1, 2, 3))
    return (level * tone / 1.83 * np.exp(-2.0 * t)).astype(np.float32)


def _with_header_field(data: bytes, offset: int, value: int, size: int) -> bytes:
    patched = bytearray(data)
    patched[offset : offset + size] = value.to_bytes(size, "little")
    return bytes(patched)


@functools.cache
def audio_files() -> tuple[Hostile, ...]:
    wav, flac = _encode(_note(16_000), 16_000), _encode(_note(16_000), 16_000, "FLAC")
    nan, inf = _note(16_000), _note(16_000)
    nan[500], inf[500] = np.nan, np.inf
    refuse, accept = False, True
    return (
        Hostile("empty.wav", "audio", b"", refuse, "empty", "zero bytes"),
        Hostile("one-byte.flac", "audio", b"f", refuse, "not a wav, flac or ogg", "one byte"),
        Hostile("header-only.wav", "audio", wav[:44], refuse, "too short", "a WAV header and no samples"),
        Hostile(
            "half.flac", "audio", flac[: len(flac) // 2], refuse, "damaged or cut short", "FLAC cut in half"
        ),
        Hostile(
            "text.wav",
            "audio",
            b"just some notes, not a recording\n" * 20,
            refuse,
            "not a wav, flac or ogg",
            "plain text behind .wav",
        ),
        Hostile(
            "script.ogg",
            "audio",
            b"<script>alert('x')</script>" * 4,
            refuse,
            "not a wav, flac or ogg",
            "HTML behind .ogg",
        ),
        Hostile(
            "photo.wav",
            "audio",
            (SAMPLES / "chelsea.jpg").read_bytes(),
            refuse,
            "not a wav, flac or ogg",
            "a JPEG behind .wav",
        ),
        Hostile(
            "picture.flac",
            "audio",
            b"\x89PNG\r\n\x1a\n" + b"\0" * 400,
            refuse,
            "not a wav, flac or ogg",
            "a PNG signature behind .flac",
        ),
        Hostile(
            "silence.wav",
            "audio",
            _encode(np.zeros(16_000, np.float32), 16_000),
            refuse,
            "silent",
            "digital silence",
        ),
        Hostile(
            "nan.wav",
            "audio",
            _encode(nan, 16_000, subtype="FLOAT"),
            refuse,
            "nan or infinity",
            "a NaN sample",
        ),
        Hostile(
            "inf.wav",
            "audio",
            _encode(inf, 16_000, subtype="FLOAT"),
            refuse,
            "nan or infinity",
            "an infinite sample",
        ),
        Hostile(
            "one-hertz.wav",
            "audio",
            _with_header_field(wav, 24, 1, 4),
            refuse,
            "sample rate",
            "a header claiming 1 Hz",
        ),
        Hostile(
            "hundred-channels.wav",
            "audio",
            _with_header_field(wav, 22, 100, 2),
            refuse,
            "channels",
            "a header claiming 100 channels",
        ),
        Hostile(
            "huge.wav",
            "audio",
            wav[:44] + b"\0" * audio_io.MAX_UPLOAD_BYTES,
            refuse,
            "larger than",
            "more bytes than the upload limit",
        ),
        Hostile("note.exe", "audio", wav, refuse, "only wav, flac and ogg", "a valid WAV behind .exe"),
        Hostile(
            "eight-bit.wav",
            "audio",
            _encode(_note(11_025), 11_025, subtype="PCM_U8"),
            accept,
            "",
            "8-bit unsigned",
        ),
        Hostile(
            "six-channels.wav",
            "audio",
            _encode(np.repeat(_note(48_000)[:, None], 6, axis=1), 48_000),
            accept,
            "",
            "5.1 surround",
        ),
        Hostile("high-rate.flac", "audio", _encode(_note(96_000), 96_000, "FLAC"), accept, "", "96 kHz"),
        Hostile(
            "long.ogg",
            "audio",
            _encode(np.tile(_note(16_000), 40), 16_000, "OGG"),
            accept,
            "",
            "40 s: cut to 30",
        ),
        Hostile(
            "loud.wav",
            "audio",
            _encode(_note(16_000, level=8.0), 16_000, subtype="FLOAT"),
            accept,
            "",
            "float samples far beyond full scale",
        ),
    )


REFUSED = [item for item in audio_files() if not item.accept]
ACCEPTED = [item for item in audio_files() if item.accept]


@pytest.mark.parametrize("item", REFUSED, ids=lambda item: item.name)
def test_engine_refuses_each_hostile_file_with_a_message(item):
    with pytest.raises(InvalidMedia) as refusal:
        audio_io.decode(item.data, item.name)
    message = str(refusal.value)
    assert item.refusal in message.lower(), message
    assert "Traceback" not in message and "\n" not in message and "BytesIO" not in message
    assert "Upload" in message or "upload" in message or "Export" in message  # it says what to do


@pytest.mark.parametrize("item", ACCEPTED, ids=lambda item: item.name)
def test_odd_but_valid_files_are_analysed(item):
    decoded = audio_io.decode(item.data, item.name)
    assert decoded.sample_rate == 16_000 and decoded.seconds <= audio_io.MAX_SECONDS + 0.01
    assert np.all(np.isfinite(decoded.audio)) and np.abs(decoded.audio).max() <= 1.0
    guess = instrument_cnn.classify(registry.load(instrument_cnn.MODEL_NAME).model, decoded.audio)
    assert guess.instrument in instrument_cnn.INSTRUMENTS
    estimate = pitch.estimate_pitch(decoded.audio[: 3 * 16_000], model=registry.load(pitch.MODEL_NAME).model)
    assert estimate.midi == 69, (item.name, estimate.to_json())


def test_the_audio_command_answers_hostile_files_in_one_line(tmp_path):
    from tests.hostile.cli_driver import run_one

    for item in REFUSED:
        path = tmp_path / item.name
        path.write_bytes(item.data)
        result = run_one(["audio", str(path), "--json"])
        assert result["code"] == 2, (item.name, result)
        assert "Traceback" not in result["stderr"] and len(result["stderr"].strip().splitlines()) == 1, (
            result["stderr"]
        )
