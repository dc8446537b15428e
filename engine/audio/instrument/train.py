"""Training and evaluating the instrument CNN (engine/audio/instrument/model.py) on the rendered notes.

Data: engine/data/notes.py's notes, split by pitch, from TRAINING_SOUNDFONTS: FluidR3 (the notes of
`make data`) and TimGM6mb (Debian's `timgm6mb-soundfont`, rendered here the same way into the cache).
One soundfont has one sample set per instrument, and a CNN trained on FluidR3 alone named the
instruments of TimGM6mb's notes only 59% of the time: it had learned eight recordings, not eight
instruments. The training pitches (even MIDI numbers) at all three velocities train; the validation
pitches pick the best epoch; the test pitches are touched only for the reported figures: the 96
committed test notes, all test notes of each training soundfont, and the test pitches from
UNSEEN_SOUNDFONT (Debian's `csound-soundfont`), timbres the CNN never heard, when this machine has it.

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

import numpy as np

from engine.audio import features
from engine.audio.instrument import model as instrument_cnn
from engine.core import configs, schedules, training, weights_io
from engine.core.errors import AssetError
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import notes as audio_notes

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
SOUNDFONTS = pathlib.Path("/usr/share/sounds/sf2")
TRAINING_SOUNDFONTS = ("FluidR3_GM.sf2", "TimGM6mb.sf2")  # Debian fluid-soundfont-gm, timgm6mb-soundfont
UNSEEN_SOUNDFONT = "sf_GMbank.sf2"  # Debian csound-soundfont: only ever in the evaluation


def augment(audio: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """One augmented copy of each row of float32 (N, NOTE_SAMPLES)."""
    out = np.zeros_like(audio)
    for index, note in enumerate(audio):
        delay = int(generator.integers(0, int(MAX_DELAY_SECONDS * audio_notes.SAMPLE_RATE) + 1))
        shifted = np.concatenate([np.zeros(delay, np.float32), note[: note.size - delay]])
        noise = generator.standard_normal(note.size).astype(np.float32)
        noise *= np.sqrt(np.mean(note**2)) * 10 ** (-generator.uniform(*NOISE_SNR_DB) / 20)
        out[index] = (shifted + noise) * 10 ** (generator.uniform(*GAIN_DB) / 20)
    return np.clip(out, -1.0, 1.0)


def augment_images(images: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Spectral colouring and masks on a batch of CNN inputs (N, MEL_BANDS, FRAMES, 1) in [0, 1]."""
    floor = -features.FLOOR_DB
    decibels = images[..., 0] * floor - floor  # back to dB below the loudest bin
    count, bands, frames = decibels.shape
    position = np.linspace(-0.5, 0.5, bands)[None]
    centre = generator.uniform(0, bands, (count, 1))
    width = generator.uniform(*BUMP_WIDTH_BANDS, (count, 1))
    bump = np.exp(-0.5 * ((np.arange(bands)[None] - centre) / width) ** 2)
    colour = (
        generator.uniform(-TILT_DB, TILT_DB, (count, 1)) * position
        + generator.uniform(-BUMP_DB, BUMP_DB, (count, 1)) * bump
    )
    coloured = decibels + colour[:, :, None]
    coloured -= coloured.max(axis=(1, 2), keepdims=True)  # still relative to the loudest bin
    coloured = np.maximum(coloured, -floor)
    for row in coloured:
        band, span = generator.integers(0, bands), generator.integers(0, MAX_FREQUENCY_MASK + 1)
        row[band : band + span] = -floor
        frame, span = generator.integers(0, frames), generator.integers(0, MAX_TIME_MASK + 1)
        row[:, frame : frame + span] = -floor
    return ((coloured + floor) / floor)[..., None].astype(np.float32)


def per_note_loss(model, images, answers):
    """Cross-entropy of each note's instrument (N,), the CNN in training mode."""
    import keras

    return keras.losses.sparse_categorical_crossentropy(answers, model(images, training=True))


def _images(audio: np.ndarray) -> np.ndarray:
    return features.log_mel_batch(audio)


def accuracy(model, notes: audio_notes.Notes) -> dict:
    """Accuracy and per-instrument accuracy of `model` on `notes`."""
    predicted = instrument_cnn.probabilities(model, notes.audio).argmax(-1)
    correct = predicted == notes.instruments
    confusion = np.zeros((len(instrument_cnn.INSTRUMENTS),) * 2, np.int64)
    np.add.at(confusion, (notes.instruments, predicted), 1)
    return {
        "notes": int(len(correct)),
        "accuracy": float(correct.mean()),
        "by_instrument": {
            name: float(correct[notes.instruments == index].mean())
            for index, name in enumerate(instrument_cnn.INSTRUMENTS)
            if np.any(notes.instruments == index)
        },
        "confusion": confusion.tolist(),
    }


