"""Command-line DeepDream and Grad-CAM (added to `python -m engine` through CLI_MODULES, engine/core/entries.py).

python -m engine dream IMAGE --out OUT.png [--model NAME] [--layers L ...] [--steps N]
                             [--step-size S] [--octaves K] [--size PX] [--seed N] [--json]
python -m engine gradcam IMAGE --out OUT.png [--model NAME] [--class NAME] [--json]
"""

from __future__ import annotations

import argparse
import json
import pathlib

from engine.core.errors import InvalidInput


def _output_path(path: str) -> pathlib.Path:
    out = pathlib.Path(path)
    if out.suffix.lower() != ".png":
        raise InvalidInput(f"--out must name a .png file, not '{path}'.")
    if not out.parent.is_dir():
        raise InvalidInput(f"The folder {out.parent} does not exist.")
    return out


def _dream(args: argparse.Namespace) -> int:
    from engine.core import cli, media, registry
    from engine.core.progress import no_progress
    from engine.features import deepdream, extractors

    out = _output_path(args.out)
    data = cli.read_input_file(args.image, media.MAX_UPLOAD_BYTES)
    chosen = {
        name: value
        for name, value in [
            ("steps", args.steps),
            ("step_size", args.step_size),
            ("octaves", args.octaves),
            ("output_size", args.size),
        ]
        if value is not None
    }
    # A bad file fails here, in a fraction of a second, before TensorFlow and the model load.
    image = media.decode_image(data, min_side=chosen.get("output_size", deepdream.DEFAULT_OUTPUT_SIZE))
    loaded = registry.load(args.model or extractors.DEFAULT_MODEL)
    model = extractors.feature_model_of(loaded)
    settings = deepdream.DreamSettings(
        layers=tuple(args.layers or model.dream_layers), seed=args.seed, **chosen
    )
    deepdream.validate(settings, model)
    result = deepdream.dream(
        image.pixels, loaded, settings, on_progress=no_progress if args.json else cli.print_progress
    )
    out.write_bytes(media.encode_png(result.pixels))
    _print_report({**result.to_json(), "out": str(out)}, args.json)
    return 0


def _gradcam(args: argparse.Namespace) -> int:
    from engine.core import cli, media, registry
    from engine.features import explain, extractors

    out = _output_path(args.out)
    data = cli.read_input_file(args.image, media.MAX_UPLOAD_BYTES)
    image = media.decode_image(data, min_side=explain.GRADCAM_SIDE)  # before the model: bad files fail fast
    loaded = registry.load(args.model or extractors.DEFAULT_MODEL)
    result = explain.gradcam(image.pixels, loaded, class_name=args.class_name)
    out.write_bytes(media.encode_png(explain.overlay_heatmap(image.pixels, result.heatmap)))
    _print_report(
        {"model": loaded.spec.name, "source": loaded.source.describe(), **result.to_json(), "out": str(out)},
        args.json,
    )
    return 0


def _print_report(report: dict, one_line: bool) -> None:
    print(json.dumps(report) if one_line else json.dumps(report, indent=2))


def add_commands(commands) -> None:
    """Defaults are resolved when a command runs, so building the parser imports no model code."""
    dream = commands.add_parser("dream", help="DeepDream an image (the chapter's gradient ascent)")
    dream.add_argument("image")
    dream.add_argument("--out", required=True, help="where to write the dreamed PNG")
    dream.add_argument(
        "--model",
        default=None,
        help="feature model (default mobilenet-v2-features; "
        "inception-v3-features when its weights are in the Keras cache)",
    )
    dream.add_argument("--layers", nargs="+", default=None, help="default: the model's preselected layers")
    dream.add_argument("--steps", type=int, default=None, help="gradient steps per octave (default 20)")
    dream.add_argument("--step-size", type=float, default=None, help="default 0.01")
    dream.add_argument("--octaves", type=int, default=None, help="default 3, each 1.3x the last")
    dream.add_argument("--size", type=int, default=None, help="longest side of the result (default 768)")
    dream.add_argument("--seed", type=int, default=0)
    dream.add_argument("--json", action="store_true", help="one line of JSON, no progress lines")
    dream.set_defaults(run=_dream)

    gradcam = commands.add_parser("gradcam", help="Grad-CAM heatmap of the top (or a chosen) class")
    gradcam.add_argument("image")
    gradcam.add_argument("--out", required=True, help="where to write the heatmap overlay PNG")
    gradcam.add_argument("--model", default=None, help="default mobilenet-v2-features (its dog-breed head)")
    gradcam.add_argument(
        "--class", dest="class_name", default=None, help="class name or index (default: top)"
    )
    gradcam.add_argument("--json", action="store_true")
    gradcam.set_defaults(run=_gradcam)
