"""Run folders and promote (engine/core/runs.py): names, the newest run, run.json, refusals."""

import json
import os

import numpy as np
import pytest

from engine.core import runs
from engine.core.errors import InvalidInput


def test_runs_go_under_the_environment_folder_when_it_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path))
    assert runs.runs_root() == tmp_path
    monkeypatch.delenv(runs.RUNS_ENV_VAR)
    assert runs.runs_root() == runs.PROJECT_ROOT / "runs"


def test_a_new_run_never_reuses_a_folder(tmp_path):
    first = runs.Run.new("tiny", root=tmp_path)
    first.path.mkdir(parents=True)
    second = runs.Run.new("tiny", root=tmp_path)
    assert second.run != first.run and second.run.startswith(first.run)
    assert runs.Run.new("tiny", "named", tmp_path).path == tmp_path / "tiny" / "named"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b"])
def test_a_run_name_is_one_folder_name(tmp_path, name):
    with pytest.raises(InvalidInput, match="one folder name"):
        runs.Run.new("tiny", name, tmp_path)


def test_latest_is_the_newest_run_with_a_log(tmp_path):
    assert runs.Run.latest("tiny", tmp_path) is None
    older, newer = runs.Run("tiny", "a", tmp_path), runs.Run("tiny", "b", tmp_path)
    older.write_history([{"epoch": 1}])
    newer.write_history([{"epoch": 1}, {"epoch": 2}])
    os.utime(older.path / "history.json", (1, 1))
    runs.Run("tiny", "c", tmp_path).path.mkdir()  # no log: nothing to resume
    assert runs.Run.latest("tiny", tmp_path) == newer and newer.history()[-1]["epoch"] == 2


def test_the_run_file_names_the_kept_epoch_and_stores_numpy_figures(tmp_path):
    run = runs.Run("tiny", "r", tmp_path)
    history = [{"epoch": 1, "kept": True}, {"epoch": 2, "kept": False}]
    outputs = [runs.Output("tiny/tiny.npz", "weights.npz", "how", "metric")]
    runs.write_run_file(run, history, {"map50": np.float32(0.5), "counts": np.arange(2)}, outputs, "m", {})
    summary = json.loads((run.path / runs.RUN_FILE).read_text())
    assert summary["kept_epoch"] == 1 and summary["figures"] == {"map50": 0.5, "counts": [0, 1]}
    assert summary["outputs"] == [
        {"asset": "tiny/tiny.npz", "file": "weights.npz", "how": "how", "metric": "metric"}
    ]


def test_promote_refuses_unfinished_or_unknown_runs(tmp_path, assets_dir):
    with pytest.raises(InvalidInput, match="no finalized run"):
        runs.promote("tiny", "nope", runs_dir=tmp_path)
    with pytest.raises(InvalidInput, match="one folder name"):
        runs.promote("tiny", "../x", runs_dir=tmp_path)
    assert not any(assets_dir.iterdir())


def test_promote_refuses_a_run_whose_file_is_missing(tmp_path, assets_dir):
    run = runs.Run("tiny", "r", tmp_path)
    runs.write_run_file(run, [], {}, [runs.Output("tiny/tiny.npz", "weights.npz")], None, {})
    with pytest.raises(InvalidInput, match="is missing"):
        runs.promote("tiny", "r", runs_dir=tmp_path)
    assert not any(assets_dir.iterdir())


def test_the_cli_refuses_to_promote_an_unfinished_run_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "engine", "promote", "capsnet", "no-such-run"],
        cwd=runs.PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, runs.RUNS_ENV_VAR: str(tmp_path)},
    )
    assert result.returncode == 2 and "holds no finalized run" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_core_training_runs_and_schedules_import_no_tensorflow_and_nothing_outside_core():
    import subprocess
    import sys

    code = (
        "import sys, engine.core.training, engine.core.runs, engine.core.schedules; "
        "print(any(name.split('.')[0] in ('tensorflow', 'keras') for name in sys.modules)); "
        "print(sorted(name for name in sys.modules if name.startswith('engine.') "
        "and not name.startswith('engine.core')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert output[0] == "False" and output[1] == "[]"
