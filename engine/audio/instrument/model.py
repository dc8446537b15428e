"""Which instrument plays this note? A small 2-D CNN on the note's log-mel spectrogram.

The chapter's point that sounds become images: a 1 s note at 16 kHz becomes a 64-band x 63-frame
log-mel picture (engine/audio/features.py) and an ordinary image CNN (conv 3 x 3, batch norm, ReLU,
max pooling, global average pooling; as in Hershey et al., "CNN architectures for large-scale audio
classification", ICASSP 2017, much smaller) names one of the eight General MIDI instrument families
of engine/data/notes.py. Trained here (engine/audio/instrument/train.py) on the training pitches of two
soundfonts; held-out pitches, and a third soundfont never heard in training, measure it. TensorFlow
is imported only when a model is built.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from engine.audio import features as audio_features
from engine.core import manifest, registry
from engine.core.errors import InvalidMedia
from engine.data import notes as audio_notes

MODEL_NAME = "instrument-cnn"
WEIGHTS = "audio/instrument_cnn.npz"
INSTRUMENTS = audio_notes.INSTRUMENT_NAMES
NOTE_SAMPLES = audio_notes.NOTE_SAMPLES  # the CNN sees exactly one second
FRAMES = audio_features.frame_count(NOTE_SAMPLES)
FILTERS = (16, 32, 64, 64)  # per conv block; each block halves both axes
DROPOUT = 0.3
ONSET_FRACTION = 0.05  # a note starts where its 16 ms RMS first reaches this share of its loudest


def build():
    """The CNN: (MEL_BANDS, FRAMES, 1) in [0, 1] -> softmax over INSTRUMENTS."""
    import keras
    from keras import layers

    inputs = keras.Input((audio_features.MEL_BANDS, FRAMES, 1), name="log_mel")
    hidden = inputs
    for index, filters in enumerate(FILTERS):
        hidden = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{index + 1}")(hidden)
        hidden = layers.BatchNormalization(momentum=0.9, name=f"norm{index + 1}")(hidden)
        hidden = layers.ReLU(name=f"relu{index + 1}")(hidden)
        if index < len(FILTERS) - 1:
            hidden = layers.MaxPooling2D(2, name=f"pool{index + 1}")(hidden)
    hidden = layers.GlobalAveragePooling2D(name="average")(hidden)
    hidden = layers.Dropout(DROPOUT, name="dropout")(hidden)
    outputs = layers.Dense(len(INSTRUMENTS), activation="softmax", name="instrument")(hidden)
    return keras.Model(inputs, outputs, name="instrument_cnn")


def from_source(spec: registry.ModelSpec, source: registry.WeightSource):
    """The registry's builder of "instrument-cnn" (engine/core/entries.py)."""
    from engine.core import weights_io

    model = build()
    weights_io.load_float16(model, manifest.verified(source.reference))
    return model


@dataclasses.dataclass(frozen=True)
class InstrumentGuess:
    instrument: str  # the most probable of INSTRUMENTS
    probabilities: dict[str, float]  # instrument -> probability, in INSTRUMENTS order
    start_second: float  # where the classified one-second window starts in the audio
    ms: float

    def to_json(self) -> dict:
        return {
            "instrument": self.instrument,
            "start_second": round(self.start_second, 3),
            "probabilities": {name: round(value, 6) for name, value in self.probabilities.items()},
        }


def note_start(audio: np.ndarray) -> int:
    """First sample of the 16 ms frame where the sound first reaches ONSET_FRACTION of its loudest frame."""
    usable = (
        audio[: audio.size - audio.size % audio_features.HOP] if audio.size >= audio_features.HOP else audio
    )
    if usable.size < audio_features.HOP:
        return 0
    rms = np.sqrt(np.mean(usable.reshape(-1, audio_features.HOP) ** 2, axis=1))
    return int(np.argmax(rms >= ONSET_FRACTION * rms.max())) * audio_features.HOP


def note_window(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """The one second the CNN reads: from the note's onset, zero-padded when shorter. Returns (window, start)."""
    audio = np.asarray(audio, np.float32)
    start = note_start(audio)
    window = audio[start : start + NOTE_SAMPLES]
    return np.pad(window, (0, NOTE_SAMPLES - window.size)), start


def probabilities(model, audio: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Softmax rows for float32 (N, NOTE_SAMPLES) notes at 16 kHz."""
    images = audio_features.log_mel_batch(audio)
    return np.concatenate(
        [
            np.asarray(model.predict_on_batch(images[start : start + batch_size]))
            for start in range(0, len(images), batch_size)
        ]
    )


def classify(model, audio: np.ndarray) -> InstrumentGuess:
    """The instrument of a mono 16 kHz sound (any length; its first second from the onset is read).

    Raises:
        InvalidMedia: the sound is silent (nothing to classify).
    """
    audio = np.asarray(audio, np.float32)
    if audio.size == 0 or not np.any(np.abs(audio) > 1e-4):
        raise InvalidMedia("The sound is silent: there is no note to classify. Upload a recording of a note.")
    started = time.perf_counter()
    window, start = note_window(audio)
    row = probabilities(model, window[None])[0]
    return InstrumentGuess(
        INSTRUMENTS[int(row.argmax())],
        {name: float(value) for name, value in zip(INSTRUMENTS, row)},
        start / audio_notes.SAMPLE_RATE,
        (time.perf_counter() - started) * 1000,
    )
