"""The log-mel picture and the instrument CNN's committed weights on the committed held-out notes."""

import re

import numpy as np
import pytest

from engine.audio import features
from engine.audio.instrument import model as instrument_cnn
from engine.audio.instrument import train as instrument_training
from engine.core import manifest, registry
from engine.core.errors import InvalidMedia
from engine.data import notes as audio_notes

MARGIN = 0.03  # float16 weights and a different CPU may move a note or two
NOISY_ACCURACY = 0.969  # measured: the committed test notes with white noise at 20 dB SNR (README)


@pytest.fixture(scope="module")
def model():
    return registry.load(instrument_cnn.MODEL_NAME).model


def test_log_mel_shape_range_and_gain_invariance():
    note = audio_notes.test_notes().audio[0]
    image = features.log_mel(note)
    assert image.shape == (features.MEL_BANDS, features.frame_count(note.size)) == (64, 63)
    assert image.max() == 0.0 and image.min() >= features.FLOOR_DB
    quieter = features.log_mel(note * 0.05)
    assert np.abs(quieter - image)[image > features.FLOOR_DB + 30].max() < 0.01  # relative dB: same picture


def test_a_pure_tone_lights_the_band_of_its_frequency():
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(16_000) / 16_000).astype(np.float32)
    loudest = int(features.log_mel(tone)[:, 30].argmax())
    centres = features.band_centres_hz()
    assert abs(centres[loudest] - 1000.0) <= (centres[loudest + 1] - centres[loudest - 1]) / 2


def test_committed_weights_reach_the_recorded_accuracy_on_the_committed_test_notes(model):
    recorded = float(
        re.search(r"accuracy ([0-9.]+)", manifest.recorded_metric(instrument_cnn.WEIGHTS)).group(1)
    )
    figures = instrument_training.accuracy(model, audio_notes.test_notes())
    assert figures["notes"] == 96
    assert figures["accuracy"] >= recorded - MARGIN, figures


def test_noise_at_20_db_snr_costs_little(model):
    notes = audio_notes.test_notes()
    rms = np.sqrt(np.mean(notes.audio**2, axis=1, keepdims=True))
    noise = np.random.default_rng(1).standard_normal(notes.audio.shape).astype(np.float32) * rms / 10
    noisy = audio_notes.Notes(notes.audio + noise, notes.instruments, notes.pitches, notes.velocities)
    assert instrument_training.accuracy(model, noisy)["accuracy"] >= NOISY_ACCURACY - MARGIN


def test_picture_augmentation_keeps_the_range_and_the_loudest_bin():
    images = features.log_mel_batch(audio_notes.test_notes().audio[:8])
    augmented = instrument_training.augment_images(images, np.random.default_rng(0))
    assert augmented.shape == images.shape and augmented.min() >= 0.0
    assert np.allclose(augmented.max(axis=(1, 2, 3)), 1.0)  # still relative to its loudest bin
    assert np.abs(augmented - images).mean() > 0.01


def test_a_later_quieter_note_in_a_longer_recording_is_still_named(model):
    notes = audio_notes.test_notes()
    index = int(np.flatnonzero(notes.instruments == audio_notes.INSTRUMENT_NAMES.index("trumpet"))[3])
    recording = np.concatenate(
        [np.zeros(8_000, np.float32), 0.1 * notes.audio[index], np.zeros(4_000, np.float32)]
    )
    guess = instrument_cnn.classify(model, recording)
    assert guess.instrument == "trumpet" and abs(guess.start_second - 0.5) < 0.05
    assert abs(sum(guess.probabilities.values()) - 1.0) < 1e-3


def test_silence_is_refused(model):
    with pytest.raises(InvalidMedia, match="silent"):
        instrument_cnn.classify(model, np.zeros(16_000, np.float32))


@pytest.mark.training
def test_one_training_step_runs_on_a_few_notes():
    import keras

    model = instrument_cnn.build()
    images = features.log_mel_batch(audio_notes.test_notes().audio[:4])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [weight.copy() for weight in model.get_weights()]
    model.train_on_batch(images, audio_notes.test_notes().instruments[:4])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert isinstance(model, keras.Model) and model.output_shape == (None, len(instrument_cnn.INSTRUMENTS))


@pytest.mark.training
def test_a_smoke_run_on_the_trainer_keeps_the_best_epoch_strictly_and_writes_nothing(tmp_path, monkeypatch):
    from engine.core import runs

    held_out = audio_notes.test_notes()
    count = 16
    pitches = np.where(np.arange(count) < 12, 60, 63)  # 60: a training pitch, 63: a validation pitch
    notes = audio_notes.Notes(
        held_out.audio[:count],
        held_out.instruments[:count],
        pitches,
        np.full(count, audio_notes.TEST_NOTES_VELOCITY),
    )
    monkeypatch.setattr(
        instrument_training, "soundfont_notes", lambda font: notes
    )  # no rendered notes needed
    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path))
    result = instrument_training.train(epochs=2, max_steps=1, soundfonts=("one.sf2",))
    assert [entry["epoch"] for entry in result["history"]] == [1, 2]
    assert all(
        0 <= entry["validation_accuracy"] <= 1 and np.isfinite(entry["loss"]) for entry in result["history"]
    )
    assert result["history"][0]["learning_rate"] == instrument_training.LEARNING_RATE
    assert not any(tmp_path.iterdir())
