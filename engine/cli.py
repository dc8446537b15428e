"""Command line: the engine without the browser.

    python -m engine models [--json | --markdown]
    python -m engine assets fetch [--group models|data]
    python -m engine classify IMAGE [--model NAME] [--top K] [--json]
    python -m engine train NAME [--epochs N] [--resume] [--peak-learning-rate X] [--run RUN] [--json]
        (into runs/NAME/RUN/)
    python -m engine train NAME --config CONFIG [--set KEY=VALUE ...] | --list-configs   (engine/core/configs.py)
    python -m engine configs NAME [--config CONFIG] [--json]   (the commands that replay the committed weights)
    python -m engine promote NAME RUN [--json]   (a finalized run's weights into assets/, with manifest lines)
    python -m engine train NAME --workers N [--steps S] [--quick] [--out W.npz] [--json]
        (engine/distributed/multiworker.py)
    python -m engine eval NAME [--json]
    python -m engine dream IMAGE --out OUT.png [--layers ...] [--steps N] [--octaves K] [--json]
    python -m engine gradcam IMAGE --out OUT.png [--class NAME] [--json]

Task modules add their own commands: a module listed in `CLI_MODULES` (engine/core/entries.py) defines
`add_commands(subparsers)`, each command setting `run=` to a function of the parsed arguments.

Errors the user can fix go to stderr as one line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import json
import os
import pathlib
import sys

from engine.core import entries
from engine.core.cli import print_progress, read_input_file
from engine.core.errors import InvalidInput, StudioError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
DEBUG_ENV_VAR = "CONVNET_STUDIO_DEBUG"  # set it to see the traceback of an unexpected failure
CLI_MODULES = entries.CLI_MODULES  # the modules that add commands: each defines add_commands(subparsers)


def _models(args: argparse.Namespace) -> int:
    from engine.core import registry

    if args.markdown:  # the README's model table, figures read from assets/MANIFEST.jsonl
        from engine.core import model_table

        print(model_table.current(), end="")
        return 0
    rows = registry.describe_all()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        where = row["source"] or "not available offline: " + ", ".join(
            f"{source['kind']} ({source['status']})" for source in row["sources"]
        )
        print(f"{row['name']:<24} {row['task']:<16} {where}")
    return 0


def _assets(args: argparse.Namespace) -> int:
    from engine.core import assets

    paths = assets.fetch(group=args.group, on_progress=print_progress)
    total = sum(path.stat().st_size for path in paths)
    print(f"{len(paths)} files, {total / 1e6:.1f} MB, verified in {assets.cache_dir()}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from engine.classification import classify as classification
    from engine.core import media

    data = read_input_file(args.image, media.MAX_UPLOAD_BYTES)
    result = classification.classify_bytes(data, args.model, args.top)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(f"{result.model} ({result.source}), {result.ms:.1f} ms")
        for prediction in result.top:
            print(f"  {prediction.score:6.1%}  {prediction.label}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from engine.core import configs, registry

    if args.list_configs:
        return _print_configs(args.name, args.config, args.json)
    if args.workers is not None or args.steps is not None or args.quick or args.out:
        from engine.distributed import multiworker

        if args.epochs is not None or args.resume:
            raise InvalidInput("Distributed training counts --steps, not --epochs, and cannot --resume.")
        if args.config is not None or args.settings:
            raise InvalidInput("Distributed training takes no --config or --set; train it without.")
        steps = multiworker.DEFAULT_STEPS if args.steps is None else args.steps
        save = pathlib.Path(args.out) if args.out else None
        multiworker.print_result(multiworker.run(args.name, args.workers, steps, args.quick, save), args.json)
        return 0
    trainer = registry.get_trainer(args.name)
    parameters = inspect.signature(trainer).parameters
    options = {}
    chosen = None  # the named config (engine/core/configs.py) the run records, for models that have them
    if configs.names(args.name):
        chosen = configs.resolve(args.name, args.config, args.settings or ())
        if "config" in parameters:  # the trainer reads its settings from it
            options["config"] = chosen
        elif args.epochs is None:  # a trainer with constants for tunables: the config sets its epochs
            args.epochs = getattr(chosen.settings, "epochs", None)
        else:
            chosen = configs.with_values(chosen, epochs=args.epochs)
    elif args.config is not None or args.settings:
        raise InvalidInput(f"{args.name} has no named configs; train it without --config or --set.")
    if args.resume or (
        chosen is not None and chosen.resumes is not None
    ):  # only trainers that can resume take it
        if "resume" not in parameters:
            raise InvalidInput(f"{args.name} cannot resume; train it without --resume.")
        options["resume"] = True
    if args.peak_learning_rate is not None:
        if "peak_learning_rate" not in inspect.signature(trainer).parameters:
            raise InvalidInput(f"{args.name} takes no --peak-learning-rate; train it without.")
        options["peak_learning_rate"] = args.peak_learning_rate
    if args.run_name is not None:
        if "run" not in inspect.signature(trainer).parameters:
            raise InvalidInput(f"{args.name} does not train into a named run folder; train it without --run.")
        options["run"] = args.run_name
    with configs.using(chosen):  # the Trainer records it in run.json (and promote in the manifest)
        result = trainer(epochs=args.epochs, on_progress=print_progress, **options)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _print_configs(name: str, config: str | None, as_json: bool) -> int:
    """A model's named configs and the commands that replay `config` (default: the one the manifest line of
    its committed weights names, else "default"), one `train --config` per config of its lineage."""
    from engine.core import configs, manifest

    known = configs.load(name)
    if not known:
        raise InvalidInput(f"{name} has no named configs (its tunables are module constants).")
    committed = {
        file: line["config"]["name"]
        for file, line in manifest.entries().items()
        if line.get("config") and line["config"].get("model", name) == name and _is_weights_of(name, file)
    }
    chosen = config or next(iter(committed.values()), configs.DEFAULT)
    chain = configs.lineage(name, chosen)
    if as_json:
        print(
            json.dumps(
                {
                    "name": name,
                    "config": chosen,
                    "committed": committed,
                    "commands": [item.command() for item in chain],
                    "configs": {key: {**item.describe(), "note": item.note} for key, item in known.items()},
                }
            )
        )
        return 0
    print(f"{name}: configs {', '.join(known)}")
    for file, committed_name in committed.items():
        print(f"assets/{file}: made by config {committed_name}")
    print(f"replay {chosen}:")
    for item in chain:
        print(f"  {item.command()}" + (f"   # {item.note}" if item.note else ""))
    return 0


def _is_weights_of(name: str, file: str) -> bool:
    """Whether assets/`file` is one of the project weight files of the model trained as `name`."""
    return any(
        reference == file
        for entry in entries.MODELS
        if name in (entry.name, entry.command_name)
        for kind, reference in entry.sources
        if kind == "project"
    )


def _configs(args: argparse.Namespace) -> int:
    return _print_configs(args.name, args.config, args.json)


def _promote(args: argparse.Namespace) -> int:
    from engine.core import runs

    result = runs.promote(args.name, args.run_name)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from engine.core import registry

    result = registry.get_evaluator(args.name)()
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="ConvNet Studio engine")
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="list every model and where its weights come from")
    models.add_argument("--json", action="store_true")
    models.add_argument(
        "--markdown",
        action="store_true",
        help="print README.md's model table (figures from assets/MANIFEST.jsonl)",
    )
    models.set_defaults(run=_models)

    asset_parser = commands.add_parser("assets", help="fetch the offline model and data files")
    asset_parser.add_argument("action", choices=["fetch"])
    asset_parser.add_argument("--group", choices=["models", "data"], default=None)
    asset_parser.set_defaults(run=_assets)

    classify = commands.add_parser("classify", help="top ImageNet classes of an image")
    classify.add_argument("image")
    classify.add_argument("--model", default="efficientnet-lite0")
    classify.add_argument("--top", type=int, default=5)
    classify.add_argument("--json", action="store_true")
    classify.set_defaults(run=_classify)

    train = commands.add_parser("train", help="retrain one of the project's models")
    train.add_argument("name")
    train.add_argument("--epochs", type=int, default=None, help="default: as the committed weights")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint (models that support it, e.g. capsnet)",
    )
    train.add_argument(
        "--peak-learning-rate",
        type=float,
        default=None,
        help="the peak of a resumed cycle's cosine schedule (U-Net, VQA; default: the trainer's)",
    )
    train.add_argument(
        "--run",
        dest="run_name",
        default=None,
        help="the run folder under runs/NAME/ (default: the start time; with --resume: the latest)",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=None,
        help="train on N workers (MultiWorkerMirroredStrategy): N local processes, or the "
        "cluster in TF_CONFIG; 1: this process, MirroredStrategy over several GPUs",
    )
    train.add_argument(
        "--steps", type=int, default=None, help="with --workers: synchronous steps (default 20)"
    )
    train.add_argument(
        "--quick", action="store_true", help="with --workers: small batches (a check, not training)"
    )
    train.add_argument(
        "--out", default=None, help="with --workers: worker 0 writes the trained weights here (.npz)"
    )
    train.add_argument(
        "--config",
        default=None,
        help="a named config of the model's settings (default: 'default', today's constants); one "
        "that resumes another trains a resumed cycle (see --list-configs)",
    )
    train.add_argument(
        "--set",
        dest="settings",
        action="append",
        metavar="KEY=VALUE",
        default=None,
        help="override one setting of the config, typed (repeatable)",
    )
    train.add_argument(
        "--list-configs",
        action="store_true",
        help="print the model's named configs and the commands that replay its committed weights",
    )
    train.add_argument("--json", action="store_true")
    train.set_defaults(run=_train)

    config_parser = commands.add_parser(
        "configs", help="a model's named training configs and the commands that replay its committed weights"
    )
    config_parser.add_argument("name")
    config_parser.add_argument(
        "--config", default=None, help="replay this config (default: the committed one's)"
    )
    config_parser.add_argument("--json", action="store_true")
    config_parser.set_defaults(run=_configs)

    promote = commands.add_parser(
        "promote",
        help="copy a finalized training run's weights into assets/ and record them in assets/MANIFEST.jsonl",
    )
    promote.add_argument("name")
    promote.add_argument("run_name", metavar="run", help="the run folder's name under runs/NAME/")
    promote.add_argument("--json", action="store_true")
    promote.set_defaults(run=_promote)

    evaluate = commands.add_parser("eval", help="held-out figures of a model, as measured now")
    evaluate.add_argument("name")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(run=_eval)

    for module_name in CLI_MODULES:
        importlib.import_module(module_name).add_commands(commands)
    return parser


def _quiet_native_stderr() -> io.TextIOWrapper:
    """Send native libraries' log lines (TFLite, TensorFlow) to /dev/null; return the real stderr.

    TensorFlow and the TFLite runtime write INFO lines straight to file descriptor 2, which would
    bury our one-line error messages. Our own output goes to the returned stream.
    """
    real_stderr = io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), encoding="utf-8", line_buffering=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = real_stderr
    return real_stderr


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    stderr = _quiet_native_stderr()
    try:
        return args.run(args)
    except StudioError as error:
        print(f"error: {' '.join(str(error).split())}", file=stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=stderr)
        return EXIT_USER_ERROR
    except Exception as error:  # A bug, not the user's fault: one line still, the traceback on demand.
        if os.environ.get(DEBUG_ENV_VAR):
            raise
        print(
            f"error: unexpected failure ({type(error).__name__}: {' '.join(str(error).split())[:200]}). "
            f"This is a bug in ConvNet Studio; rerun with {DEBUG_ENV_VAR}=1 to see the traceback.",
            file=stderr,
        )
        return EXIT_INTERNAL_ERROR
