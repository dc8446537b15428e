"""`python -m engine vqa IMAGE "QUESTION" [--model NAME] --json`: a Sort-of-CLEVR model's answer.

Prints {"model", "answer", "probabilities": {answer: p}}. `--test-scene N` asks about generated test
scene N instead of an image file (the exact answer is added as "truth"). Images of another size are
resized to 75 x 75, the size the models were trained on.
"""

from __future__ import annotations

import argparse
import json


def _vqa(args: argparse.Namespace) -> int:
    from engine.core import media, registry
    from engine.core.cli import read_input_file
    from engine.core.errors import InvalidInput
    from engine.data import sort_of_clevr
    from engine.vqa import api as vqa

    if args.model not in vqa.MODELS:
        raise InvalidInput(f"Unknown VQA model '{args.model}'; choose one of {', '.join(vqa.MODELS)}.")
    sort_of_clevr.tokenize(args.question)  # refuse a bad question before loading anything
    objects = None
    if args.test_scene is not None:
        if args.image:
            raise InvalidInput("Give an image file or --test-scene N, not both.")
        scene = sort_of_clevr.scene("test", args.test_scene)
        image, objects = scene.image, scene.objects
    elif args.image:
        image = media.decode_image(read_input_file(args.image, media.MAX_UPLOAD_BYTES)).pixels
    else:
        raise InvalidInput("Name an image file, or --test-scene N for a generated scene.")
    result = vqa.ask(args.model, registry.load(args.model).model, image, args.question)
    output = result.to_json()
    if objects is not None:
        output["truth"] = vqa.truth(objects, args.question)
    if args.json:
        print(json.dumps(output))
    else:
        print(
            f"{vqa.TITLES[args.model]}: {result.answer} ({result.probabilities[result.answer]:.2f})"
            + (f"; exact answer: {output['truth']}" if objects is not None else "")
        )
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("vqa", help="answer a question about a Sort-of-CLEVR scene image")
    parser.add_argument("image", nargs="?", help="a PNG / JPEG scene (resized to 75 x 75)")
    parser.add_argument("question", help='e.g. "what is the shape of the object closest to the red object?"')
    parser.add_argument(
        "--model", default="vqa-relation-network", help="vqa-relation-network or vqa-cnn-lstm"
    )
    parser.add_argument(
        "--test-scene", type=int, default=None, help="a generated test scene instead of a file"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_vqa)