def evaluate(model) -> dict:
    """Held-out figures: the committed test notes always; the full test split when rendered here."""
    figures = {"committed_test_notes": accuracy(model, audio_notes.test_notes())}
    for font in TRAINING_SOUNDFONTS:
        try:
            figures[f"test_split {font}"] = accuracy(model, audio_notes.split(soundfont_notes(font), "test"))
        except AssetError as error:
            figures[f"test_split {font}"] = {"skipped": str(error)}
    if (SOUNDFONTS / UNSEEN_SOUNDFONT).exists() and shutil.which("fluidsynth"):
        figures["unseen_soundfont"] = {
            "soundfont": UNSEEN_SOUNDFONT,
            **accuracy(model, unseen_soundfont_notes()),
        }
    else:
        figures["unseen_soundfont"] = {"skipped": f"needs FluidSynth and {SOUNDFONTS / UNSEEN_SOUNDFONT}"}
    return figures


def soundfont_notes(font: str) -> audio_notes.Notes:
    """Every instrument x pitch x velocity of one training soundfont: FluidR3's from `make data`, the
    others rendered once into the cache (needs FluidSynth and the soundfont).

    Raises:
        AssetError: not rendered and cannot be rendered here.
    """
    if font == audio_notes.SOUNDFONT.name:
        return audio_notes.load_rendered()
    cached = audio_notes.cache_folder() / f"{pathlib.Path(font).stem}.npz"
    if not cached.exists():
        if not (SOUNDFONTS / font).exists():
            raise AssetError(
                f"{SOUNDFONTS / font} is missing: install it (see engine/audio/instrument/train.py)."
            )
        audio = np.concatenate(
            [
                audio_notes.render_instrument(program, audio_notes.GRID, soundfont=SOUNDFONTS / font)
                for _, program in audio_notes.INSTRUMENTS
            ]
        )
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cached, audio=audio.astype(np.float16))
    with np.load(cached) as stored:
        return audio_notes.grid_notes(stored["audio"])


def unseen_soundfont_notes() -> audio_notes.Notes:
    """The test pitches at velocity 100, rendered from UNSEEN_SOUNDFONT (needs FluidSynth)."""
    grid = tuple(
        (pitch, audio_notes.TEST_NOTES_VELOCITY)
        for pitch in audio_notes.PITCHES
        if audio_notes.split_of(pitch) == "test"
    )
    font = SOUNDFONTS / UNSEEN_SOUNDFONT
    return audio_notes.grid_notes(
        np.concatenate(
            [
                audio_notes.render_instrument(program, grid, soundfont=font)
                for _, program in audio_notes.INSTRUMENTS
            ]
        ),
        grid,
    )


def pooled_split(fonts: list[audio_notes.Notes], name: str) -> audio_notes.Notes:
    """One split ("train", "validation", "test") of several soundfonts' notes, pooled."""
    parts = [audio_notes.split(notes, name) for notes in fonts]
    return audio_notes.Notes(
        *(
            np.concatenate([getattr(part, field) for part in parts])
            for field in ("audio", "instruments", "pitches", "velocities")
        )
    )


