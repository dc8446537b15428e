"""The pitch of a note, from Spotify's basic-pitch model (a TFLite file from its PyPI package).

Bittner et al., "A Lightweight Instrument-Agnostic Model for Polyphonic Note Transcription and
Multipitch Estimation", ICASSP 2022: a small CNN on a harmonic-stacked constant-Q transform that
outputs, every 256 samples at 22,050 Hz (86 frames/s), a posteriorgram of the 88 piano keys
(`note`), one of note onsets and a finer pitch contour. It reads windows of 43,844 samples (2 s
less one hop). As basic-pitch's own inference does, the audio is padded at the start by half of a
30-frame overlap, cut into windows that overlap by 30 frames, and the outputs are stitched back
after dropping 15 frames at each window edge.

A note's pitch here is the key whose note posterior, summed over the frames, is largest; its
confidence is that key's highest posterior in any frame, and below NOTE_THRESHOLD (basic-pitch's
default frame threshold) no pitch is reported. The interpreter is shared by every session of the
app, so a lock guards resize / set-input / invoke / read-output.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np

from engine.audio import io as audio_io
from engine.core import assets, registry
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.data import notes as audio_notes

MODEL_NAME = "basic-pitch"
MODEL_FILE = "basic_pitch_nmp.tflite"
MODEL_RATE = 22_050  # Hz, basic-pitch's input rate
FFT_HOP = 256  # samples per output frame
WINDOW_SAMPLES = 2 * MODEL_RATE - FFT_HOP  # 43,844: the model's fixed input length
OVERLAP_FRAMES = 30  # output frames shared by consecutive windows
OVERLAP_SAMPLES = OVERLAP_FRAMES * FFT_HOP
WINDOW_HOP = WINDOW_SAMPLES - OVERLAP_SAMPLES
FRAMES_PER_SECOND = MODEL_RATE // FFT_HOP  # 86, as basic-pitch counts them
LOWEST_MIDI = 21  # the posteriorgram's first key is A0
KEYS = 88
NOTE_THRESHOLD = 0.3  # basic-pitch's default frame threshold: weaker evidence is "no pitch"
BATCH_WINDOWS = 8  # windows per invoke: 1-16 cost about the same per window here; 8 bounds the memory


class BasicPitch:
    """The TFLite interpreter with a lock; `posteriorgrams` runs any number of windows."""

    def __init__(self, path, num_threads: int | None = None):
        from engine.core import runtime

        try:
            self.interpreter = runtime._interpreter_class()(
                model_path=str(path), num_threads=num_threads or runtime.TFLITE_THREADS
            )
            outputs = self.interpreter._get_full_signature_list()["serving_default"]["outputs"]
        except (ValueError, RuntimeError, KeyError) as error:
            raise ModelUnavailable(
                f"{MODEL_FILE} is not the basic-pitch TFLite model ({error}); fetch it again "
                "with `python -m engine assets fetch`."
            ) from error
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = {name: outputs[name] for name in ("note", "onset", "contour")}
        self.batch = 0
        self.lock = threading.Lock()

    def run(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        """float32 (N, WINDOW_SAMPLES) at 22,050 Hz -> {"note": (N, 172, 88), "onset": (N, 172, 88),
        "contour": (N, 172, 264)}."""
        windows = np.ascontiguousarray(windows, np.float32)[..., None]
        with self.lock:
            if len(windows) != self.batch:
                self.interpreter.resize_tensor_input(self.input_index, list(windows.shape))
                self.interpreter.allocate_tensors()
                self.batch = len(windows)
            self.interpreter.set_tensor(self.input_index, windows)
            self.interpreter.invoke()
            return {
                name: self.interpreter.get_tensor(index).copy() for name, index in self.output_index.items()
            }


def from_source(spec: registry.ModelSpec, source: registry.WeightSource) -> BasicPitch:
    """The registry's builder of "basic-pitch" (engine/core/entries.py)."""
    return BasicPitch(assets.verified_path(source.reference))


@dataclasses.dataclass(frozen=True)
class PitchEstimate:
    midi: int | None  # the note's MIDI number; None when no key reached NOTE_THRESHOLD
    name: str  # "A4", or "no pitch"
    confidence: float  # the chosen key's highest note posterior in any frame, 0..1
    posteriorgram: np.ndarray  # float32 (frames, 88) note posteriors, 86 frames per second, keys from MIDI 21
    ms: float

    @property
    def frequency_hz(self) -> float | None:
        return None if self.midi is None else float(audio_notes.midi_frequency(self.midi))

    def to_json(self) -> dict:
        return {
            "midi": self.midi,
            "name": self.name,
            "confidence": round(self.confidence, 4),
            "frequency_hz": None if self.midi is None else round(self.frequency_hz, 2),
        }


