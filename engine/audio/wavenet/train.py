"""Training the WaveNet on rendered notes, and its pitch check.

Data: the notes of engine/data/notes.py for wavenet.INSTRUMENTS x wavenet.PITCHES at velocity 100
(every pitch: a generative model has to have seen the pitch it is asked for), each scaled to a
peak of 0.8 so mu-law's 256 classes are used. Each step takes random windows: a quarter start at
the note's first sample after one silence input (exactly what generation sees), the rest anywhere,
scored only where the whole receptive field lies inside the note. Adam, teacher forcing, cross
entropy on the next sample's class. An "epoch" here is STEPS_PER_EPOCH steps; the Trainer
(engine/core/training.py) ends each with a checkpoint in runs/wavenet/RUN/ (`--resume` continues from it)
and stores the last epoch float16; `python -m engine promote wavenet RUN` puts it under assets/.

Pitch check (the issue's held-out measure of generation): generate CHECK_SECONDS of every
instrument at CHECK_PITCHES, and ask the basic-pitch model (engine/audio/pitch.py) which MIDI pitch it hears.
"""

from __future__ import annotations

import numpy as np

from engine.audio.wavenet import model as wavenet
from engine.core import assets, configs, schedules, training
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import notes as audio_notes

CHECKPOINTS = (
    assets.cache_dir() / "train" / "wavenet"
)  # checkpoints from before runs/ (a --resume still reads them)
STEPS_PER_EPOCH = 250
DEFAULT_EPOCHS = 8
BATCH = 12
SCORED = 1500  # scored samples per window
START_SHARE = 0.35  # share of windows that begin at the note's start
LEARNING_RATE = 2e-3
PEAK = 0.8
CHECK_PITCHES = (48, 52, 55, 60, 64, 67, 72)
CHECK_SECONDS = 0.75
CHECK_TEMPERATURE = 0.9


def training_notes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes int64 (N, NOTE_SAMPLES), instrument index (N,), pitch index (N,)) for the WaveNet's grid."""
    notes = audio_notes.load_rendered()
    names = np.array(audio_notes.INSTRUMENT_NAMES)[notes.instruments]
    keep = (
        np.isin(names, wavenet.INSTRUMENTS)
        & np.isin(notes.pitches, wavenet.PITCHES)
        & (notes.velocities == 100)
    )
    audio = notes.audio[keep]
    audio = audio / np.maximum(np.abs(audio).max(axis=1, keepdims=True), 1e-4) * PEAK
    instruments = np.array([wavenet.INSTRUMENTS.index(n) for n in names[keep]], np.int64)
    pitches = np.array([wavenet.PITCHES.index(int(p)) for p in notes.pitches[keep]], np.int64)
    return wavenet.mu_law_encode(audio), instruments, pitches


def windows(
    codes: np.ndarray,
    rng: np.random.Generator,
    batch: int = BATCH,
    scored: int = SCORED,
    field: int = wavenet.receptive_field(),
) -> tuple[np.ndarray, ...]:
    """A batch of (input codes, target codes, loss mask, note index, first target sample) windows of
    length field + scored."""
    length = field + scored
    notes = rng.integers(0, len(codes), batch)
    inputs = np.empty((batch, length), np.int64)
    targets = np.empty((batch, length), np.int64)
    mask = np.zeros((batch, length), np.float32)
    first = np.zeros(batch, np.int64)
    padded = np.concatenate([np.full((len(codes), 1), wavenet.SILENCE), codes], axis=1)
    for row, note in enumerate(notes):
        if rng.random() < START_SHARE:
            start = 0  # input 0 is the silence before the note, as in generation
            mask[row] = 1.0
        else:
            start = rng.integers(1, codes.shape[1] - length + 1)
            mask[row, field:] = 1.0
        first[row] = start  # padded index start + 1 is sample `start`, the window's first target
        inputs[row] = padded[note, start : start + length]
        targets[row] = padded[note, start + 1 : start + length + 1]
    return inputs, targets, mask, notes, first


def training_batch(
    codes: np.ndarray,
    instruments: np.ndarray,
    pitches: np.ndarray,
    rng: np.random.Generator,
    batch: int = BATCH,
) -> tuple[np.ndarray, ...]:
    """`windows` of `training_notes()` as `window_loss` takes them: (inputs, targets, mask, instrument,
    pitch, phase), the ids int32 and the phase the sine / cosine of each note's F0."""
    inputs, targets, mask, notes, first = windows(codes, rng, batch=batch)
    frequencies = audio_notes.midi_frequency(np.array(wavenet.PITCHES)[pitches[notes]])
    return (
        inputs.astype(np.int32),
        targets.astype(np.int32),
        mask,
        instruments[notes].astype(np.int32),
        pitches[notes].astype(np.int32),
        wavenet.phase_features(frequencies, first, inputs.shape[1]),
    )


