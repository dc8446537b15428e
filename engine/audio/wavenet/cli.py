"""`python -m engine wavenet --instrument NAME --pitch MIDI --seconds S --out OUT.wav [--naive] --json`.

Generates one note with the committed WaveNet and writes it as 16-bit WAV. `--instrument` takes a
name or a blend such as `piano:0.5,flute:0.5`. Prints the settings and the samples per second.
"""

from __future__ import annotations

import argparse
import json
import pathlib


def parse_instrument(text: str) -> str | dict[str, float]:
    """'piano' -> 'piano'; 'piano:0.3,flute:0.7' -> {'piano': 0.3, 'flute': 0.7}."""
    from engine.core.errors import InvalidInput

    if ":" not in text and "," not in text:
        return text.strip()
    blend = {}
    for part in text.split(","):
        name, _, weight = part.partition(":")
        try:
            blend[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise InvalidInput(
                f"Blend weights are numbers, as in piano:0.5,flute:0.5; got {part!r}."
            ) from None
    return blend


def _wavenet(args: argparse.Namespace) -> int:
    from engine.audio import io as audio_io
    from engine.audio.wavenet import model as wavenet
    from engine.core import progress
    from engine.core.cli import print_progress

    model = wavenet.load()
    request = wavenet.NoteRequest(parse_instrument(args.instrument), args.pitch)
    generation = wavenet.generate(
        model,
        [request],
        args.seconds,
        args.temperature,
        args.seed,
        method="naive" if args.naive else "fast",
        on_progress=progress.no_progress if args.json else print_progress,
    )
    out = pathlib.Path(args.out)
    out.write_bytes(audio_io.to_wav_bytes(generation.audio[0], generation.sample_rate))
    result = {
        "instrument": request.instrument,
        "pitch": args.pitch,
        "seconds": generation.audio.shape[1] / generation.sample_rate,
        "temperature": args.temperature,
        "seed": args.seed,
        "method": generation.method,
        "sample_rate": generation.sample_rate,
        "samples_per_second": round(generation.samples_per_second, 1),
        "wall_seconds": round(generation.seconds, 3),
        "out": str(out),
    }
    print(
        json.dumps(result)
        if args.json
        else f"{generation.method} WaveNet: {result['seconds']:.2f} s at {generation.sample_rate} Hz -> {out} "
        f"({generation.samples_per_second:,.0f} samples/s)"
    )
    return 0


def _render_notes(args: argparse.Namespace) -> int:
    from engine.data import notes as audio_notes

    folder = audio_notes.render_all()
    notes = audio_notes.load_rendered(folder)
    print(
        f"{len(notes.audio)} notes ({len(audio_notes.INSTRUMENTS)} instruments x {len(audio_notes.PITCHES)} pitches x "
        f"{len(audio_notes.VELOCITIES)} velocities) rendered into {folder}; held-out subset in "
        f"{audio_notes.TEST_NOTES_FILE.relative_to(audio_notes.PROJECT_ASSETS.parent)}"
    )
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("wavenet", help="generate a note with the WaveNet")
    parser.add_argument(
        "--instrument", default="piano", help="piano, organ, trumpet, flute, or a blend piano:0.5,flute:0.5"
    )
    parser.add_argument("--pitch", type=int, default=60, help="MIDI pitch (60 = middle C)")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="WAV file to write")
    parser.add_argument(
        "--naive", action="store_true", help="recompute the receptive field for every sample (slow)"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_wavenet)
    render = commands.add_parser("render-notes", help="render the training notes with FluidSynth (make data)")
    render.set_defaults(run=_render_notes)
