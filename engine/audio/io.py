"""Uploaded audio: bounded, checked decoding to 16 kHz mono float32, and WAV bytes for downloads.

Uploads are untrusted bytes. libsndfile (through `soundfile`) reads WAV, FLAC and OGG (Vorbis or
Opus) from memory; nothing is written to disk. Before any sample is kept we check the container,
the sample rate and the channel count, and we read at most MAX_SECONDS, block by block, mixing the
channels down as we go, so a file claiming hours of 32-channel audio costs no more memory than
MAX_SECONDS of mono. Samples are then checked (NaN / infinity refused, silence refused with a message
that says so, overloud float files scaled to full scale) and resampled to 16 kHz with a polyphase
filter (scipy's `resample_poly`, a Kaiser-windowed FIR low-pass applied at the reduced rate).
"""

from __future__ import annotations

import dataclasses
import io
import math
import pathlib

import numpy as np

from engine.core.errors import InvalidMedia

SAMPLE_RATE = 16_000  # every model of the audio page works at 16 kHz
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 30 s of 96 kHz 24-bit stereo WAV is 17 MB
MAX_SECONDS = 30.0  # longer recordings are cut to their first MAX_SECONDS (the note says so)
MIN_SECONDS = 0.05  # shorter than this holds no note to analyse
MIN_RATE = 2_000  # Hz; below this is not an audio recording
MAX_RATE = 384_000  # Hz; the highest rate studio converters use
MAX_CHANNELS = 32
SILENCE_PEAK = 1e-4  # -80 dB below full scale: quieter than 16-bit dither
READ_BLOCK_FRAMES = 65_536  # frames per block while mixing down
MAX_RESAMPLE_FACTOR = 20_000  # larger up / down factors (odd rates) are rounded: 7,919 Hz exact takes 0.2 s
FORMATS = {"WAV": "WAV", "WAVEX": "WAV", "RF64": "WAV", "FLAC": "FLAC", "OGG": "OGG"}  # libsndfile -> shown
SUFFIXES = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus")


@dataclasses.dataclass(frozen=True)
class DecodedAudio:
    """A mono recording at SAMPLE_RATE and what decoding it did."""

    audio: np.ndarray  # float32 (samples,) in [-1, 1]
    sample_rate: int  # SAMPLE_RATE
    original_rate: int
    channels: int  # in the file (mixed down to one)
    original_seconds: float  # length of the whole file, before any cut
    format: str  # "WAV", "FLAC" or "OGG"
    subtype: str  # libsndfile's encoding name, e.g. "PCM_16", "PCM_U8", "FLOAT", "VORBIS"
    notes: tuple[str, ...]  # what was changed, in words (resampled, mixed down, cut, scaled)

    @property
    def seconds(self) -> float:
        return self.audio.size / self.sample_rate


def describe_limits() -> str:
    """One sentence for pages: which audio files are accepted."""
    return (
        f"WAV, FLAC or OGG; up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; any sample rate from "
        f"{MIN_RATE // 1000} to {MAX_RATE // 1000} kHz (resampled to 16 kHz) and up to {MAX_CHANNELS} channels "
        f"(mixed to mono); the first {MAX_SECONDS:.0f} s are used"
    )


def _open(data: bytes):
    import soundfile

    try:
        return soundfile.SoundFile(io.BytesIO(data))
    except soundfile.LibsndfileError as error:
        text = str(error).lower()
        if "malformed" in text or "unexpected end" in text or "lost sync" in text:
            raise InvalidMedia(
                "The audio file is damaged or cut short. Upload the whole file again."
            ) from error
        raise InvalidMedia(
            "This is not a WAV, FLAC or OGG audio file (or its format is not recognised). "
            "Upload a WAV, FLAC or OGG recording."
        ) from error
    except (RuntimeError, TypeError, ValueError) as error:
        raise InvalidMedia(
            "This file could not be read as audio. Upload a WAV, FLAC or OGG recording."
        ) from error


