"""`python -m engine video CLIP --json`: the six ways' predictions and the ImageNet timeline of a video.

`--test-clip N` classifies generated test clip N instead of a file (its true class is printed too).
"""

from __future__ import annotations

import argparse
import json


def _video(args: argparse.Namespace) -> int:
    from engine.classification import classify as classification
    from engine.core import registry
    from engine.core.cli import read_input_file
    from engine.core.errors import InvalidInput
    from engine.data import clips
    from engine.video import api as video
    from engine.video import io as video_io

    ways = registry.load(video.MODEL_NAME).model
    if args.test_clip is not None:
        item = clips.clip("test", args.test_clip)
        output = {
            "clip": f"test {args.test_clip}",
            "true": item.name,
            "six_ways": video.classify_clip(ways, item.frames).to_json(),
        }
    elif args.clip:
        data = read_input_file(args.clip, video_io.MAX_UPLOAD_BYTES)
        analysis = video.analyse(
            data, args.clip, ways, registry.load(classification.DEFAULT_MODEL), args.samples
        )
        output = {"clip": args.clip, **analysis.to_json()}
    else:
        raise InvalidInput("Name a video file, or --test-clip N for a generated clip.")
    if args.json:
        print(json.dumps(output))
        return 0
    for row in output["six_ways"]:
        print(f"{row['title']:<60} {row['label']:<28} {row['score']:.2f}  {row['ms']:.1f} ms")
    if "imagenet_timeline" in output:
        timeline = output["imagenet_timeline"]
        print(f"ImageNet majority: {timeline['majority']} ({timeline['majority_share']:.0%} of frames)")
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser(
        "video", help="classify a video six ways, with a per-frame ImageNet timeline"
    )
    parser.add_argument("clip", nargs="?", help="an mp4 / webm / avi / mov file")
    parser.add_argument("--test-clip", type=int, default=None, help="a generated test clip instead of a file")
    parser.add_argument("--samples", type=int, default=16, help="frames sampled for the ImageNet timeline")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_video)
