"""`python -m engine export NAME --out BASE [--version N] [--json]`: a model for TF Serving."""

from __future__ import annotations

import argparse
import json
import pathlib


def _export(args: argparse.Namespace) -> int:
    from engine.serving import export as serving

    result = serving.export(args.name, pathlib.Path(args.out), args.version)
    flag = " with --prefer_tflite_model=true" if result.kind == "tflite" else ""
    inputs = ", ".join(f"{name} {dtype} {list(shape)}" for name, shape, dtype in result.inputs)
    print(
        json.dumps(result.to_json())
        if args.json
        else f"{result.model} ({result.kind}) -> {result.path} in {result.seconds:.1f} s; "
        f"serve it with TF Serving{flag} "
        f"(model base path {pathlib.Path(result.path).parent}); serving_default inputs: {inputs}; "
        f"what it returns: {pathlib.Path(result.path) / 'assets.extra' / 'signature.txt'}"
    )
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("export", help="write a model for TF Serving (SavedModel, or model.tflite)")
    parser.add_argument(
        "name",
        help="a registered model, e.g. text-cnn; refused with the reason when TF Serving "
        "cannot run it (e.g. haar-face)",
    )
    parser.add_argument(
        "--out", required=True, help="TF Serving's model base path; the version folder goes inside"
    )
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_export)
