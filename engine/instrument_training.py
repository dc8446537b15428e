"""Training and evaluating the instrument CNN (engine/instrument_cnn.py) on the rendered notes.

Data: engine/audio_notes.py's notes, split by pitch: the training pitches (even MIDI numbers) at all
three velocities train; the validation pitches pick the best epoch; the test pitches are touched only
for the reported figures (all 288 test notes when the rendered set is in the cache, and always the
96 committed test notes, velocity 100). A second soundfont, when this machine has it (Debian's
`timgm6mb-soundfont` and FluidSynth), renders the test pitches again: timbres the CNN never heard,
the honest measure of what it learned (one soundfont's eight samples are easy to tell apart).

Augmentation, on the waveform for each of AUGMENTED_COPIES copies of every training note: the onset
delayed by up to MAX_DELAY_SECONDS (the page finds onsets to within one 16 ms frame), a random gain
(which the relative-dB spectrogram cancels) and white noise at NOISE_SNR_DB; then on the picture,
anew for every batch: a random spectral tilt and bump (another microphone, room or soundfont
colours the spectrum differently) and one frequency and one time mask (SpecAugment: Park et al.,
Interspeech 2019), so no single band or moment decides.
"""

from __future__ import annotations

import pathlib
import shutil
import time

import numpy as np

from engine import audio_features, audio_notes, instrument_cnn, project_weights, weights_io
from engine.errors import AssetError
from engine.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.registry import PROJECT_ASSETS