def _read_mono(sound, frames: int) -> np.ndarray:
    """Up to `frames` frames, mixed down to mono block by block."""
    import soundfile

    pieces, remaining = [], frames
    try:
        while remaining > 0:
            block = sound.read(min(READ_BLOCK_FRAMES, remaining), dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            pieces.append(block.mean(axis=1, dtype=np.float64).astype(np.float32))
            remaining -= len(block)
    except soundfile.LibsndfileError as error:
        if not pieces:
            raise InvalidMedia(
                "The audio file is damaged or cut short. Upload the whole file again."
            ) from error
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of float32 mono `audio` from `rate` to `target` Hz."""
    from scipy import signal

    if rate == target:
        return np.asarray(audio, np.float32)
    divisor = math.gcd(int(rate), int(target))
    up, down = target // divisor, rate // divisor
    if max(up, down) > MAX_RESAMPLE_FACTOR:  # e.g. 383,999 Hz: the exact filter would take seconds
        up, down = (
            target // 100,
            max(1, round(rate / 100)),
        )  # the nearest rate in steps of 100 Hz (at most 0.25% off)
        divisor = math.gcd(up, down)
        up, down = up // divisor, down // divisor
    return signal.resample_poly(audio, up, down).astype(np.float32)


def decode(data: bytes, name: str | None = None) -> DecodedAudio:
    """Decode uploaded audio bytes to 16 kHz mono float32.

    Args:
        data: the file's bytes.
        name: the uploaded file name; its extension must be one of SUFFIXES when given.
    Returns:
        The decoded recording; `notes` lists what was resampled, mixed down, cut or scaled.
    Raises:
        InvalidMedia: empty, too large, not WAV/FLAC/OGG, damaged, an absurd sample rate or channel
            count, too short, NaN or infinite samples, or silent; each message says what to do.
    """
    if not data:
        raise InvalidMedia("The file is empty. Upload a WAV, FLAC or OGG recording.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidMedia(
            f"The audio file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Upload a "
            f"shorter excerpt (the first {MAX_SECONDS:.0f} s are all that is analysed)."
        )
    if name is not None and pathlib.PurePath(name).suffix.lower() not in SUFFIXES:
        raise InvalidMedia(
            "Only WAV, FLAC and OGG files are read here (by their extension: .wav, .flac, .ogg, .oga, "
            ".opus). Upload a WAV, FLAC or OGG recording."
        )
    with _open(data) as sound:
        kind = FORMATS.get(sound.format)
        if kind is None:
            raise InvalidMedia(
                f"{sound.format} audio is not accepted here. Upload a WAV, FLAC or OGG recording."
            )
        rate, channels, subtype = int(sound.samplerate), int(sound.channels), sound.subtype
        total_frames = int(sound.frames)
        if not MIN_RATE <= rate <= MAX_RATE:
            raise InvalidMedia(
                f"The file claims a sample rate of {rate:,} Hz, outside {MIN_RATE:,}-{MAX_RATE:,} Hz: "
                "it is damaged or not a recording. Upload a normal recording (e.g. 44.1 or 48 kHz)."
            )
        if not 1 <= channels <= MAX_CHANNELS:
            raise InvalidMedia(
                f"The file claims {channels} channels (at most {MAX_CHANNELS} are read). "
                "Upload a mono or stereo recording."
            )
        mono = _read_mono(sound, min(max(total_frames, 0), int(MAX_SECONDS * rate)))
    notes = []
    original_seconds = max(total_frames, mono.size) / rate
    if mono.size < MIN_SECONDS * rate:
        raise InvalidMedia(
            f"The recording is {mono.size / rate * 1000:.0f} ms long, too short to hold a note "
            f"(at least {MIN_SECONDS * 1000:.0f} ms). Upload a longer recording."
        )
    if not np.all(np.isfinite(mono)):
        raise InvalidMedia(
            "The recording contains invalid samples (NaN or infinity). Export it again from "
            "your audio editor and upload that."
        )
    peak = float(np.abs(mono).max())
    if peak < SILENCE_PEAK:
        raise InvalidMedia(
            "The recording is silent (its loudest sample is below -80 dB of full scale): there is "
            "nothing to analyse. Upload a recording with sound in it."
        )
    if peak > 1.0:
        mono = mono / peak
        notes.append(f"scaled down by {20 * math.log10(peak):.1f} dB: its samples went beyond full scale")
    if channels > 1:
        notes.append(f"mixed {channels} channels down to mono")
    if total_frames > MAX_SECONDS * rate:
        notes.append(f"only the first {MAX_SECONDS:.0f} s of {original_seconds:.1f} s are used")
    if rate != SAMPLE_RATE:
        mono = resample(mono, rate)
        notes.append(f"resampled from {rate:,} Hz to {SAMPLE_RATE:,} Hz")
    mono = np.clip(mono, -1.0, 1.0).astype(np.float32)
    return DecodedAudio(mono, SAMPLE_RATE, rate, channels, original_seconds, kind, subtype, tuple(notes))


def to_wav_bytes(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV of mono float32 `audio` in [-1, 1] (clipped), for st.audio and downloads."""
    import soundfile

    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise InvalidMedia("Expected mono audio (one row of samples).")
    buffer = io.BytesIO()
    soundfile.write(
        buffer, np.clip(np.nan_to_num(audio), -1.0, 1.0), int(rate), format="WAV", subtype="PCM_16"
    )
    return buffer.getvalue()
