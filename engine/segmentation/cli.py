"""`python -m engine segment IMAGE --model NAME --json [--mask-out PATH]`."""

from __future__ import annotations

import argparse
import json
import pathlib


def _segment(args: argparse.Namespace) -> int:
    from engine.core import media
    from engine.core.cli import read_input_file
    from engine.segmentation import api as segmentation

    data = read_input_file(args.image, media.MAX_UPLOAD_BYTES)
    image, result = segmentation.segment_bytes(data, args.model)
    if args.mask_out:
        # One value per class (the label map), at the decoded size; see "labels" for the names.
        pathlib.Path(args.mask_out).write_bytes(media.encode_png(result.label_map))
    output = {**result.to_json(), "labels": list(result.labels), "size": list(result.label_map.shape[::-1])}
    if args.json:
        print(json.dumps(output))
    else:
        print(
            f"{result.model}: "
            + ", ".join(f"{label} {share:.1%}" for label, share in result.class_shares().items())
        )
    return 0


def add_commands(commands) -> None:
    segment = commands.add_parser("segment", help="label every pixel of an image")
    segment.add_argument("image")
    segment.add_argument(
        "--model",
        default="deeplabv3-voc",
        help="deeplabv3-voc (default), deeplabv3-hub (needs a network the first time), selfie-segmentation, "
        "unet (trained here on 96 x 96 scenes; "
        "a photo is resized to that and means little to it); instance models: ssd-selfie-people, "
        "mask-rcnn-instances (scenes), mask-rcnn-hub (needs a network)",
    )
    segment.add_argument("--json", action="store_true")
    segment.add_argument("--mask-out", default=None, help="write the label map as a PNG here")
    segment.set_defaults(run=_segment)