class WaveNetTask(training.Task):
    """Teacher-forced next-sample training on random windows; the Trainer (engine/core/training.py) runs it."""

    name = "wavenet"
    asset = wavenet.WEIGHTS
    monitor = None  # no held-out notes (every pitch must be seen): the last epoch is the one stored
    report_every = 10
    legacy_checkpoints = CHECKPOINTS  # the cache's checkpoints from before run folders
    unit = "windows"
    batch_size = BATCH

    def __init__(self, seed: int = 0, input_noise: float = wavenet.INPUT_NOISE):
        self.seed, self.input_noise = seed, input_noise

    def build_inputs(self, first_epoch: int) -> None:
        self.codes, self.instruments, self.pitches = training_notes()
        self.rng = np.random.default_rng(self.seed + first_epoch)  # a resumed run draws new windows

    def build_model(self) -> list:
        self.network, self.step = wavenet.build_network(input_noise=self.input_noise), None
        return [self.network]

    def steps_per_epoch(self) -> int:
        return STEPS_PER_EPOCH

    def batches(self, epoch: int):
        while True:
            yield training_batch(self.codes, self.instruments, self.pitches, self.rng)

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        return training_batch(self.codes, self.instruments, self.pitches, rng, batch=size)

    def loss(self, batch):
        return window_loss(self.network, *batch)  # the mean over the windows' trained samples

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self.step is None:
            import tensorflow as tf

            network = self.network

            @tf.function(reduce_retracing=True)
            def step(inputs, targets, mask, instrument, pitch, phase):
                with tf.GradientTape() as tape:
                    loss = self.loss((inputs, targets, mask, instrument, pitch, phase))
                optimizer.apply_gradients(
                    zip(tape.gradient(loss, network.trainable_variables), network.trainable_variables)
                )
                return loss

            self.step = step
        return {"loss": float(self.step(*batch))}

    def validate(self) -> dict[str, float]:
        return {"validation_loss": validation_loss(self.network, self.codes, self.instruments, self.pitches)}

    def committed_history(self) -> None:
        return None  # --resume goes on from a run (or the old cache) only, as it always did

    def evaluate(self, weights) -> dict:
        return pitch_check(wavenet.load_weights(weights))

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        return (
            f"python -m engine train wavenet --epochs {epochs or len(history)} ({len(history)} x "
            f"{STEPS_PER_EPOCH} steps of {BATCH} windows; {sum(e['seconds'] for e in history) / 60:.0f} min "
            f"on 2 shared CPU cores)",
            f"pitch check: basic-pitch hears the requested pitch in {figures['pitch_accuracy']:.3f} of "
            f"{figures['notes']} generated notes ({CHECK_SECONDS} s, temperature {CHECK_TEMPERATURE})",
        )


def train(
    steps: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    resume: bool = False,
    seed: int = 0,
    max_steps: int | None = None,
    input_noise: float = wavenet.INPUT_NOISE,
    epochs: int | None = None,
    run: str | None = None,
) -> dict:
    """Train for `epochs` (old name `steps`) epochs of STEPS_PER_EPOCH steps into runs/wavenet/RUN/; `resume`
    goes on from the latest run. The learning rate is cosine-decayed from LEARNING_RATE to 5% of it.

    max_steps: at most this many steps per epoch (smoke tests); nothing is saved then.
    """
    epochs = epochs or steps or DEFAULT_EPOCHS
    return training.train(
        WaveNetTask(seed, input_noise),
        epochs,
        schedules.cosine(LEARNING_RATE, alpha=0.05),
        resume=resume,
        run=run,
        max_steps=max_steps,
        on_progress=on_progress,
        should_stop=should_stop,
    )


def window_loss(network, inputs, targets, mask, instrument, pitch, phase):
    """Next-sample cross entropy averaged over the scored samples of a batch of windows (teacher forcing)."""
    import keras
    import tensorflow as tf

    logits = network([inputs, instrument, pitch, phase], training=True)
    losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return tf.reduce_sum(losses * mask) / tf.reduce_sum(mask)


def validation_loss(network, codes, instruments, pitches) -> float:
    """Mean scored cross entropy on 48 fixed windows (same seed every time; the data has no held-out
    notes, since every pitch must be seen, so this tracks fit, not generalisation)."""
    import keras

    inputs, targets, mask, instrument, pitch, phase = training_batch(
        codes, instruments, pitches, np.random.default_rng(12345), batch=48
    )
    logits = network.predict([inputs, instrument, pitch, phase], batch_size=12, verbose=0)
    losses = keras.ops.convert_to_numpy(
        keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    )
    return float((losses * mask).sum() / mask.sum())


def pitch_check(
    model: wavenet.WaveNet,
    pitches: tuple[int, ...] = CHECK_PITCHES,
    seconds: float = CHECK_SECONDS,
    seed: int = 0,
    on_progress: ProgressCallback = no_progress,
) -> dict:
    """Generate every instrument at `pitches` and measure the share basic-pitch hears at the requested pitch."""
    from engine.audio import pitch as pitch_model

    requests = [wavenet.NoteRequest(name, p) for name in model.instruments for p in pitches]
    audio = []
    for start in range(0, len(requests), wavenet.MAX_NOTES):
        generation = wavenet.generate(
            model,
            requests[start : start + wavenet.MAX_NOTES],
            seconds,
            temperature=CHECK_TEMPERATURE,
            seed=seed + start,
            on_progress=on_progress,
        )
        audio.extend(generation.audio)
    heard = pitch_model.midi_pitches(list(audio), wavenet.SAMPLE_RATE)
    rows = [{"instrument": r.instrument, "requested": r.pitch, "heard": h} for r, h in zip(requests, heard)]
    correct = sum(row["heard"] == row["requested"] for row in rows)
    by_instrument = {
        name: float(np.mean([row["heard"] == row["requested"] for row in rows if row["instrument"] == name]))
        for name in model.instruments
    }
    return {
        "model": "wavenet",
        "pitch_accuracy": correct / len(rows),
        "notes": len(rows),
        "seconds": seconds,
        "temperature": CHECK_TEMPERATURE,
        "by_instrument": by_instrument,
        "rows": rows,
    }


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights.
configs.register("wavenet", configs.DEFAULT, configs.TrainerDefaults(DEFAULT_EPOCHS))
