"""Milliseconds per note for the audio page's analysis: the log-mel picture, the instrument CNN (picture
included), basic-pitch one note at a time and in a batch (the WaveNet pitch check's way), and
decoding a 30 s 44.1 kHz stereo upload to 16 kHz mono.

The instrument CNN needs its committed weights; speed does not depend on their values, so a fresh
model of the same shape is timed when they are missing.
"""

from __future__ import annotations

import io

import numpy as np

from bench.timing import median_ms
from engine.audio import features, pitch
from engine.audio import io as audio_io
from engine.audio.instrument import model as instrument_cnn
from engine.core import registry
from engine.data import notes as audio_notes

BATCH = 16


def _classifier():
    try:
        return registry.load(instrument_cnn.MODEL_NAME).model
    except Exception:  # not trained here yet: time a fresh model of the same shape
        return instrument_cnn.build()


def _upload() -> bytes:
    rate = 44_100
    t = np.arange(30 * rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    buffer = io.BytesIO()
    import soundfile

    soundfile.write(buffer, np.stack([tone, tone], axis=1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def main() -> None:
    notes = audio_notes.test_notes().audio
    classifier = _classifier()
    transcriber = registry.load(pitch.MODEL_NAME).model
    rows = [
        ("log-mel picture (numpy), 1 s note", median_ms(lambda: features.log_mel(notes[0]), repeats=20)),
        (
            "instrument CNN, 1 s note (picture + predict_on_batch)",
            median_ms(lambda: instrument_cnn.classify(classifier, notes[0]), repeats=20),
        ),
        (
            f"instrument CNN, batch of {BATCH}, per note",
            median_ms(lambda: instrument_cnn.probabilities(classifier, notes[:BATCH]), repeats=5) / BATCH,
        ),
        (
            "basic-pitch, 1 s note (resample + 1 window + pitch)",
            median_ms(lambda: pitch.estimate_pitch(notes[0], model=transcriber), repeats=10, warmup=2),
        ),
        (
            f"basic-pitch midi_pitches, batch of {BATCH}, per note",
            median_ms(lambda: pitch.midi_pitches(list(notes[:BATCH]), model=transcriber), repeats=3, warmup=1)
            / BATCH,
        ),
    ]
    upload = _upload()
    rows.append(
        (
            "decode a 30 s 44.1 kHz stereo WAV (5.3 MB) to 16 kHz mono",
            median_ms(lambda: audio_io.decode(upload, "upload.wav"), repeats=5, warmup=1),
        )
    )
    for name, ms in rows:
        print(f"  {name:<62} {ms:9.2f} ms")
    print(f"  basic-pitch / instrument CNN, per 1 s note: x{rows[3][1] / rows[1][1]:.1f}")
