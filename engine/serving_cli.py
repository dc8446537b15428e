"""`python -m engine export NAME --out BASE [--version N] [--json]`: a SavedModel for TF Serving."""

from __future__ import annotations

import argparse
import json
import pathlib


def _export(args: argparse.Namespace) -> int:
    from engine import serving

    result = serving.export(args.name, pathlib.Path(args.out), args.version)
    print(json.dumps(result.to_json()) if args.json else
          f"{result.model} -> {result.path} in {result.seconds:.1f} s; serve it with TF Serving "
          f"(model base path {pathlib.Path(result.path).parent})")
    return 0


def add_commands(commands) -> None:
    parser = commands.add_parser("export", help="write a Keras model as a SavedModel for TF Serving")
    parser.add_argument("name", help="a registered model that runs in Keras, e.g. text-cnn")
    parser.add_argument("--out", required=True, help="TF Serving's model base path; the version folder goes inside")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=_export)
