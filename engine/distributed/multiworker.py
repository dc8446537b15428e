"""Training any model trained here on several workers (`tf.distribute.MultiWorkerMirroredStrategy`)
or on several local GPUs (`tf.distribute.MirroredStrategy`).

Synchronous data parallelism: every worker holds a full copy of the model, draws its own part of
each global batch, computes gradients of its loss averaged over the *global* batch
(`tf.nn.compute_average_loss`), and the workers all-reduce (sum) the gradients before each update,
so their weights stay identical (Goyal et al. 2017 for the large-batch practice; TensorFlow's
multi-worker guide for the set-up). Each model trains through the same Task as the single-process
Trainer (engine/core/training.py: what it builds, draws and minimizes); engine/distributed/specs.py holds
what differs under a strategy (constant learning rate, batch sizes).
Each worker is a process that finds the others through `TF_CONFIG`
({"cluster": {"worker": [host:port, ...]}, "task": {"type": "worker", "index": i}}):

    python -m engine train yolo --workers 2 --steps 20 --json   # two local workers on loopback ports
    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type": "worker", "index": 0}}' \\
        python -m engine train yolo --workers 2 --steps 20      # on each machine, its own index

Without TF_CONFIG, `--workers 1` trains in this process, under MirroredStrategy when there are
several GPUs. Every worker reports a SHA-256 of its final weights: equal hashes show they agree.
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

from engine.core.errors import InvalidInput, StudioError

MAX_LOCAL_WORKERS = 4  # processes on one machine; more only fight over the same cores
MAX_STEPS = 10_000
DEFAULT_STEPS = 20
SEED = 0  # initial weights, and (with the step and the replica) each replica's batch


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """One model's distributed run, as every worker reported it."""

    name: str
    unit: str  # what one example is (images, scenes, questions, ...)
    steps: int
    global_batch: int  # per replica x replicas in the cluster
    loss_first: float  # the global batch's mean loss at the first step
    loss_last: float  # ... and at the last step
    weight_hashes: tuple[str, ...]  # SHA-256 of the trained weights, one per worker
    initial_hash: str  # the chief's, before the first step
    parts_changed: int  # how many of the model's trained graphs changed (all of them, when every part learns)
    parts: int
    seconds: float  # the chief's: building, data, tracing and steps
    step_seconds: float  # the chief's mean over the steps after the first (which traces the graph)

    @property
    def agree(self) -> bool:
        return len(set(self.weight_hashes)) == 1


@dataclasses.dataclass(frozen=True)
class DistributedResult:
    workers: int
    replicas: int  # in the whole cluster
    strategy: str
    models: tuple[ModelRun, ...]
    unavailable: dict[str, str]  # name -> why it could not train here (its data is missing)
    seconds: float

    def to_json(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "models": [{**dataclasses.asdict(run), "agree": run.agree} for run in self.models],
        }


def choose_strategy(cpu_replicas: int = 0):
    """MultiWorkerMirroredStrategy when TF_CONFIG names a cluster, MirroredStrategy over several local
    GPUs, else the default (one device). `cpu_replicas` > 1: MirroredStrategy over that many logical
    CPU devices, which checks the several-GPU path on a machine without GPUs (before TensorFlow
    has initialized its devices)."""
    import tensorflow as tf

    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
        )
        return tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(cpu_replicas)])
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def weights_digest(models) -> str:
    import numpy as np

    digest = hashlib.sha256()
    for model in models:
        for weights in model.get_weights():
            digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()


