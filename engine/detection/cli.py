"""`python -m engine detect IMAGE --model NAME [--min-score S] [--iou T] [--proposals N] --json [--out PNG]`."""

from __future__ import annotations

import argparse
import json
import pathlib


def _detect(args: argparse.Namespace) -> int:
    from engine.core import media
    from engine.core.cli import print_progress, read_input_file
    from engine.detection import api as detection

    data = read_input_file(args.image, media.MAX_UPLOAD_BYTES)
    settings = detection.DetectSettings(args.min_score, args.iou, args.proposals)
    pixels, scale, result = detection.detect_bytes(
        data, args.model, settings, on_progress=print_progress if args.progress else detection.no_progress
    )
    if args.out:
        pathlib.Path(args.out).write_bytes(media.encode_png(detection.annotate(pixels, result, scale)))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(f"{result.model} ({result.source}), {result.ms:.0f} ms, {len(result.detections)} found")
        for found in result.detections:
            print(
                f"  {found.score:6.1%}  {found.label:<20} [{', '.join(f'{value:.0f}' for value in found.box)}]"
            )
    return 0


def add_commands(commands) -> None:
    detect = commands.add_parser("detect", help="boxes, labels and scores of the objects on an image")
    detect.add_argument("image")
    detect.add_argument(
        "--model", default="ssdlite-person", help="see `python -m engine models` (task detection)"
    )
    detect.add_argument("--min-score", type=float, default=0.5, help="confidence threshold, 0..1")
    detect.add_argument("--iou", type=float, default=0.5, help="NMS IoU threshold, 0..1")
    detect.add_argument("--proposals", type=int, default=300, help="R-CNN-style models: regions to classify")
    detect.add_argument("--out", default=None, help="write the annotated image (PNG) here")
    detect.add_argument("--progress", action="store_true", help="print progress of slow detectors on stderr")
    detect.add_argument("--json", action="store_true")
    detect.set_defaults(run=_detect)
