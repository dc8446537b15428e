"""Distributed training: two worker processes on loopback train every model trained here in lockstep."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from engine.capsules import model as capsnet
from engine.core import registry, training, weights_io
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.data import notes as audio_notes
from engine.distributed import multiworker, specs
from tests.conftest import ROOT


def _allowed_unavailable() -> set[str]:
    """Models whose training data cannot exist on this machine: IMDB needs a network once, the audio
    notes need FluidSynth (`make data`)."""
    allowed = set()
    if not (pathlib.Path.home() / ".keras" / "datasets" / "imdb.npz").exists():
        allowed.add("imdb-cnn")
    if not (audio_notes.cache_folder() / "notes.json").exists():
        allowed |= {"instrument-cnn", "wavenet"}
    if not (audio_notes.cache_folder() / "TimGM6mb.npz").exists():
        allowed.add("instrument-cnn")
    return allowed


def test_the_specs_cover_exactly_the_models_trained_here():
    assert set(specs.names()) == set(registry.TRAINERS)


def test_every_spec_drives_a_training_task_with_its_own_sampler_and_loss():
    # The multi-worker path trains the Tasks of engine/core/training.py, not a copy of their setup.
    for name in specs.names():
        task = specs.get(name).task()  # cheap: a Task loads nothing until it is built
        assert isinstance(task, training.Task), name
        assert type(task).sample is not training.Task.sample and type(task).loss is not training.Task.loss, (
            name
        )
        assert task.unit != training.Task.unit and task.batch_size >= 1, name


@pytest.fixture(scope="module")
def two_workers() -> multiworker.DistributedResult:
    # One pair of processes for all models: each builds one strategy, then trains each model in its scope.
    return multiworker.launch(list(specs.names()), workers=2, steps=2, quick=True, timeout_s=900)


@pytest.mark.training
def test_two_workers_train_every_model_and_end_with_the_same_changed_weights(two_workers):
    result = two_workers
    assert set(result.unavailable) <= _allowed_unavailable()
    assert {run.name for run in result.models} | set(result.unavailable) == set(specs.names())
    assert (result.workers, result.replicas, result.strategy) == (2, 2, "MultiWorkerMirroredStrategy")
    for run in result.models:
        # All-reduced gradients (and averaged batch-norm statistics): byte-identical weights on both workers...
        assert run.agree, run.name
        # ... that moved away from the initial ones, in every graph that trains.
        assert run.weight_hashes[0] != run.initial_hash and run.parts_changed == run.parts >= 1, run.name
        assert run.global_batch == 2 * specs.get(run.name).quick_batch_size
        assert np.isfinite([run.loss_first, run.loss_last]).all() and run.loss_first > 0, run.name


@pytest.mark.training
def test_mirrored_strategy_over_two_local_devices_matches_two_workers(two_workers, tmp_path):
    # The several-GPU path, on two logical CPUs: the same per-replica batches give the same weights,
    # byte for byte, as two workers (YOLO has batch norm, the VQA model a clipped global gradient).
    names = ["yolo", "vqa-cnn-lstm"]
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.distributed.multiworker",
            "--out",
            str(tmp_path / "report.json"),
            "--steps",
            "2",
            "--quick",
            "--cpu-replicas",
            "2",
            *names,
        ],
        cwd=ROOT,
        env=environment,
        check=True,
        timeout=300,
        capture_output=True,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["strategy"], report["replicas"]) == ("MirroredStrategy", 2)
    by_name = {run.name: run for run in two_workers.models}
    for model in report["models"]:
        assert model["weights_sha256"] == by_name[model["name"]].weight_hashes[0], model["name"]
        assert model["loss_first"] == pytest.approx(by_name[model["name"]].loss_first, rel=1e-6)


@pytest.mark.training
def test_the_same_command_on_each_machine_joins_the_cluster_in_tf_config(tmp_path):
    # What the README tells several machines to run, here as two processes on loopback ports.
    cluster = [f"127.0.0.1:{port}" for port in multiworker._free_ports(2)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine",
                "train",
                "capsnet-baseline",
                "--workers",
                "2",
                "--steps",
                "2",
                "--quick",
                "--json",
                "--out",
                str(tmp_path / f"worker{index}.npz"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
                ),
            },
        )
        for index in range(2)
    ]
    reports = [json.loads(process.communicate(timeout=300)[0]) for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    (first,), (second,) = (report["models"] for report in reports)
    assert (reports[0]["workers"], reports[0]["replicas"], first["global_batch"]) == (2, 2, 8)
    assert (
        first["weight_hashes"] == second["weight_hashes"]
        and first["weight_hashes"][0] != first["initial_hash"]
    )
    # Worker 0 alone writes the weights, in the committed format: two Adam steps away from the start.
    assert not (tmp_path / "worker1.npz").exists()
    keras.utils.set_random_seed(multiworker.SEED)
    initial = capsnet.build("capsnet-baseline").network.get_weights()  # as the workers started
    trained = capsnet.build("capsnet-baseline")
    weights_io.load_float16(trained.parts, tmp_path / "worker0.npz")  # shapes checked
    moved = max(
        float(np.abs(after - before).max()) for after, before in zip(trained.network.get_weights(), initial)
    )
    assert 1e-4 < moved < 1e-2  # two steps of Adam at 1e-3, then float16


def test_bounds_and_names_are_checked_before_any_worker_starts(monkeypatch):
    with pytest.raises(InvalidInput, match="local workers"):
        multiworker.launch(["yolo"], workers=multiworker.MAX_LOCAL_WORKERS + 1)
    with pytest.raises(InvalidInput, match="steps"):
        multiworker.launch(["yolo"], workers=2, steps=0)
    with pytest.raises(InvalidInput, match="Trainable: capsnet, capsnet-baseline"):
        multiworker.launch(["efficientnet-lite0"], workers=2)
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    with pytest.raises(InvalidInput, match="TF_CONFIG lists 2 workers but --workers says 3"):
        multiworker.run("yolo", 3, 2)


def test_a_model_without_its_data_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(
        multiworker,
        "_run",
        lambda *args: multiworker.DistributedResult(
            1, 1, "one device", (), {"imdb-cnn": "needs a network connection"}, 0.0
        ),
    )
    with pytest.raises(ModelUnavailable, match="imdb-cnn cannot train here: needs a network"):
        multiworker.run("imdb-cnn", 1, 2)


def _engine(*arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "engine", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment,
    )


def test_cli_refuses_bad_requests_with_one_line():
    refused = _engine("train", "efficientnet-lite0", "--workers", "2")
    assert refused.returncode == 2 and "Trainable: capsnet" in refused.stderr and "yolo" in refused.stderr
    alias = _engine("train-multiworker", "--workers", "9")
    assert alias.returncode == 2 and alias.stderr.startswith("error: Use 1 to 4 local workers")
    mixed = _engine("train", "yolo", "--workers", "2", "--epochs", "3")
    assert mixed.returncode == 2 and "--steps, not --epochs" in mixed.stderr