def train_model(
    strategy, name: str, steps: int, quick: bool = False, save: pathlib.Path | None = None
) -> dict:
    """Build `name` in the strategy's scope and train it `steps` synchronous steps; this worker's figures.

    `save`: the chief (worker 0) writes the trained graphs' weights there (float16 .npz, as under assets/).

    Raises:
        AssetError / ModelUnavailable: the model's training data is missing here.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from engine.distributed import specs as distributed_specs

    spec = distributed_specs.get(name)
    task = spec.task()
    started = time.perf_counter()
    with strategy.scope():
        keras.utils.set_random_seed(SEED)  # the same initial weights on every worker
        task.build_sampler()  # the data `sample` draws from
        parts = (
            task.build_model()
        )  # the graphs that train (their weights are hashed); frozen extractors are not listed
        variables = [variable for part in parts for variable in part.trainable_variables]
        statistics = [
            variable
            for part in parts
            for variable in part.non_trainable_variables
            if variable.dtype.startswith("float")
        ]
        optimizer = keras.optimizers.Adam(spec.learning_rate)
        optimizer.build(variables)
    per_replica = spec.quick_batch_size if quick else (spec.batch_size or task.batch_size)
    replicas = strategy.num_replicas_in_sync
    global_batch = per_replica * replicas
    initial, initial_all = [weights_digest([part]) for part in parts], weights_digest(parts)

    def replica_step(batch):
        with tf.GradientTape() as tape:
            loss = task.loss(batch)
            per_example = loss if loss.shape.rank == 1 else tf.fill([per_replica], loss)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, variables)
        if task.clip_norm:  # clip the global gradient, as the single-process step clips its own
            gradients = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, [tf.convert_to_tensor(gradient) for gradient in gradients]
            )  # dense: embeddings give slices
            gradients, _ = tf.clip_by_global_norm(gradients, task.clip_norm)
            gradients = [gradient / replicas for gradient in gradients]  # the optimizer sums them again
        optimizer.apply_gradients(zip(gradients, variables))
        return loss, tf.concat(
            [tf.reshape(statistic.value, [-1]) for statistic in statistics] or [tf.zeros([0])], 0
        )

    @tf.function(reduce_retracing=True)
    def step(batch):
        loss, local_statistics = strategy.run(replica_step, args=(batch,))
        # Batch-norm moving averages are updated by each replica from its own batch (Keras creates
        # them without an aggregation): set them to their mean over the replicas, as synchronized
        # training keeps every other weight.
        if statistics:
            means = tf.split(
                strategy.reduce(tf.distribute.ReduceOp.MEAN, local_statistics, axis=None),
                [int(np.prod(statistic.shape)) for statistic in statistics],
            )
            for statistic, mean in zip(statistics, means):
                statistic.assign(tf.reshape(mean, statistic.shape))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

    losses, times = [], []
    for index in range(steps):
        step_started = time.perf_counter()

        def replica_batch(
            context, index=index
        ):  # each replica draws its own batch, seeded by step and replica
            rng = np.random.default_rng((SEED, index, context.replica_id_in_sync_group))
            return tuple(task.sample(rng, per_replica))

        losses.append(float(step(strategy.experimental_distribute_values_from_function(replica_batch))))
        times.append(time.perf_counter() - step_started)
    final = [weights_digest([part]) for part in parts]
    if save is not None and (
        strategy.cluster_resolver is None or strategy.cluster_resolver.task_id in (0, None)
    ):
        from engine.core import weights_io

        weights_io.save_float16(parts, save)
    return {
        "name": name,
        "unit": task.unit,
        "steps": steps,
        "global_batch": global_batch,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "weights_sha256": weights_digest(parts),
        "initial_sha256": initial_all,
        "parts_changed": sum(before != after for before, after in zip(initial, final)),
        "parts": len(final),
        "seconds": time.perf_counter() - started,
        "step_seconds": float(np.mean(times[1:])) if steps > 1 else times[0],
    }


def run_worker(
    names: list[str], steps: int, quick: bool = False, cpu_replicas: int = 0, save: pathlib.Path | None = None
) -> dict:
    """This process's part: one strategy, then each model in turn in its scope (`save`: one name only)."""
    from engine.core.errors import AssetError, ModelUnavailable

    strategy = choose_strategy(cpu_replicas)
    models, unavailable = [], {}
    for name in names:
        try:
            models.append(train_model(strategy, name, steps, quick, save))
        except (AssetError, ModelUnavailable) as error:  # data missing here: the same on every local worker
            unavailable[name] = " ".join(str(error).split())
    return {
        "strategy": _label(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "models": models,
        "unavailable": unavailable,
    }


def _label(strategy) -> str:
    import tensorflow as tf

    if isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):  # its class is CollectiveAllReduceStrategy
        return "MultiWorkerMirroredStrategy"
    return "MirroredStrategy" if isinstance(strategy, tf.distribute.MirroredStrategy) else "one device"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def check(names: list[str], workers: int, steps: int) -> None:
    """Raises InvalidInput for an untrainable name, a worker count or a step count out of range."""
    from engine.distributed import specs as distributed_specs

    if not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise InvalidInput(f"Use 1 to {MAX_LOCAL_WORKERS} local workers, not {workers}.")
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidInput(f"Use 1 to {MAX_STEPS} steps, not {steps}.")
    for name in names:
        distributed_specs.get(name)


def _combine(reports: list[dict], seconds: float) -> DistributedResult:
    chief = reports[0]
    runs = tuple(
        ModelRun(
            row["name"],
            row["unit"],
            row["steps"],
            row["global_batch"],
            row["loss_first"],
            row["loss_last"],
            tuple(report["models"][index]["weights_sha256"] for report in reports),
            row["initial_sha256"],
            row["parts_changed"],
            row["parts"],
            row["seconds"],
            row["step_seconds"],
        )
        for index, row in enumerate(chief["models"])
    )
    return DistributedResult(
        len(reports), chief["replicas"], chief["strategy"], runs, chief["unavailable"], seconds
    )


