"""basic-pitch names the pitch of the committed held-out notes and of pure tones."""

import numpy as np
import pytest

from engine.audio import pitch
from engine.core import registry
from engine.data import notes as audio_notes

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files

MEASURED_SHARE = 1.0  # basic-pitch on all 96 committed test notes and all 288 test-split notes (README)
MARGIN = 0.05


@pytest.fixture(scope="module")
def model():
    return registry.load(pitch.MODEL_NAME).model


def sine(hz: float, rate: int = 16_000, seconds: float = 1.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def test_most_committed_test_notes_get_their_rendered_pitch(model):
    notes = audio_notes.test_notes()
    chosen = np.arange(0, len(notes.audio), 2)  # 48 of the 96: every instrument, half the pitches
    found = pitch.midi_pitches(list(notes.audio[chosen]), model=model)
    share = np.mean([midi == int(want) for midi, want in zip(found, notes.pitches[chosen])])
    assert share >= MEASURED_SHARE - MARGIN, (share, found)


def test_a_440_hz_sine_is_a4_at_any_rate(model):
    estimate = pitch.estimate_pitch(sine(440.0), model=model)
    assert (estimate.midi, estimate.name) == (69, "A4") and estimate.confidence >= pitch.NOTE_THRESHOLD
    assert estimate.posteriorgram.shape == (int(16_000 / 16_000 * pitch.FRAMES_PER_SECOND), pitch.KEYS)
    assert pitch.estimate_pitch(sine(440.0, rate=44_100), rate=44_100, model=model).midi == 69


def test_a_long_sound_spans_several_windows_and_keeps_its_pitch(model):
    tone = sine(261.63, seconds=5.0)  # C4, three 2 s windows
    estimate = pitch.estimate_pitch(tone, model=model)
    assert estimate.midi == 60
    assert estimate.posteriorgram.shape[0] == int(np.floor(5.0 * 22_050 * pitch.FRAMES_PER_SECOND / 22_050))
    active = estimate.posteriorgram[:, 60 - pitch.LOWEST_MIDI] >= pitch.NOTE_THRESHOLD
    assert active[10:-10].mean() > 0.9  # the stitched windows leave no gap


def test_batch_gives_none_for_silence_and_noise_free_order(model):
    pitches = pitch.midi_pitches(
        [sine(440.0), np.zeros(16_000, np.float32), sine(220.0), np.zeros(0, np.float32)], model=model
    )
    assert pitches == [69, None, 57, None]
    assert pitch.midi_pitches([], model=model) == []
