"""Sound as an image: the log-mel spectrogram that the instrument CNN reads and the page draws.

A short-time Fourier transform (Hann window) turns a waveform into frames of frequency magnitudes;
a mel filter bank (Stevens, Volkmann & Newman 1937; the HTK formula mel = 2595 log10(1 + f / 700))
pools them into bands spaced as the ear spaces pitch; decibels make loudness differences additive.
The result is a (bands x frames) picture a 2-D CNN reads like any image (the chapter's point that
sounds become images). Plain numpy: it runs in the page and the tests without TensorFlow.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.core.errors import InvalidInput

SAMPLE_RATE = 16_000  # as audio_notes.SAMPLE_RATE
FFT_SIZE = 1024  # 64 ms window: resolves the lowest note (C2, 65 Hz) into its own bins
HOP = 256  # 16 ms between frames
MEL_BANDS = 64
MIN_HZ = 30.0
MAX_HZ = 8_000.0  # Nyquist at 16 kHz
FLOOR_DB = -80.0  # everything quieter than the loudest bin by more than this is floored


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def mel_filter_bank(
    bands: int = MEL_BANDS, sample_rate: int = SAMPLE_RATE, fft_size: int = FFT_SIZE
) -> np.ndarray:
    """Triangular filters, float32 (bands, fft_size // 2 + 1), each of unit peak."""
    bin_hz = np.arange(fft_size // 2 + 1) * sample_rate / fft_size
    edges = _mel_to_hz(np.linspace(_hz_to_mel(MIN_HZ), _hz_to_mel(min(MAX_HZ, sample_rate / 2)), bands + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_hz[None] - lower) / (centre - lower)
    falling = (upper - bin_hz[None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def band_centres_hz(bands: int = MEL_BANDS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The centre frequency of each mel band (for plot axes)."""
    mels = np.linspace(_hz_to_mel(MIN_HZ), _hz_to_mel(min(MAX_HZ, sample_rate / 2)), bands + 2)[1:-1]
    return _mel_to_hz(mels)


def frame_count(samples: int) -> int:
    """Frames of a `samples`-long signal (centred frames: the signal is padded by FFT_SIZE // 2 each side)."""
    return 1 + samples // HOP


def power_spectrogram(audio: np.ndarray) -> np.ndarray:
    """|STFT|^2, float32 (frames, FFT_SIZE // 2 + 1), Hann window, centred frames (zero padding)."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise InvalidInput("Expected a mono waveform (one non-empty row of samples).")
    padded = np.pad(audio, FFT_SIZE // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, FFT_SIZE)[::HOP][: frame_count(audio.size)]
    spectrum = np.fft.rfft(frames * np.hanning(FFT_SIZE + 1)[:-1].astype(np.float32), axis=-1)
    return (spectrum.real**2 + spectrum.imag**2).astype(np.float32)


def log_mel(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Log-mel spectrogram in dB relative to its loudest bin, float32 (MEL_BANDS, frames) in [FLOOR_DB, 0].

    Relative decibels make the picture independent of the recording's gain: a note played softer
    or recorded quieter gives the same image, so the classifier learns timbre, not loudness.
    """
    if sample_rate != SAMPLE_RATE:
        raise InvalidInput(
            f"log_mel expects {SAMPLE_RATE} Hz audio; resample it first (audio_io.decode does)."
        )
    mel = mel_filter_bank() @ power_spectrogram(audio).T
    decibels = 10.0 * np.log10(np.maximum(mel, 1e-12))
    return np.maximum(decibels - decibels.max(), FLOOR_DB).astype(np.float32)


def log_mel_batch(audio: np.ndarray) -> np.ndarray:
    """log_mel of each row of float32 (N, samples), as a CNN input (N, MEL_BANDS, frames, 1) in [0, 1]."""
    images = np.stack([log_mel(row) for row in np.asarray(audio, np.float32)])
    return ((images - FLOOR_DB) / -FLOOR_DB)[..., None]
