"""The manifest of files this project made itself: sample media and the weights it trained.

`assets/MANIFEST.jsonl` has one JSON object per line: the file (relative to assets/), its SHA-256,
how it was made (the command that remakes it), its held-out metric as measured and, for weights trained
here, the named config that made them ("config": name, lineage, settings; engine/core/configs.py). One line per
file keeps concurrent additions from colliding; `record` rewrites only that file's line.
"""

from __future__ import annotations

import json
import pathlib

from engine.core import assets
from engine.core.errors import ModelUnavailable

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]  # engine/core/manifest.py -> the project
PROJECT_ASSETS = PROJECT_ROOT / "assets"  # the files this project made: sample media, trained weights
MANIFEST_PATH = PROJECT_ASSETS / "MANIFEST.jsonl"


def entries() -> dict[str, dict]:
    """file -> manifest entry."""
    if not MANIFEST_PATH.exists():
        return {}
    lines = MANIFEST_PATH.read_text(encoding="utf-8").splitlines()
    return {entry["file"]: entry for entry in map(json.loads, filter(None, lines))}


def recorded_metric(relative_path: str) -> str:
    """The held-out metric on a file's manifest line, for a registry entry ("not trained yet" without one)."""
    entry = entries().get(relative_path)
    return entry["metric"] if entry else "not trained yet"


def record(relative_path: str, how: str, metric: str, config: dict | None = None) -> dict:
    """Add or replace the manifest line of a file under assets/ (call after training); `config`: the named
    training config that made it (engine/core/configs.py: name, lineage, settings), kept as its "config"."""
    path = PROJECT_ASSETS / relative_path
    entry = {
        "file": relative_path,
        "sha256": assets.sha256_of(path),
        "bytes": path.stat().st_size,
        "how": how,
        "metric": metric,
        **({"config": config} if config else {}),
    }
    current = entries()
    current[relative_path] = entry
    MANIFEST_PATH.write_text(
        "".join(json.dumps(line) + "\n" for line in sorted(current.values(), key=lambda line: line["file"])),
        encoding="utf-8",
    )
    return entry


def verified(relative_path: str) -> pathlib.Path:
    """Path of a project file whose SHA-256 matches its manifest line.

    Raises:
        ModelUnavailable: missing, not in the manifest, or altered.
    """
    path = PROJECT_ASSETS / relative_path
    entry = entries().get(relative_path)
    if entry is None or not path.is_file():
        raise ModelUnavailable(
            f"assets/{relative_path} is missing or has no manifest line; retrain it "
            "(see README, 'Retraining')."
        )
    if assets.sha256_of(path) != entry["sha256"]:
        raise ModelUnavailable(
            f"assets/{relative_path} does not match its manifest checksum; restore it "
            f"with git or remake it: {entry['how']}"
        )
    return path


def best_epoch(history: list[dict], key: str = "validation_accuracy") -> dict:
    """The log entry whose weights a trainer's best.npz holds: the last to reach the top `key` (trainers
    save best.npz on >=, so ties go to the later epoch)."""
    top = max(entry[key] for entry in history)
    return [entry for entry in history if entry[key] == top][-1]


def seed_cache(
    committed: pathlib.Path, checkpoint_dir: pathlib.Path, history: list[dict], epoch: int
) -> None:
    """Seed a trainer's checkpoint folder from its committed weights, so `--resume` works without the cache:
    last.npz and best.npz become the committed file, and the log (`history`, the committed one) ends at
    `epoch`, the epoch those weights hold, so the run goes on from there."""
    for checkpoint in ("last.npz", "best.npz"):
        (checkpoint_dir / checkpoint).write_bytes(committed.read_bytes())
    (checkpoint_dir / "history.json").write_text(json.dumps(history[:epoch], indent=1))
