"""`python -m engine capsnet IMAGE --json`: the digit a CapsNet reads in an image, with capsule lengths."""

from __future__ import annotations

import argparse
import json


def _capsnet(args: argparse.Namespace) -> int:
    from engine.capsules import api as capsules
    from engine.core import media, registry
    from engine.core.cli import read_input_file

    data = read_input_file(args.image, media.MAX_UPLOAD_BYTES)
    digit = capsules.prepare_digit(media.decode_image(data, min_side=56).pixels)
    reading = capsules.read_digit(registry.load("capsnet").model, digit)
    output = {
        "model": "capsnet",
        "class": reading.predicted,
        "lengths": [round(float(length), 6) for length in reading.lengths],
    }
    print(
        json.dumps(output)
        if args.json
        else f"digit {reading.predicted} (capsule length {reading.lengths.max():.3f})"
    )
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("capsnet", help="read one digit with the capsule network")
    parser.add_argument("image")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_capsnet)