class InstrumentTask(training.Task):
    """The instrument CNN on the pooled soundfonts' notes; the Trainer (engine/core/training.py) runs it."""

    name = instrument_cnn.MODEL_NAME
    asset = instrument_cnn.WEIGHTS
    monitor = "validation_accuracy"
    ties_to_later = False  # a later epoch must beat the best so far, not tie it
    unit = "notes"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        seed: int = 0,
        soundfonts: tuple[str, ...] = TRAINING_SOUNDFONTS,
        on_progress: ProgressCallback = no_progress,
    ):
        self.seed, self.soundfonts, self.on_progress = seed, soundfonts, on_progress

    def build_inputs(self, first_epoch: int) -> None:
        import keras

        keras.utils.set_random_seed(self.seed)
        self.generator = np.random.default_rng(
            self.seed
        )  # augments the notes, then orders and colours batches
        fonts = [soundfont_notes(font) for font in self.soundfonts]
        train_notes, self.validation = pooled_split(fonts, "train"), pooled_split(fonts, "validation")
        self.on_progress(
            0.0, f"log-mel spectrograms of {len(train_notes.audio) * (1 + AUGMENTED_COPIES)} training notes"
        )
        copies = [train_notes.audio] + [
            augment(train_notes.audio, self.generator) for _ in range(AUGMENTED_COPIES)
        ]
        self.images = _images(np.concatenate(copies))
        self.labels = np.tile(train_notes.instruments, 1 + AUGMENTED_COPIES)
        self.validation_images = _images(self.validation.audio)

    def build_sampler(self) -> None:
        """The pooled training notes, unaugmented: `sample` augments the notes it draws."""
        self.train_notes = pooled_split([soundfont_notes(font) for font in self.soundfonts], "train")

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` random training notes, each an augmented copy as often as `build_inputs` makes them
        (AUGMENTED_COPIES of each note), as augmented log-mel images, and their instruments."""
        index = rng.integers(0, len(self.train_notes.instruments), size)
        notes = self.train_notes.audio[index].copy()
        copies = rng.random(size) < AUGMENTED_COPIES / (1 + AUGMENTED_COPIES)
        notes[copies] = augment(notes[copies], rng)
        return augment_images(_images(notes), rng), self.train_notes.instruments[index]

    def build_model(self) -> list:
        self.model, self.step = instrument_cnn.build(), None
        return [self.model]

    def loss(self, batch):
        return per_note_loss(self.model, *batch)

    def steps_per_epoch(self) -> int:
        return int(np.ceil(len(self.images) / BATCH_SIZE))

    def batches(self, epoch: int):
        order = self.generator.permutation(len(self.images))
        for batch_index in range(self.steps_per_epoch()):
            chosen = order[batch_index * BATCH_SIZE : (batch_index + 1) * BATCH_SIZE]
            yield augment_images(self.images[chosen], self.generator), self.labels[chosen]

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self.step is None:
            import tensorflow as tf

            variables = self.model.trainable_variables
            signature = [
                tf.TensorSpec([None, *self.images.shape[1:]], tf.float32),
                tf.TensorSpec([None], tf.int64),
            ]

            @tf.function(input_signature=signature)
            def step(
                images, answers
            ):  # one graph for the whole run (PERF-NOTES: eager steps cost ~50 ms each)
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(self.loss((images, answers)))
                optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
                return loss

            self.step = step
        return {"loss": float(self.step(*batch))}

    def validate(self) -> dict[str, float]:
        predicted = np.concatenate(
            [
                np.asarray(self.model.predict_on_batch(self.validation_images[start : start + 256]))
                for start in range(0, len(self.validation_images), 256)
            ]
        ).argmax(-1)
        return {"validation_accuracy": float(np.mean(predicted == self.validation.instruments))}

    def evaluate(self, weights: pathlib.Path) -> dict:
        stored = instrument_cnn.build()
        weights_io.load_float16(stored, weights)
        return evaluate(stored)  # on the float16 weights we commit, not the float32 ones

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        best = [entry for entry in history if entry["kept"]][-1]
        return (
            f"python -m engine train {instrument_cnn.MODEL_NAME} --epochs {epochs} (needs `make data` and the "
            f"soundfonts {', '.join(self.soundfonts)}; best epoch "
            f"{best['epoch']} of {len(history)} by validation accuracy {best['validation_accuracy']:.4f}; "
            f"{sum(entry['seconds'] for entry in history) / 60:.1f} min on 2 shared CPU cores)",
            metric_text(figures),
        )


def train(
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    seed: int = 0,
    output=None,
    max_batches: int | None = None,
    soundfonts: tuple[str, ...] = TRAINING_SOUNDFONTS,
    max_steps: int | None = None,
    run: str | None = None,
) -> dict:
    """Train from scratch on the rendered notes (needs `make data` first) into runs/instrument-cnn/RUN/, keep
    the best epoch by validation accuracy, store it float16 and measure its held-out figures
    (`python -m engine promote` puts it under assets/audio/ with its manifest line).

    Args:
        epochs: epochs over the augmented training notes (default DEFAULT_EPOCHS).
        output: a copy of the float16 weights.
        max_steps: stop each epoch after this many batches and write nothing (smoke tests only; old name
            `max_batches`).
    Returns:
        Per-epoch history, the best epoch and the held-out figures of the stored float16 weights.
    """
    result = training.train(
        InstrumentTask(seed, soundfonts, on_progress),
        epochs or DEFAULT_EPOCHS,
        schedules.constant(LEARNING_RATE),
        output=output,
        run=run,
        max_steps=max_steps if max_steps is not None else max_batches,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    kept = [entry for entry in result["history"] if entry.get("kept")]
    if "run" in result and kept:
        result.update(best_epoch=kept[-1]["epoch"], validation_accuracy=kept[-1]["validation_accuracy"])
    return result


def metric_text(figures: dict) -> str:
    text = (
        f"committed test notes ({figures['committed_test_notes']['notes']}, velocity "
        f"{audio_notes.TEST_NOTES_VELOCITY}): accuracy {figures['committed_test_notes']['accuracy']:.4f}"
    )
    for font in TRAINING_SOUNDFONTS:
        split = figures.get(f"test_split {font}", {})
        if "accuracy" in split:
            text += f"; {font} test pitches, all velocities ({split['notes']} notes): {split['accuracy']:.4f}"
    unseen = figures.get("unseen_soundfont", {})
    if "accuracy" in unseen:
        text += (
            f"; the test pitches from a soundfont never heard in training ({unseen['soundfont']}, "
            f"{unseen['notes']} notes): {unseen['accuracy']:.4f}"
        )
    return text


def evaluate_committed() -> dict:
    """`python -m engine eval instrument-cnn`: `evaluate` on the committed weights, named."""
    from engine.core import registry

    return {"model": instrument_cnn.MODEL_NAME, **evaluate(registry.load(instrument_cnn.MODEL_NAME).model)}


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights.
configs.register("instrument-cnn", configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
