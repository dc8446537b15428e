"""`python -m engine audio FILE --json`: the instrument (log-mel CNN) and pitch (basic-pitch) of a recording.

`--test-note INSTRUMENT MIDI` analyses one of the committed held-out notes instead (its truth is printed too).
"""

from __future__ import annotations

import argparse
import json


def _audio(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.audio import io as audio_io
    from engine.audio import pitch
    from engine.audio.instrument import model as instrument_cnn
    from engine.core import registry
    from engine.core.cli import read_input_file
    from engine.core.errors import InvalidInput
    from engine.data import notes as audio_notes

    if args.test_note is not None:
        instrument, midi = args.test_note[0], int(args.test_note[1]) if args.test_note[1].isdigit() else -1
        notes = audio_notes.test_notes()
        found = np.flatnonzero(
            (notes.pitches == midi)
            & (
                notes.instruments
                == (
                    audio_notes.INSTRUMENT_NAMES.index(instrument)
                    if instrument in audio_notes.INSTRUMENT_NAMES
                    else -1
                )
            )
        )
        if found.size == 0:
            raise InvalidInput(
                f"No committed test note {instrument} {args.test_note[1]}: instruments are "
                f"{', '.join(audio_notes.INSTRUMENT_NAMES)}, pitches "
                f"{', '.join(map(str, sorted(set(notes.pitches.tolist()))))}."
            )
        audio, source = notes.audio[found[0]], {"test_note": {"instrument": instrument, "midi": midi}}
    elif args.file:
        decoded = audio_io.decode(read_input_file(args.file, audio_io.MAX_UPLOAD_BYTES), args.file)
        audio = decoded.audio
        source = {
            "file": args.file,
            "original_rate": decoded.original_rate,
            "channels": decoded.channels,
            "seconds": round(decoded.seconds, 3),
            "notes": list(decoded.notes),
        }
    else:
        raise InvalidInput(
            "Name a WAV, FLAC or OGG file, or --test-note INSTRUMENT MIDI for a committed note."
        )
    guess = instrument_cnn.classify(registry.load(instrument_cnn.MODEL_NAME).model, audio)
    estimate = pitch.estimate_pitch(audio, model=registry.load(pitch.MODEL_NAME).model)
    output = {**source, "instrument": guess.to_json(), "pitch": estimate.to_json()}
    if args.json:
        print(json.dumps(output))
        return 0
    print(
        f"instrument: {guess.instrument} ({guess.probabilities[guess.instrument]:.2f}); "
        f"pitch: {estimate.name} (MIDI {estimate.midi}, confidence {estimate.confidence:.2f})"
    )
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("audio", help="instrument and pitch of a recording (WAV, FLAC, OGG)")
    parser.add_argument("file", nargs="?", help="a WAV / FLAC / OGG file")
    parser.add_argument(
        "--test-note",
        nargs=2,
        metavar=("INSTRUMENT", "MIDI"),
        default=None,
        help="a committed held-out note instead of a file",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_audio)