def _windows(audio: np.ndarray) -> np.ndarray:
    """22,050 Hz audio -> (windows, WINDOW_SAMPLES), padded as basic-pitch pads."""
    padded = np.concatenate([np.zeros(OVERLAP_SAMPLES // 2, np.float32), audio.astype(np.float32)])
    count = int(np.ceil(padded.size / WINDOW_HOP))  # a window at every hop inside the audio (tf.signal.frame)
    padded = np.pad(padded, (0, (count - 1) * WINDOW_HOP + WINDOW_SAMPLES - padded.size))
    return np.stack(
        [padded[index * WINDOW_HOP : index * WINDOW_HOP + WINDOW_SAMPLES] for index in range(count)]
    )


def _unwrap(output: np.ndarray, samples: int) -> np.ndarray:
    """(windows, 172, K) -> (frames, K): drop half the overlap at each edge, join, trim to the audio."""
    half = OVERLAP_FRAMES // 2
    joined = output[:, half:-half].reshape(-1, output.shape[-1])
    return joined[: int(np.floor(samples * FRAMES_PER_SECOND / MODEL_RATE))]


def _to_model_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise InvalidInput("Expected mono audio (one non-empty row of samples).")
    return audio_io.resample(audio, int(rate), MODEL_RATE)


def posteriorgrams(
    model: BasicPitch, clips: list[np.ndarray], rate: int = audio_notes.SAMPLE_RATE
) -> list[np.ndarray]:
    """Note posteriorgrams (frames, 88) of several mono clips, their windows run together in batches."""
    resampled = [_to_model_rate(clip, rate) for clip in clips]
    windows = [_windows(clip) for clip in resampled]
    stacked = np.concatenate(windows)
    notes = np.concatenate(
        [
            model.run(stacked[start : start + BATCH_WINDOWS])["note"]
            for start in range(0, len(stacked), BATCH_WINDOWS)
        ]
    )
    out, start = [], 0
    for clip, clip_windows in zip(resampled, windows):
        out.append(_unwrap(notes[start : start + len(clip_windows)], clip.size).astype(np.float32))
        start += len(clip_windows)
    return out


def pitch_of(posteriorgram: np.ndarray) -> tuple[int | None, float]:
    """(MIDI number or None, confidence) from a note posteriorgram (frames, 88)."""
    if posteriorgram.size == 0:
        return None, 0.0
    key = int(posteriorgram.sum(axis=0).argmax())
    confidence = float(posteriorgram[:, key].max())
    return (LOWEST_MIDI + key if confidence >= NOTE_THRESHOLD else None), confidence


def estimate_pitch(
    audio: np.ndarray, rate: int = audio_notes.SAMPLE_RATE, model: BasicPitch | None = None
) -> PitchEstimate:
    """The pitch of one note (mono float32 at `rate` Hz).

    Raises:
        InvalidInput: not a non-empty mono waveform.
        ModelUnavailable: the basic-pitch file is not fetched.
    """
    model = model or registry.load(MODEL_NAME).model
    started = time.perf_counter()
    posteriorgram = posteriorgrams(model, [audio], rate)[0]
    midi, confidence = pitch_of(posteriorgram)
    return PitchEstimate(
        midi,
        "no pitch" if midi is None else audio_notes.pitch_name(midi),
        confidence,
        posteriorgram,
        (time.perf_counter() - started) * 1000,
    )


def midi_pitches(
    clips: list[np.ndarray], rate: int = audio_notes.SAMPLE_RATE, model: BasicPitch | None = None
) -> list[int | None]:
    """The MIDI pitch of each clip (None where no key reaches NOTE_THRESHOLD or the clip is silent),
    all clips' windows run together: the WaveNet pitch check calls this on a batch of generated notes."""
    model = model or registry.load(MODEL_NAME).model
    clips = [np.nan_to_num(np.asarray(clip, np.float32)).reshape(-1) for clip in clips]
    audible = [index for index, clip in enumerate(clips) if np.any(np.abs(clip) > audio_io.SILENCE_PEAK)]
    pitches: list[int | None] = [None] * len(clips)
    if audible:
        for index, gram in zip(audible, posteriorgrams(model, [clips[index] for index in audible], rate)):
            pitches[index] = pitch_of(gram)[0]
    return pitches