DEFAULT_EPOCHS = 30
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
AUGMENTED_COPIES = 3  # augmented copies of each training note, besides the note itself
MAX_DELAY_SECONDS = 0.05
GAIN_DB = (-20.0, 6.0)  # random gain range
NOISE_SNR_DB = (10.0, 60.0)  # white noise, signal-to-noise ratio against the note's RMS
TILT_DB = 12.0  # spectral tilt across all bands, up to +-this many dB
BUMP_DB = 8.0  # a Gaussian boost or cut of up to this many dB ...
BUMP_WIDTH_BANDS = (3.0, 12.0)  # ... this wide (standard deviation in mel bands)
MAX_FREQUENCY_MASK = 8  # bands
MAX_TIME_MASK = 8  # frames
SECOND_SOUNDFONT = pathlib.Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def augment(audio: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """One augmented copy of each row of float32 (N, NOTE_SAMPLES)."""
    out = np.zeros_like(audio)
    for index, note in enumerate(audio):
        delay = int(generator.integers(0, int(MAX_DELAY_SECONDS * audio_notes.SAMPLE_RATE) + 1))
        shifted = np.concatenate([np.zeros(delay, np.float32), note[:note.size - delay]])
        noise = generator.standard_normal(note.size).astype(np.float32)
        noise *= np.sqrt(np.mean(note ** 2)) * 10 ** (-generator.uniform(*NOISE_SNR_DB) / 20)
        out[index] = (shifted + noise) * 10 ** (generator.uniform(*GAIN_DB) / 20)
    return np.clip(out, -1.0, 1.0)


def augment_images(images: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Spectral colouring and masks on a batch of CNN inputs (N, MEL_BANDS, FRAMES, 1) in [0, 1]."""
    floor = -audio_features.FLOOR_DB
    decibels = images[..., 0] * floor - floor  # back to dB below the loudest bin
    count, bands, frames = decibels.shape
    position = np.linspace(-0.5, 0.5, bands)[None]
    centre = generator.uniform(0, bands, (count, 1))
    width = generator.uniform(*BUMP_WIDTH_BANDS, (count, 1))
    bump = np.exp(-0.5 * ((np.arange(bands)[None] - centre) / width) ** 2)
    colour = (generator.uniform(-TILT_DB, TILT_DB, (count, 1)) * position
              + generator.uniform(-BUMP_DB, BUMP_DB, (count, 1)) * bump)
    coloured = decibels + colour[:, :, None]
    coloured -= coloured.max(axis=(1, 2), keepdims=True)  # still relative to the loudest bin
    coloured = np.maximum(coloured, -floor)
    for row in coloured:
        band, span = generator.integers(0, bands), generator.integers(0, MAX_FREQUENCY_MASK + 1)
        row[band:band + span] = -floor
        frame, span = generator.integers(0, frames), generator.integers(0, MAX_TIME_MASK + 1)
        row[:, frame:frame + span] = -floor
    return ((coloured + floor) / floor)[..., None].astype(np.float32)


def _images(audio: np.ndarray) -> np.ndarray:
    return audio_features.log_mel_batch(audio)


def accuracy(model, notes: audio_notes.Notes) -> dict:
    """Accuracy and per-instrument accuracy of `model` on `notes`."""
    predicted = instrument_cnn.probabilities(model, notes.audio).argmax(-1)
    correct = predicted == notes.instruments
    confusion = np.zeros((len(instrument_cnn.INSTRUMENTS),) * 2, np.int64)
    np.add.at(confusion, (notes.instruments, predicted), 1)
    return {"notes": int(len(correct)), "accuracy": float(correct.mean()),
            "by_instrument": {name: float(correct[notes.instruments == index].mean())
                              for index, name in enumerate(instrument_cnn.INSTRUMENTS)
                              if np.any(notes.instruments == index)},
            "confusion": confusion.tolist()}


def evaluate(model) -> dict:
    """Held-out figures: the committed test notes always; the full test split when rendered here."""
    figures = {"committed_test_notes": accuracy(model, audio_notes.test_notes())}
    try:
        figures["test_split"] = accuracy(model, audio_notes.split(audio_notes.load_rendered(), "test"))
    except AssetError as error:
        figures["test_split"] = {"skipped": str(error)}
    if SECOND_SOUNDFONT.exists() and shutil.which("fluidsynth"):
        figures["second_soundfont"] = {"soundfont": SECOND_SOUNDFONT.name, **accuracy(model, second_soundfont_notes())}
    else:
        figures["second_soundfont"] = {"skipped": f"needs FluidSynth and {SECOND_SOUNDFONT}"}
    return figures


def second_soundfont_notes() -> audio_notes.Notes:
    """The test pitches at velocity 100, rendered from SECOND_SOUNDFONT (needs FluidSynth)."""
    grid = [(pitch, audio_notes.TEST_NOTES_VELOCITY) for pitch in audio_notes.PITCHES
            if audio_notes.split_of(pitch) == "test"]
    audio = np.concatenate([audio_notes.render_instrument(program, grid, soundfont=SECOND_SOUNDFONT)
                            for _, program in audio_notes.INSTRUMENTS])
    return audio_notes.Notes(audio, np.repeat(np.arange(len(audio_notes.INSTRUMENTS)), len(grid)),
                             np.tile([pitch for pitch, _ in grid], len(audio_notes.INSTRUMENTS)),
                             np.full(len(audio), audio_notes.TEST_NOTES_VELOCITY))


def train(epochs: int | None = None, on_progress: ProgressCallback = no_progress, should_stop: StopCheck = never_stop,
          seed: int = 0, output=None, max_batches: int | None = None) -> dict:
    """Train from scratch on the rendered notes (needs `make data` first), keep the best epoch by
    validation accuracy, store it float16 under assets/audio/ and record its test figures.

    Args:
        epochs: epochs over the augmented training notes (default DEFAULT_EPOCHS).
        output: where the float16 weights go (default: the committed file; then the manifest is updated).
        max_batches: stop each epoch after this many batches and write nothing (smoke tests only).
    Returns:
        Per-epoch history and the held-out figures of the stored float16 weights.
    """
    import keras
    import tensorflow as tf

    epochs = epochs or DEFAULT_EPOCHS
    keras.utils.set_random_seed(seed)
    generator = np.random.default_rng(seed)
    notes = audio_notes.load_rendered()
    train_notes, validation = audio_notes.split(notes, "train"), audio_notes.split(notes, "validation")
    on_progress(0.0, f"log-mel spectrograms of {len(train_notes.audio) * (1 + AUGMENTED_COPIES)} training notes")
    copies = [train_notes.audio] + [augment(train_notes.audio, generator) for _ in range(AUGMENTED_COPIES)]
    images = _images(np.concatenate(copies))
    labels = np.tile(train_notes.instruments, 1 + AUGMENTED_COPIES)
    validation_images = _images(validation.audio)
    model = instrument_cnn.build()
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    variables = model.trainable_variables
    signature = [tf.TensorSpec([None, *images.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int64)]

    @tf.function(input_signature=signature)
    def step(batch, answers):  # one graph for the whole run (PERF-NOTES: eager steps cost ~50 ms each)
        with tf.GradientTape() as tape:
            predicted = model(batch, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(answers, predicted))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    history, best, best_weights = [], -1.0, None
    batches = int(np.ceil(len(images) / BATCH_SIZE))
    for epoch in range(epochs):
        started, order, losses = time.perf_counter(), generator.permutation(len(images)), []
        for batch_index in range(batches if max_batches is None else min(batches, max_batches)):
            chosen = order[batch_index * BATCH_SIZE:(batch_index + 1) * BATCH_SIZE]
            losses.append(float(step(augment_images(images[chosen], generator), labels[chosen])))
        predicted = np.concatenate([np.asarray(model.predict_on_batch(validation_images[start:start + 256]))
                                    for start in range(0, len(validation_images), 256)]).argmax(-1)
        valid = float(np.mean(predicted == validation.instruments))
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "validation_accuracy": valid,
                        "seconds": time.perf_counter() - started})
        if valid > best:
            best, best_weights = valid, [variable.numpy() for variable in model.weights]
        on_progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.3f}, "
                    f"validation accuracy {valid:.3f}")
        if should_stop():
            break
    if max_batches is not None:
        return {"history": history}
    for variable, value in zip(model.weights, best_weights):
        variable.assign(value)
    target = output or PROJECT_ASSETS / instrument_cnn.WEIGHTS
    weights_io.save_float16(model, target)
    stored = instrument_cnn.build()
    weights_io.load_float16(stored, target)
    figures = evaluate(stored)  # on the float16 weights we commit, not the float32 ones
    best_epoch = max(history, key=lambda entry: entry["validation_accuracy"])["epoch"]
    if output is None:
        project_weights.record(
            instrument_cnn.WEIGHTS,
            f"python -m engine train {instrument_cnn.MODEL_NAME} --epochs {epochs} (needs `make data`; best epoch "
            f"{best_epoch} of {len(history)} by validation accuracy {best:.4f}; "
            f"{sum(entry['seconds'] for entry in history) / 60:.1f} min on 2 shared CPU cores)",
            metric_text(figures))
    return {"history": history, "best_epoch": best_epoch, "validation_accuracy": best, **figures}


def metric_text(figures: dict) -> str:
    text = (f"committed test notes ({figures['committed_test_notes']['notes']}, velocity "
            f"{audio_notes.TEST_NOTES_VELOCITY}): accuracy {figures['committed_test_notes']['accuracy']:.4f}")
    if "accuracy" in figures["test_split"]:
        text += (f"; test pitches, all velocities ({figures['test_split']['notes']} notes): "
                 f"{figures['test_split']['accuracy']:.4f}")
    if "accuracy" in figures.get("second_soundfont", {}):
        second = figures["second_soundfont"]
        text += (f"; the test pitches from a soundfont never heard in training ({second['soundfont']}, "
                 f"{second['notes']} notes): {second['accuracy']:.4f}")
    return text
