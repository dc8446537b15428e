"""Uploaded audio: odd but valid files are decoded to 16 kHz mono; bad ones are refused with a clear message."""

import io

import numpy as np
import pytest
import soundfile

from engine.audio import io as audio_io
from engine.core.errors import InvalidMedia
from tests.conftest import SAMPLES


def encode(audio: np.ndarray, rate: int, file_format: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=file_format, subtype=subtype)
    return buffer.getvalue()


def tone(rate: int, seconds: float = 1.0, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    return (level * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def dominant_hz(audio: np.ndarray, rate: int = audio_io.SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 96_000, 7_919])
def test_any_rate_is_resampled_to_16_khz_keeping_length_and_pitch(rate):
    decoded = audio_io.decode(encode(tone(rate), rate), "tone.wav")
    assert decoded.sample_rate == 16_000 and decoded.original_rate == rate
    assert abs(decoded.audio.size - 16_000) <= 2
    assert abs(dominant_hz(decoded.audio) - 440.0) < 2.0
    assert (rate != 16_000) == any("resampled" in note for note in decoded.notes)


def test_eight_bit_wav_is_read():
    decoded = audio_io.decode(encode(tone(11_025), 11_025, subtype="PCM_U8"), "old.wav")
    assert decoded.subtype == "PCM_U8"
    assert 0.45 < np.abs(decoded.audio).max() < 0.55 and abs(dominant_hz(decoded.audio) - 440.0) < 2.0


def test_channels_are_mixed_down_to_mono():
    left, right = tone(48_000, hz=440.0), tone(48_000, hz=660.0, level=0.25)
    silent = np.zeros_like(left)
    surround = np.stack([left, right, silent, silent, silent, silent], axis=1)
    decoded = audio_io.decode(encode(surround, 48_000), "5.1.wav")
    assert decoded.channels == 6 and decoded.audio.ndim == 1
    assert "mixed 6 channels down to mono" in decoded.notes
    assert abs(np.abs(decoded.audio).max() - 0.75 / 6) < 0.02  # the mean of six channels


def test_flac_and_ogg_are_read():
    for file_format, name in (("FLAC", "note.flac"), ("OGG", "note.ogg")):
        decoded = audio_io.decode(encode(tone(44_100), 44_100, file_format), name)
        assert decoded.format == file_format and abs(dominant_hz(decoded.audio) - 440.0) < 2.0


def test_silence_is_refused_saying_it_is_silent():
    with pytest.raises(InvalidMedia, match="silent"):
        audio_io.decode(encode(np.zeros(16_000, np.float32), 16_000), "quiet.wav")


def test_nan_and_infinite_samples_are_refused():
    for bad in (np.nan, np.inf):
        samples = tone(16_000)
        samples[100] = bad
        with pytest.raises(InvalidMedia, match="NaN or infinity"):
            audio_io.decode(encode(samples, 16_000, subtype="FLOAT"), "bad.wav")


def test_overloud_float_wav_is_scaled_to_full_scale():
    decoded = audio_io.decode(encode(tone(16_000, level=4.0), 16_000, subtype="FLOAT"), "loud.wav")
    assert abs(np.abs(decoded.audio).max() - 1.0) < 1e-3 and any(
        "scaled down" in note for note in decoded.notes
    )


def test_empty_truncated_and_short_files_are_refused():
    flac = encode(tone(16_000), 16_000, "FLAC")
    wav = encode(tone(16_000), 16_000)
    with pytest.raises(InvalidMedia, match="empty"):
        audio_io.decode(b"", "nothing.wav")
    with pytest.raises(InvalidMedia, match="damaged or cut short"):
        audio_io.decode(flac[: len(flac) // 2], "half.flac")
    with pytest.raises(InvalidMedia, match="too short"):
        audio_io.decode(wav[:60], "header.wav")
    half = audio_io.decode(wav[: len(wav) // 2], "half.wav")  # a WAV cut in half still holds half a second
    assert abs(half.seconds - 0.5) < 0.01


def test_a_picture_behind_a_wav_name_and_a_wrong_extension_are_refused():
    with pytest.raises(InvalidMedia, match="not a WAV, FLAC or OGG"):
        audio_io.decode((SAMPLES / "chelsea.jpg").read_bytes(), "photo.wav")
    with pytest.raises(InvalidMedia, match="Only WAV, FLAC and OGG files"):
        audio_io.decode(encode(tone(16_000), 16_000), "tone.exe")


def test_absurd_sample_rate_is_refused():
    data = bytearray(encode(tone(16_000), 16_000))
    data[24:28] = (1).to_bytes(4, "little")  # the WAV header's sample rate field: 1 Hz
    with pytest.raises(InvalidMedia, match="sample rate of 1 Hz"):
        audio_io.decode(bytes(data), "odd.wav")


def test_long_recordings_are_cut_and_big_files_refused():
    decoded = audio_io.decode(encode(tone(8_000, seconds=40.0), 8_000), "long.wav")
    assert decoded.seconds == pytest.approx(audio_io.MAX_SECONDS, abs=0.01)
    assert decoded.original_seconds == pytest.approx(40.0, abs=0.01)
    assert any("first 30 s of 40.0 s" in note for note in decoded.notes)
    with pytest.raises(InvalidMedia, match="larger than 20 MB"):
        audio_io.decode(b"RIFF" + b"\0" * audio_io.MAX_UPLOAD_BYTES, "huge.wav")


def test_wav_bytes_round_trip():
    samples = tone(16_000)
    decoded = audio_io.decode(audio_io.to_wav_bytes(samples), "back.wav")
    assert np.abs(decoded.audio - samples).max() < 1e-3 and decoded.subtype == "PCM_16"
