"""MultiWorkerMirroredStrategy: two local worker processes train the text CNN in lockstep."""

import json
import subprocess
import sys

import pytest

from engine import multiworker
from engine.errors import InvalidInput
from tests.conftest import ROOT


def test_two_workers_read_half_each_and_end_with_the_same_weights():
    result = multiworker.launch(workers=2, train_limit=512, epochs=1, timeout_s=300)
    steps = 512 // result.global_batch
    assert result.global_batch == 2 * multiworker.PER_WORKER_BATCH
    # Each worker read only its shard, yet both hold the same weights: the gradients were all-reduced.
    assert result.examples_seen == (steps * multiworker.PER_WORKER_BATCH,) * 2
    assert len(set(result.weight_hashes)) == 1
    assert 0 < result.loss < 2 and 0 <= result.test_accuracy <= 1


def test_bounds_are_checked_before_any_worker_starts():
    with pytest.raises(InvalidInput, match="local workers"):
        multiworker.launch(workers=multiworker.MAX_LOCAL_WORKERS + 1)
    completed = subprocess.run([sys.executable, "-m", "engine", "train-multiworker", "--epochs", "0"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 2 and completed.stderr.startswith("error: Use 1 to 20 epochs")
    assert json.dumps(multiworker.MultiWorkerResult(1, 64, 1, 1, 0.0, 0.0, ("a",), (64,), 0.0).to_json())
