"""Run folders: where training writes, and `promote`, the one way its files reach assets/.

Training never writes under assets/: a run lives in `runs/NAME/RUN/` (git-ignored, or under
$CONVNET_STUDIO_RUNS), holding last.npz / best.npz (float32), history.json, settings-N.json, the finalized
float16 files and run.json, which lists the files and the manifest lines they carry.
`python -m engine promote NAME RUN` (`promote`) copies them into assets/ and records them in
assets/MANIFEST.jsonl, so committed weights change only when someone chooses a run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import time
from typing import Any

import numpy as np

from engine.core import manifest
from engine.core.errors import InvalidInput

PROJECT_ROOT = manifest.PROJECT_ROOT
RUNS_ENV_VAR = "CONVNET_STUDIO_RUNS"  # another folder for runs (tests point it at a temporary one)
RUN_FILE = "run.json"


def runs_root() -> pathlib.Path:
    """Where runs go: $CONVNET_STUDIO_RUNS, else runs/ at the project root (git-ignored)."""
    return pathlib.Path(os.environ.get(RUNS_ENV_VAR) or PROJECT_ROOT / "runs")


def assets_dir() -> pathlib.Path:
    """The project's assets/ folder (read at call time, so tests can point manifest.PROJECT_ASSETS elsewhere)."""
    return manifest.PROJECT_ASSETS


@dataclasses.dataclass(frozen=True)
class Run:
    """A run folder runs/NAME/RUN/."""

    name: str
    run: str
    root: pathlib.Path

    @property
    def path(self) -> pathlib.Path:
        return self.root / self.name / self.run

    @classmethod
    def new(cls, name: str, run: str | None = None, root: pathlib.Path | None = None) -> Run:
        """A run folder not used yet (named by the time it starts unless `run` is given)."""
        root = root or runs_root()
        if run is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run, count = stamp, 1
            while (root / name / run).exists():
                count += 1
                run = f"{stamp}-{count}"
        check_run_name(run)
        return cls(name, run, root)

    @classmethod
    def latest(cls, name: str, root: pathlib.Path | None = None) -> Run | None:
        """The newest run of `name` that has a log to resume, or None."""
        root = root or runs_root()
        folders = [path for path in (root / name).glob("*/history.json")] if (root / name).is_dir() else []
        if not folders:
            return None
        newest = max(folders, key=lambda path: path.stat().st_mtime).parent
        return cls(name, newest.name, root)

    def history(self) -> list[dict]:
        path = self.path / "history.json"
        return json.loads(path.read_text()) if path.is_file() else []

    def write_history(self, history: list[dict]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "history.json").write_text(json.dumps(history, indent=1))

    def exists(self) -> bool:
        return self.path.is_dir()


def check_run_name(run: str) -> None:
    """Refuse a run name that is not one folder name (it is joined to paths, and given on the command line)."""
    if not run or run in (".", "..") or "/" in run or "\\" in run:
        raise InvalidInput(f"A run's name is one folder name, not {run!r}.")


@dataclasses.dataclass(frozen=True)
class Output:
    """A file a finalized run made: `file` in the run folder, promoted to `asset` (relative to assets/);
    `metric` is its manifest line's held-out figure (None: copied, no manifest line)."""

    asset: str
    file: str
    how: str = ""
    metric: str | None = None


def write_run_file(
    run: Run,
    history: list[dict],
    figures: dict,
    outputs: list[Output],
    monitor: str | None,
    config: dict | None = None,
) -> None:
    """run.json: what `promote` copies and records (for tasks that finalize on their own, e.g. several parts);
    `config`: the run's named config (configs.NamedConfig.describe(); default: the one the CLI is running)."""
    if config is None:
        from engine.core import configs

        current = configs.current()
        config = current.describe() if current is not None else None
    kept = [entry["epoch"] for entry in history if entry.get("kept")]
    summary = {
        "name": run.name,
        "run": run.run,
        "epochs": len(history),
        "monitor": monitor,
        "kept_epoch": kept[-1] if kept else (history[-1]["epoch"] if history else None),
        "figures": figures,
        "outputs": [dataclasses.asdict(output) for output in outputs],
        **({"config": config} if config else {}),
    }
    run.path.mkdir(parents=True, exist_ok=True)
    (run.path / RUN_FILE).write_text(json.dumps(summary, indent=1, default=_jsonable))


def _jsonable(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def promote(name: str, run: str, runs_dir: pathlib.Path | None = None) -> dict:
    """Copy a finalized run's files into assets/ and write their manifest lines (`python -m engine promote`)."""
    check_run_name(run)
    folder = (runs_dir or runs_root()) / name / run
    summary_path = folder / RUN_FILE
    if not summary_path.is_file():
        raise InvalidInput(f"{folder} holds no finalized run ({RUN_FILE}); train {name} to the end first.")
    summary = json.loads(summary_path.read_text())
    outputs = [Output(**output) for output in summary["outputs"]]
    if not outputs:
        raise InvalidInput(f"Run {run} of {name} made no files to promote.")
    for output in outputs:
        if not (folder / output.file).is_file():
            raise InvalidInput(f"{folder / output.file} is missing; train {name} again.")
    lines = []
    for output in outputs:
        target = assets_dir() / output.asset
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / output.file, target)
        if output.metric is not None:
            lines.append(manifest.record(output.asset, output.how, output.metric, summary.get("config")))
    return {"name": name, "run": run, "files": [output.asset for output in outputs], "manifest": lines}