def launch(
    names: list[str],
    workers: int = 2,
    steps: int = DEFAULT_STEPS,
    quick: bool = False,
    timeout_s: float = 600,
    save: pathlib.Path | None = None,
) -> DistributedResult:
    """Start `workers` local worker processes on loopback ports, wait for them, combine their reports.

    Raises:
        InvalidInput: a name, workers or steps out of range.
        StudioError: a worker failed (its last stderr line is in the message) or ran out of time.
    """
    check(names, workers, steps)
    cluster = [f"127.0.0.1:{port}" for port in _free_ports(workers)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="convnet-studio-workers-") as scratch:
        processes = []
        for index in range(workers):
            environment = {
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
                ),
            }
            command = [
                sys.executable,
                "-m",
                "engine.distributed.multiworker",
                "--out",
                str(pathlib.Path(scratch) / f"{index}.json"),
                "--steps",
                str(steps),
                *(["--quick"] if quick else []),
                *(["--save", str(pathlib.Path(save).resolve())] if save else []),
                *names,
            ]
            processes.append(
                subprocess.Popen(
                    command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
            )
        failures = []
        for index, process in enumerate(processes):
            try:
                _, errors = process.communicate(timeout=max(1.0, timeout_s - (time.perf_counter() - started)))
            except subprocess.TimeoutExpired:
                for other in processes:
                    other.kill()
                raise StudioError(f"The workers did not finish within {timeout_s:.0f} s.") from None
            if process.returncode != 0:
                failures.append(f"worker {index}: {(errors.strip().splitlines() or ['no output'])[-1]}")
        if failures:
            raise StudioError("Multi-worker training failed: " + "; ".join(failures))
        reports = [
            json.loads((pathlib.Path(scratch) / f"{index}.json").read_text()) for index in range(workers)
        ]
    return _combine(reports, time.perf_counter() - started)


def run(
    name: str, workers: int | None, steps: int, quick: bool = False, save: pathlib.Path | None = None
) -> DistributedResult:
    """The `train NAME --workers` command: join the cluster in TF_CONFIG, else launch local workers
    (one: in this process, MirroredStrategy over several GPUs); `save`: where the chief writes the weights.

    Raises:
        InvalidInput: as `check`, or --workers disagrees with TF_CONFIG.
        ModelUnavailable: the model's training data is missing here.
    """
    from engine.core.errors import ModelUnavailable

    result = _run(name, workers, steps, quick, save)
    if name in result.unavailable:
        raise ModelUnavailable(f"{name} cannot train here: {result.unavailable[name]}")
    return result


def _run(
    name: str, workers: int | None, steps: int, quick: bool, save: pathlib.Path | None
) -> DistributedResult:
    cluster_size = 1  # workers this process trains with
    if os.environ.get("TF_CONFIG"):
        cluster_size = len(json.loads(os.environ["TF_CONFIG"]).get("cluster", {}).get("worker", []))
        if workers is not None and workers != cluster_size:
            raise InvalidInput(
                f"TF_CONFIG lists {cluster_size} workers but --workers says {workers}: "
                "give the same count, or leave --workers out."
            )
    elif workers not in (None, 1):
        return launch([name], workers, steps, quick, save=save)
    check([name], 1, steps)
    started = time.perf_counter()
    result = _combine([run_worker([name], steps, quick, save=save)], time.perf_counter() - started)
    return dataclasses.replace(
        result, workers=cluster_size
    )  # in a cluster, the hashes are this worker's only


def print_result(result: DistributedResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json()))
        return
    for name, why in result.unavailable.items():
        print(f"{name}: not trained here: {why}")
    for model in result.models:
        print(
            f"{model.name}: {result.workers} worker(s), {result.replicas} replica(s) ({result.strategy}), "
            f"{model.steps} steps of {model.global_batch} {model.unit}: loss {model.loss_first:.4f} -> "
            f"{model.loss_last:.4f}, {model.step_seconds * 1000:.0f} ms per step, {model.seconds:.1f} s; "
            + (
                f"weights identical on every worker: {model.agree} ({model.weight_hashes[0][:16]})"
                if len(model.weight_hashes) == result.workers
                else f"this worker's weights {model.weight_hashes[0][:16]} (compare with the other workers')"
            )
        )


def add_commands(commands) -> None:
    parser = commands.add_parser("train-multiworker", help="alias of `train text-cnn --workers N`")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--json", action="store_true")

    def run_alias(args: argparse.Namespace) -> int:
        print_result(run("text-cnn", args.workers, args.steps), args.json)
        return 0

    parser.set_defaults(run=run_alias)


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description="one worker: TF_CONFIG is already in the environment")
    arguments.add_argument("names", nargs="+")
    arguments.add_argument("--out", required=True)
    arguments.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    arguments.add_argument("--quick", action="store_true")
    arguments.add_argument(
        "--cpu-replicas", type=int, default=0, help="MirroredStrategy over N logical CPUs (a check)"
    )
    arguments.add_argument(
        "--save", type=pathlib.Path, default=None, help="the chief writes the weights here (one name)"
    )
    parsed = arguments.parse_args()
    pathlib.Path(parsed.out).write_text(
        json.dumps(run_worker(parsed.names, parsed.steps, parsed.quick, parsed.cpu_replicas, parsed.save))
    )
