"""One Task protocol and one Trainer for every model trained here.

After TF Model Garden's `base_task.Task` and `base_trainer.Trainer`: a `Task` holds what is particular
to a model (its data, network, loss and train step, validation metrics, held-out evaluation, the files
and manifest lines it makes); the `Trainer` owns the lifecycle every trainer used to rewrite: the epoch
loop with its stop check and progress, the learning-rate schedule (engine/core/schedules.py), a float32
checkpoint per epoch and resume from it, keep-best on a named validation metric, and the float16 finalize
that measures the stored copy (engine/core/weights_io.py). It writes into a run folder, never under
assets/ (engine/core/runs.py: `python -m engine promote NAME RUN` copies a run's files there).

Option names are the same for every trainer: `epochs` (the total the run's log reaches; a resumed run
continues towards it), `resume`, `run` (the run folder's name), `max_steps` (at most this many steps per
epoch: a smoke run, which writes no checkpoint and no output), `seed`, `on_progress`, `should_stop`, and
`config`: the named config the run was started with (engine/core/configs.py), whose name, lineage and full
settings go into settings-N.json, run.json and the manifest line (default: the one the CLI is running, if any).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from collections.abc import Callable, Iterable

import numpy as np

from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.core.runs import Output, Run, assets_dir, check_run_name, runs_root, write_run_file
from engine.core.schedules import Schedule, constant

# --- the Task protocol --------------------------------------------------------------------------------------


class Task:
    """What one model's training needs; subclass it and override what your model does differently.

    Build: `build_inputs(first_epoch)` loads data (and seeds the task's random generator: `first_epoch`
    epochs are done already when resuming, so a resumed run draws new batches); `build_model()` returns
    the Keras models whose weights train and are saved (the "parts"), in a fixed order.
    Train: `steps_per_epoch()`, `batches(epoch)` yields an epoch's batches and `train_step(batch, optimizer)`
    returns named figures (means over the batch: "loss", ...); a task whose epoch is not a loop of steps
    (Keras `fit`) overrides `train_epoch` instead.
    Validate: `validate()` returns named metrics; `monitor` names the one keep-best reads.
    Finalize: `evaluate(weights)` measures the float16 file on held-out data; `outputs(...)` names the files
    and manifest lines (by default the float16 weights at `asset`, with `manifest_line`).
    Under a tf.distribute strategy (engine/distributed/multiworker.py) the same Task trains: `build_sampler()`
    then `build_model()` (in the strategy's scope); each replica draws `sample(rng, size)` with a generator
    seeded by step and replica, and `loss(batch)` is what `train_step` minimizes.
    """

    name: str = "model"
    asset: str | None = None  # the committed weights, relative to assets/ (also what --resume seeds from)
    # keep-best on this validate() metric; None keeps the last epoch
    monitor: str | None = "validation_accuracy"
    higher_is_better: bool = True
    ties_to_later: bool = True  # an epoch equal to the best so far replaces it
    resume_from: str = "last"  # the checkpoint a resumed run starts from: "last" or "best"
    report_every: int = 20  # steps between progress messages
    legacy_checkpoints: pathlib.Path | None = None  # a checkpoint folder from before run folders existed
    unit: str = "examples"  # what one example of a batch is (images, scenes, questions, ...)
    batch_size: int = 32  # examples (in `unit`) per step; per replica under a strategy
    clip_norm: float | None = None  # the step clips the gradients to this global norm

    def build_inputs(self, first_epoch: int) -> None:
        """Load the data; seed random generators (`first_epoch` epochs are done already)."""

    def build_sampler(self) -> None:
        """Load what `sample` draws from (default: `build_inputs(0)`); a task whose inputs are costly to
        prepare up front (thousands of scenes, their proposals) loads nothing and draws as it samples."""
        self.build_inputs(0)

    def sample(self, rng: np.random.Generator, size: int) -> tuple:
        """A batch of `size` examples drawn with `rng`: numpy arrays, as `loss` takes them."""
        raise NotImplementedError

    def loss(self, batch):
        """What `train_step` minimizes on `batch` (tensors), in training mode: one value per example (rank 1)
        or, where the task normalizes over something finer than examples (anchors, ROIs, windows' samples, a
        batch-wide Jaccard term), its mean over the batch (rank 0)."""
        raise NotImplementedError

    def build_model(self) -> list:
        raise NotImplementedError

    def load_weights(self, parts: list, path: pathlib.Path) -> None:
        """Load the checkpoint a resumed run starts from into `parts` (override to grow a smaller stored
        network into the built one, or to load only some parts)."""
        from engine.core import weights_io

        weights_io.load_float16(parts, path)

    def build_optimizer(self, learning_rate):
        import keras

        return keras.optimizers.Adam(learning_rate)

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batches(self, epoch: int) -> Iterable:
        raise NotImplementedError

    def train_step(self, batch, optimizer) -> dict[str, float]:
        raise NotImplementedError

    def train_epoch(
        self, epoch: int, steps: int, optimizer, report: Callable[[int, dict], None], should_stop: StopCheck
    ) -> dict[str, float] | None:
        """Train one epoch of `steps` steps; the mean of each named figure, or None if stopped before
        a step. `report(step, running means)` after each step (the Trainer throttles the messages)."""
        totals: dict[str, float] = {}
        done = 0
        batches = iter(self.batches(epoch))
        for _ in range(steps):
            if should_stop():  # asked before a batch is drawn, so a stop draws nothing more from the data
                break
            batch = next(batches, None)
            if batch is None:
                break
            for key, value in self.train_step(batch, optimizer).items():
                totals[key] = totals.get(key, 0.0) + float(value)
            done += 1
            report(done - 1, {key: value / done for key, value in totals.items()})
        return {key: value / done for key, value in totals.items()} if done else None

    def validate(self) -> dict[str, float]:
        return {}

    def epoch_log(self, epoch: int) -> dict:
        """Extra keys for epoch `epoch`'s (0-based) log entry: the settings a replay needs."""
        return {}

    def starting_metric(self, history: list[dict]) -> float | None:
        """The bar a run's first epoch must beat to be kept: by default the best in the log so far."""
        values = [entry[self.monitor] for entry in history if self.monitor in entry]
        if not values:
            return None
        return max(values) if self.higher_is_better else min(values)

    def choose_checkpoint(self, run: Run) -> pathlib.Path | None:
        """The checkpoint `finalize` stores and measures; None: best.npz with a monitor, else last.npz (VQA picks
        best or last by validation after recalibrating BatchNorm)."""
        return None

    def evaluate(self, weights: pathlib.Path) -> dict:
        """Held-out figures of a stored float16 weight file (build a fresh model and load it)."""
        return {}

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        """(how, metric) of the weights' manifest line."""
        return (f"python -m engine train {self.name} --epochs {epochs}", json.dumps(figures))

    def outputs(self, run: Run, figures: dict, history: list[dict], epochs: int) -> list[Output]:
        """The files a finalized run promotes; default: the float16 weights (`weights.npz`) at `asset`."""
        if self.asset is None:
            return []
        how, metric = self.manifest_line(figures, history, epochs)
        return [Output(self.asset, "weights.npz", how, metric)]

    def committed_history(self) -> list[dict] | None:
        """The log of the committed weights (the .history.json beside `asset`), for --resume without a run."""
        if self.asset is None:
            return None
        path = (assets_dir() / self.asset).with_suffix(".history.json")
        stored = json.loads(path.read_text()) if path.is_file() else None
        return stored if isinstance(stored, list) else None

    def committed_epoch(self, history: list[dict]) -> int:
        """The epoch the committed weights hold (they are the best epoch's unless the task says otherwise)."""
        from engine.core import manifest

        return manifest.best_epoch(history, self.monitor)["epoch"] if self.monitor else len(history)


# --- the Trainer --------------------------------------------------------------------------------------------


class Trainer:
    """Runs a Task's epochs into a run folder: schedule, stop, progress, checkpoints, resume, keep-best."""

    def __init__(
        self,
        task: Task,
        epochs: int,
        schedule: Schedule | None = None,
        *,
        resume: bool = False,
        run: str | Run | None = None,
        runs_dir: pathlib.Path | None = None,
        max_steps: int | None = None,
        on_progress: ProgressCallback = no_progress,
        should_stop: StopCheck = never_stop,
        config=None,
    ):
        from engine.core import configs

        if epochs < 1:
            raise InvalidInput(f"Train for at least 1 epoch, not {epochs}.")
        if max_steps is not None and max_steps < 1:
            raise InvalidInput(f"max_steps must be at least 1, not {max_steps}.")
        self.task, self.epochs, self.schedule = task, epochs, schedule or constant(1e-3)
        self.resume, self.max_steps = resume, max_steps
        self.on_progress, self.should_stop = on_progress, should_stop
        config = config if config is not None else configs.current()
        self.config = config.describe() if config is not None else None  # configs.NamedConfig -> JSON
        self.smoke = max_steps is not None  # a smoke run writes no checkpoint and no output
        self.run = self._open_run(run, runs_dir or runs_root())
        self.history: list[dict] = self.run.history() if resume else []
        self.first_epoch = len(self.history)
        self.parts: list = []
        self.optimizer = None

    def _open_run(self, run: str | Run | None, root: pathlib.Path) -> Run:
        # A folder chosen by the caller (e.g. one per part of a run that trains several).
        if isinstance(run, Run):
            return run
        name = self.task.name
        if not self.resume:
            return Run.new(name, run, root)
        if run is not None:
            chosen = Run(name, run, root)
            check_run_name(run)
            if not chosen.exists():
                raise InvalidInput(f"No run {run} of {name} under {root / name} to resume.")
            return chosen
        latest = Run.latest(name, root)
        if latest is not None:
            return latest
        # A machine without runs: seed one from the old cache, else the committed weights (never a write
        # under assets/); with neither, the run starts from scratch, as the trainers always did.
        seeded = Run.new(name, None, root)
        if not self._seed_from_legacy(seeded):
            self._seed_from_committed(seeded)
        return seeded

    def _seed_from_legacy(self, run: Run) -> bool:
        legacy = self.task.legacy_checkpoints
        checkpoint = legacy / f"{self.task.resume_from}.npz" if legacy is not None else None
        if checkpoint is None or not (legacy / "history.json").is_file() or not checkpoint.is_file():
            return False
        run.path.mkdir(parents=True, exist_ok=True)
        for name in ("history.json", "last.npz", "best.npz"):
            if (legacy / name).is_file():
                shutil.copyfile(legacy / name, run.path / name)
        return True

    def _seed_from_committed(self, run: Run) -> bool:
        from engine.core import manifest

        history = self.task.committed_history()
        committed = assets_dir() / self.task.asset if self.task.asset else None
        if not history or committed is None or not committed.is_file():
            return False
        run.path.mkdir(parents=True, exist_ok=True)
        manifest.seed_cache(committed, run.path, history, self.task.committed_epoch(history))
        return True

    def _is_better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        if value == best:
            return self.task.ties_to_later
        return value > best if self.task.higher_is_better else value < best

    def fit(self) -> list[dict]:
        """Train from the log's end to `epochs`; returns the whole log (earlier epochs included)."""
        from engine.core import weights_io

        task, epochs, first = self.task, self.epochs, self.first_epoch
        task.build_inputs(first)
        self.parts = task.build_model()
        if self.history:
            task.load_weights(self.parts, self.run.path / f"{task.resume_from}.npz")
        steps = task.steps_per_epoch()
        if self.max_steps is not None:
            steps = min(steps, self.max_steps)
        self.optimizer = task.build_optimizer(self.schedule.for_optimizer(steps, epochs, first))
        if self.history:  # the step count a per-step schedule reads (Adam's moments start afresh)
            self.optimizer.iterations.assign(first * steps)
        best = task.starting_metric(self.history) if task.monitor else None
        if not self.smoke:
            self.run.path.mkdir(parents=True, exist_ok=True)
            self._write_settings(steps)
        for epoch in range(first, epochs):
            started = time.perf_counter()
            rate = self.schedule.rate(epoch * steps, steps, epochs, first)
            if self.schedule.per_epoch:
                self.optimizer.learning_rate.assign(rate)

            def report(step: int, running: dict, epoch=epoch) -> None:
                if step % task.report_every == 0:
                    figures = ", ".join(f"{key} {value:.4f}" for key, value in running.items())
                    self.on_progress(
                        (epoch + step / steps) / epochs,
                        f"{task.name} epoch {epoch + 1}/{epochs}, batch {step}/{steps}, {figures}",
                    )

            figures = task.train_epoch(epoch, steps, self.optimizer, report, self.should_stop)
            if figures is None or self.should_stop():
                break  # an epoch cut short is neither logged nor kept
            metrics = task.validate()
            entry = {
                "epoch": epoch + 1,
                **figures,
                **metrics,
                "learning_rate": rate,
                **task.epoch_log(epoch),
                "seconds": time.perf_counter() - started,
            }
            kept = bool(task.monitor) and not self.smoke and self._is_better(metrics[task.monitor], best)
            if task.monitor:
                entry["kept"] = kept
            self.history.append(entry)
            self.on_progress(
                (epoch + 1) / epochs,
                f"{task.name} epoch {epoch + 1}: "
                + ", ".join(
                    f"{key} {value:.4f}" for key, value in metrics.items() if isinstance(value, float)
                ),
                entry,
            )
            if self.smoke:
                continue
            weights_io.save_float16(self.parts, self.run.path / "last.npz", dtype=np.float32)
            if kept:
                best = metrics[task.monitor]
                weights_io.save_float16(self.parts, self.run.path / "best.npz", dtype=np.float32)
            self.run.write_history(self.history)
        return self.history

    def _write_settings(self, steps: int) -> None:
        settings = {
            "name": self.task.name,
            "run": self.run.run,
            "epochs": self.epochs,
            "first_epoch": self.first_epoch,
            "steps_per_epoch": steps,
            "schedule": self.schedule.describe(),
            "monitor": self.task.monitor,
            **({"config": self.config} if self.config else {}),
        }
        (self.run.path / f"settings-{self.first_epoch}.json").write_text(json.dumps(settings, indent=1))

    def chosen_checkpoint(self) -> pathlib.Path:
        """The task's choice (`Task.choose_checkpoint`), else best.npz when it keeps the best epoch, else last.npz."""
        default = self.run.path / ("best.npz" if self.task.monitor else "last.npz")
        path = self.task.choose_checkpoint(self.run) or default
        if not path.is_file():
            raise InvalidInput(f"No checkpoint in {self.run.path} to finalize: train {self.task.name} first.")
        return path

    def restore(self) -> None:
        """Load the chosen checkpoint into the trained parts."""
        from engine.core import weights_io

        weights_io.load_float16(self.parts, self.chosen_checkpoint())

    def finalize(self, output: pathlib.Path | None = None) -> dict:
        """Store the chosen checkpoint as float16 (weights.npz), measure that copy (`task.evaluate`) and
        write run.json with the files to promote and their manifest lines; `output`: a copy of the weights."""
        from engine.core import weights_io

        self.restore()
        weights = self.run.path / "weights.npz"
        weights_io.save_float16(self.parts, weights)
        figures = self.task.evaluate(weights)  # the float16 weights that get promoted, not the float32 ones
        outputs = self.task.outputs(self.run, figures, self.history, self.epochs)
        write_run_file(self.run, self.history, figures, outputs, self.task.monitor, self.config)
        if output is not None:
            output = pathlib.Path(output)
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(weights, output)
        return {
            **figures,
            "run": str(self.run.path),
            "promote": f"python -m engine promote {self.run.name} {self.run.run}",
        }


def train(
    task: Task,
    epochs: int,
    schedule: Schedule | None = None,
    *,
    output: pathlib.Path | None = None,
    **options,
) -> dict:
    """Fit `task` and, unless it was a smoke run (`max_steps`) or stopped before an epoch, finalize it.

    Returns {"name", "history", ...}: with the held-out figures, "run" and "promote" once finalized.
    """
    trainer = Trainer(task, epochs, schedule, **options)
    history = trainer.fit()
    if trainer.smoke or not any(entry["epoch"] > trainer.first_epoch for entry in history):
        return {"name": task.name, "history": history}
    return {"name": task.name, "history": history, **trainer.finalize(output)}
