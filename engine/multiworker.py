"""Training the text CNN on several workers with `tf.distribute.MultiWorkerMirroredStrategy`.

Synchronous data parallelism: every worker holds a full copy of the model, reads its own shard of
each global batch, computes gradients, and the workers all-reduce (sum) them before each step, so
their weights stay identical (Goyal et al. 2017 for the large-batch practice; TensorFlow's
multi-worker guide for the set-up). Each worker is a process that finds the others through
`TF_CONFIG` ({"cluster": {"worker": [host:port, ...]}, "task": {"type": "worker", "index": i}});
here `launch` starts them on one machine (loopback ports), and the same worker command runs on
several machines when TF_CONFIG lists their addresses. Worker 0 is the chief: it reports the
figures. Every worker writes a SHA-256 of its final weights, which shows that they agree.

    python -m engine train-multiworker --workers 2 --limit 4000 --epochs 1 --json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

from engine.errors import InvalidInput, StudioError

MAX_LOCAL_WORKERS = 4  # processes on one machine; more only fight over the same cores
PER_WORKER_BATCH = 64  # the global batch is this times the number of workers


@dataclasses.dataclass(frozen=True)
class MultiWorkerResult:
    workers: int
    global_batch: int
    examples: int  # training tweets used
    epochs: int
    loss: float  # chief's last training loss
    test_accuracy: float  # chief's accuracy on the test split
    weight_hashes: tuple[str, ...]  # one per worker; all equal after synchronous training
    examples_seen: tuple[int, ...]  # per worker, all epochs: its shard only (global steps x per-worker batch)
    seconds: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def launch(workers: int = 2, train_limit: int | None = 4000, epochs: int = 1, timeout_s: float = 600) -> MultiWorkerResult:
    """Start `workers` local worker processes, wait for them, return the chief's figures.

    Raises:
        InvalidInput: workers or epochs out of range.
        StudioError: a worker failed (its last stderr line is in the message).
    """
    if not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise InvalidInput(f"Use 1 to {MAX_LOCAL_WORKERS} local workers, not {workers}.")
    if not 1 <= epochs <= 20:
        raise InvalidInput(f"Use 1 to 20 epochs, not {epochs}.")
    cluster = [f"127.0.0.1:{port}" for port in _free_ports(workers)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="convnet-studio-workers-") as scratch:
        processes = []
        for index in range(workers):
            environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(
                {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}})}
            command = [sys.executable, "-m", "engine.multiworker", "--out", str(pathlib.Path(scratch) / f"{index}.json"),
                       "--epochs", str(epochs), *(["--limit", str(train_limit)] if train_limit else [])]
            processes.append(subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, text=True))
        failures = []
        for index, process in enumerate(processes):
            try:
                _, errors = process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                for other in processes:
                    other.kill()
                raise StudioError(f"The workers did not finish within {timeout_s:.0f} s.") from None
            if process.returncode != 0:
                failures.append(f"worker {index}: {(errors.strip().splitlines() or ['no output'])[-1]}")
        if failures:
            raise StudioError("Multi-worker training failed: " + "; ".join(failures))
        reports = [json.loads((pathlib.Path(scratch) / f"{index}.json").read_text()) for index in range(workers)]
    chief = reports[0]
    return MultiWorkerResult(workers, PER_WORKER_BATCH * workers, chief["examples"], epochs, chief["loss"],
                             chief["test_accuracy"], tuple(report["weights_sha256"] for report in reports),
                             tuple(report["seen"] for report in reports), time.perf_counter() - started)


def _worker(out: pathlib.Path, epochs: int, train_limit: int | None) -> None:
    """One worker process: TF_CONFIG is already in the environment when TensorFlow starts."""
    import numpy as np
    import tensorflow as tf

    from engine import text, text_training

    import keras

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    workers = strategy.num_replicas_in_sync
    global_batch = PER_WORKER_BATCH * workers
    data = text_training.prepare_tweets(train_limit)
    keras.utils.set_random_seed(text_training.SEED)  # the same initial weights on every worker
    with strategy.scope():
        model = text.build_model(data.vocabulary.size, len(data.splits.labels))
        optimizer = keras.optimizers.Adam()
    per_example = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = (tf.data.Dataset.from_tensor_slices((data.arrays["train"], data.splits.targets["train"]))
               .shuffle(len(data.arrays["train"]), seed=text_training.SEED)
               .batch(global_batch, drop_remainder=True).with_options(options))

    # A custom loop (Keras 3's fit does not take multi-worker datasets): each replica's loss is
    # averaged over the *global* batch, so the all-reduced (summed) gradients are the global mean.
    @tf.function
    def train_step(ids, targets):
        def replica_step(ids, targets):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(per_example(targets, model(ids, training=True)),
                                                  global_batch_size=global_batch)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=(ids, targets)), axis=None)

    loss, seen = float("nan"), 0
    for _ in range(epochs):
        losses = []
        for ids, targets in strategy.experimental_distribute_dataset(dataset):
            losses.append(float(train_step(ids, targets)))
            seen += sum(int(local.shape[0]) for local in strategy.experimental_local_results(ids))
        loss = float(np.mean(losses))
    weights = model.get_weights()
    # Scored by a copy outside the strategy: a multi-worker predict would return per-replica pieces.
    scorer = text.build_model(data.vocabulary.size, len(data.splits.labels))
    scorer.set_weights(weights)
    predicted = scorer.predict(data.arrays["test"], batch_size=500, verbose=0).argmax(axis=-1)
    digest = hashlib.sha256()
    for weights in weights:
        digest.update(np.ascontiguousarray(weights).tobytes())
    out.write_text(json.dumps({"examples": int(len(data.arrays["train"])), "loss": loss, "seen": seen,
                               "test_accuracy": float((predicted == data.splits.targets["test"]).mean()),
                               "weights_sha256": digest.hexdigest()}))


def add_commands(commands) -> None:
    parser = commands.add_parser("train-multiworker", help="train the text CNN on several workers (MultiWorkerMirroredStrategy)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=4000, help="training tweets (default 4000; 0: all)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", action="store_true")

    def run(args: argparse.Namespace) -> int:
        result = launch(args.workers, args.limit or None, args.epochs)
        print(json.dumps(result.to_json()) if args.json else
              f"{result.workers} workers, global batch {result.global_batch}: loss {result.loss:.3f}, test accuracy "
              f"{result.test_accuracy:.3f}, weights identical: {len(set(result.weight_hashes)) == 1}, {result.seconds:.0f} s")
        return 0

    parser.set_defaults(run=run)


if __name__ == "__main__":
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--out", required=True)
    arguments.add_argument("--epochs", type=int, default=1)
    arguments.add_argument("--limit", type=int, default=None)
    parsed = arguments.parse_args()
    _worker(pathlib.Path(parsed.out), parsed.epochs, parsed.limit)
