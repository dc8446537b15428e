"""Single instrument notes at 16 kHz, rendered here from a General MIDI soundfont (NSynth-style data).

NSynth (Engel et al., "Neural Audio Synthesis of Musical Notes with WaveNet Autoencoders", 2017)
is a data set of 4 s notes of many instruments at every pitch and five velocities. No data set can
be downloaded here, so the notes are rendered: Debian's `fluid-soundfont-gm` (FluidR3, MIT) played
by the `fluidsynth` command, reverb and chorus off, 1 s per note. One MIDI file per instrument
holds every (pitch, velocity) note with a gap for the release, and is cut into notes afterwards.

Rendering needs FluidSynth (`make data` on a machine with `apt-get install fluidsynth
fluid-soundfont-gm`); nothing at run time does. The app and the tests need only the committed
weights and a committed, compact subset of held-out notes (`assets/audio/notes_test.flac`).

Splits are by pitch, so a held-out note is never a louder or softer copy of a training note:
MIDI pitch % 4 == 1 is test, == 3 is validation, even pitches are training.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence

import numpy as np

from engine.core import assets
from engine.core.errors import AssetError, InvalidInput
from engine.core.registry import PROJECT_ASSETS

SAMPLE_RATE = 16_000
NOTE_SECONDS = 1.0
NOTE_SAMPLES = int(SAMPLE_RATE * NOTE_SECONDS)
GAP_SECONDS = 0.75  # silence after each note so its release does not leak into the next one
# (family name, General MIDI program); the family names follow NSynth's instrument families.
INSTRUMENTS = (
    ("piano", 0),
    ("organ", 19),
    ("guitar", 24),
    ("bass", 32),
    ("violin", 40),
    ("trumpet", 56),
    ("flute", 73),
    ("vibraphone", 11),
)
INSTRUMENT_NAMES = tuple(name for name, _ in INSTRUMENTS)
PITCHES = tuple(range(36, 85))  # C2 .. C6
VELOCITIES = (70, 100, 127)
GRID = tuple(
    (pitch, velocity) for pitch in PITCHES for velocity in VELOCITIES
)  # each instrument's notes, in order
SOUNDFONT = pathlib.Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TEST_NOTES_FILE = PROJECT_ASSETS / "audio" / "notes_test.flac"
TEST_NOTES_VELOCITY = 100  # the committed held-out subset keeps one velocity to stay small


@dataclasses.dataclass(frozen=True)
class Notes:
    """Rendered notes: audio float32 (N, NOTE_SAMPLES) in [-1, 1] and their labels."""

    audio: np.ndarray
    instruments: np.ndarray  # int64 index into INSTRUMENT_NAMES
    pitches: np.ndarray  # int64 MIDI pitch
    velocities: np.ndarray  # int64 MIDI velocity

    def select(self, keep: np.ndarray) -> "Notes":
        return Notes(self.audio[keep], self.instruments[keep], self.pitches[keep], self.velocities[keep])


def split_of(pitch: int) -> str:
    """The split a pitch belongs to (by pitch, see the module docstring)."""
    if pitch % 2 == 0:
        return "train"
    return "test" if pitch % 4 == 1 else "validation"


def _variable_length(value: int) -> bytes:
    """MIDI variable-length quantity (7 bits per byte, high bit = more follows)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file(
    program: int,
    notes: Sequence[tuple[int, int]],
    note_seconds: float = NOTE_SECONDS,
    gap_seconds: float = GAP_SECONDS,
) -> bytes:
    """A type-0 Standard MIDI File playing `notes` [(pitch, velocity)] one after another on channel 0.

    480 ticks per quarter note at the default 120 bpm, so one second is 960 ticks.
    """
    ticks_per_second = 960
    events = bytearray(b"\x00" + bytes([0xC0, program]))  # program change at time 0
    on_ticks, off_ticks = int(note_seconds * ticks_per_second), int(gap_seconds * ticks_per_second)
    for index, (pitch, velocity) in enumerate(notes):
        events += _variable_length(0 if index == 0 else off_ticks) + bytes([0x90, pitch, velocity])
        events += _variable_length(on_ticks) + bytes([0x80, pitch, 0])
    events += _variable_length(off_ticks) + b"\xff\x2f\x00"  # end of track after the last release
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    return header + b"MTrk" + struct.pack(">I", len(events)) + bytes(events)


def render_instrument(
    program: int, notes: Sequence[tuple[int, int]], soundfont: pathlib.Path = SOUNDFONT
) -> np.ndarray:
    """Render `notes` of one GM program with FluidSynth; returns float32 (len(notes), NOTE_SAMPLES)."""
    import soundfile

    if shutil.which("fluidsynth") is None or not soundfont.exists():
        raise AssetError(
            "Rendering notes needs FluidSynth and the FluidR3 soundfont: "
            "run `apt-get install fluidsynth fluid-soundfont-gm`, then `make data`."
        )
    with tempfile.TemporaryDirectory() as folder:
        midi_path, wav_path = pathlib.Path(folder) / "notes.mid", pathlib.Path(folder) / "notes.wav"
        midi_path.write_bytes(midi_file(program, notes))
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-R",
                "0",
                "-C",
                "0",
                "-g",
                "1.0",
                "-r",
                str(SAMPLE_RATE),
                "-T",
                "wav",
                "-F",
                str(wav_path),
                str(soundfont),
                str(midi_path),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        audio, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise AssetError(f"FluidSynth rendered at {rate} Hz instead of {SAMPLE_RATE} Hz.")
    mono = audio.mean(axis=1)
    stride = int(round((NOTE_SECONDS + GAP_SECONDS) * SAMPLE_RATE))
    out = np.zeros((len(notes), NOTE_SAMPLES), np.float32)
    for index in range(len(notes)):
        piece = mono[index * stride : index * stride + NOTE_SAMPLES]
        out[index, : len(piece)] = piece
    return out


def cache_folder() -> pathlib.Path:
    return assets.cache_dir() / "audio_notes"


def render_all(folder: pathlib.Path | None = None) -> pathlib.Path:
    """Render every instrument x pitch x velocity into `folder` (default: the cache); returns it."""
    import soundfile

    folder = folder or cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for name, program in INSTRUMENTS:
        audio = render_instrument(program, GRID)
        soundfile.write(folder / f"{name}.flac", audio.reshape(-1), SAMPLE_RATE, subtype="PCM_16")
    (folder / "notes.json").write_text(
        json.dumps({"pitches": PITCHES, "velocities": VELOCITIES, "instruments": INSTRUMENT_NAMES})
    )
    _write_test_subset(load_rendered(folder))
    return folder


def _write_test_subset(notes: Notes, path: pathlib.Path = TEST_NOTES_FILE) -> None:
    """The compact held-out subset that is committed: test pitches, one velocity, every instrument."""
    import soundfile

    keep = np.array([split_of(int(p)) == "test" for p in notes.pitches]) & (
        notes.velocities == TEST_NOTES_VELOCITY
    )
    subset = notes.select(keep)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, subset.audio.reshape(-1), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "note_samples": NOTE_SAMPLES,
                "instruments": [INSTRUMENT_NAMES[i] for i in subset.instruments],
                "pitches": subset.pitches.tolist(),
                "velocities": subset.velocities.tolist(),
            }
        )
    )


def load_rendered(folder: pathlib.Path | None = None) -> Notes:
    """Every rendered note from `folder` (default: the cache). Raises AssetError when not rendered."""
    import soundfile

    folder = folder or cache_folder()
    if not (folder / "notes.json").exists():
        raise AssetError("The rendered notes are missing: run `make data` (needs FluidSynth) first.")
    audio = [
        soundfile.read(folder / f"{name}.flac", dtype="float32")[0].reshape(len(GRID), NOTE_SAMPLES)
        for name in INSTRUMENT_NAMES
    ]
    return grid_notes(np.concatenate(audio))


def grid_notes(audio: np.ndarray, grid: tuple[tuple[int, int], ...] = GRID) -> Notes:
    """Label notes rendered instrument by instrument (INSTRUMENTS order), each over `grid` of (pitch, velocity)."""
    count = len(INSTRUMENTS)
    return Notes(
        audio.astype(np.float32),
        np.repeat(np.arange(count, dtype=np.int64), len(grid)),
        np.tile(np.array([pitch for pitch, _ in grid], np.int64), count),
        np.tile(np.array([velocity for _, velocity in grid], np.int64), count),
    )


@functools.lru_cache(maxsize=1)
def test_notes() -> Notes:
    """The committed held-out notes (test pitches, velocity TEST_NOTES_VELOCITY, all instruments)."""
    import soundfile

    if not TEST_NOTES_FILE.exists():
        raise AssetError(f"{TEST_NOTES_FILE.name} is missing from assets/audio; restore it from git.")
    labels = json.loads(TEST_NOTES_FILE.with_suffix(".json").read_text())
    samples, _ = soundfile.read(TEST_NOTES_FILE, dtype="float32")
    count = len(labels["pitches"])
    return Notes(
        samples.reshape(count, labels["note_samples"]),
        np.array([INSTRUMENT_NAMES.index(n) for n in labels["instruments"]], np.int64),
        np.array(labels["pitches"], np.int64),
        np.array(labels["velocities"], np.int64),
    )


def split(notes: Notes, name: str) -> Notes:
    """The notes of one split ("train", "validation" or "test")."""
    if name not in ("train", "validation", "test"):
        raise InvalidInput(f"Unknown split {name!r}: use train, validation or test.")
    return notes.select(np.array([split_of(int(p)) == name for p in notes.pitches]))


def midi_frequency(pitch):
    """MIDI pitch(es) -> fundamental frequency in Hz (equal temperament, A4 = MIDI 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, np.float64) - 69) / 12)


def pitch_name(midi: int) -> str:
    """MIDI 60 -> 'C4'."""
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    return f"{names[midi % 12]}{midi // 12 - 1}"
