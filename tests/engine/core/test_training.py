"""The one Trainer (engine/core/training.py) on a tiny Keras model and random data: keep-best, resume,
schedules applied, finalize and promote."""

import json
import pathlib

import numpy as np
import pytest

from engine.core import manifest, runs, schedules, training, weights_io
from engine.core.errors import InvalidInput

STEPS = 4
BATCH = 8


class Tiny(training.Task):
    """A 4 -> 1 linear model on random data; its validation metric is scripted per epoch."""

    name = "tiny"
    asset = "tiny/tiny.npz"
    report_every = 1

    def __init__(self, scores=(0.5, 0.9, 0.7, 0.6, 0.8, 0.55), **settings):
        self.scores = scores
        self.snapshots: dict[int, list[np.ndarray]] = {}  # epoch (1-based) -> weights after it
        self.rates: list[float] = []  # the optimizer's learning rate at each step
        self.first_epoch = None
        for key, value in settings.items():
            setattr(self, key, value)

    def build_inputs(self, first_epoch):
        self.first_epoch = first_epoch
        rng = np.random.default_rng(first_epoch)
        self.inputs = rng.normal(size=(STEPS * BATCH, 4)).astype(np.float32)
        self.targets = self.inputs @ np.array([1.0, -2.0, 0.5, 3.0], np.float32)

    def build_model(self):
        import keras

        keras.utils.set_random_seed(0)
        self.model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="tiny")
        return [self.model]

    def steps_per_epoch(self):
        return STEPS

    def batches(self, epoch):
        self.epoch = epoch
        for step in range(STEPS):
            yield (
                self.inputs[step * BATCH : (step + 1) * BATCH],
                self.targets[step * BATCH : (step + 1) * BATCH],
            )

    def train_step(self, batch, optimizer):
        import tensorflow as tf

        self.rates.append(float(optimizer.learning_rate))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.model(batch[0], training=True)[:, 0] - batch[1]))
        variables = self.model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {"loss": float(loss)}

    def validate(self):
        self.snapshots[self.epoch + 1] = [np.array(weight.numpy()) for weight in self.model.weights]
        return {"validation_accuracy": self.scores[self.epoch]}

    def evaluate(self, weights):
        import keras

        fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="tiny")
        weights_io.load_float16(fresh, weights)
        return {"kernel_sum": float(np.sum(fresh.weights[0].numpy()))}

    def manifest_line(self, figures, history, epochs):
        return f"python -m engine train tiny --epochs {epochs}", f"kernel sum {figures['kernel_sum']:.4f}"


def stored(path):
    with np.load(path) as arrays:
        return [arrays[key] for key in arrays.files]


def test_keep_best_picks_the_best_epoch_and_finalize_stores_it_as_float16(tmp_path, assets_dir):
    task = Tiny()
    result = training.train(task, 4, schedules.constant(0.05), runs_dir=tmp_path / "runs")
    history = result["history"]
    assert [entry["kept"] for entry in history] == [True, True, False, False]  # 0.5, 0.9, 0.7, 0.6
    run = pathlib.Path(result["run"])
    for saved, after_epoch_2 in zip(stored(run / "best.npz"), task.snapshots[2]):
        assert np.array_equal(saved, after_epoch_2)
    for saved, after_epoch_4 in zip(stored(run / "last.npz"), task.snapshots[4]):
        assert np.array_equal(saved, after_epoch_4)
    float16 = stored(run / "weights.npz")
    assert all(array.dtype == np.float16 for array in float16)
    assert np.array_equal(float16[0], task.snapshots[2][0].astype(np.float16))
    as_stored = task.snapshots[2][0].astype(np.float16).astype(np.float32)
    assert result["kernel_sum"] == pytest.approx(float(np.sum(as_stored)))
    summary = json.loads((run / "run.json").read_text())
    assert summary["kept_epoch"] == 2 and summary["outputs"][0]["asset"] == "tiny/tiny.npz"
    assert not any(assets_dir.iterdir())  # training never writes under assets/


@pytest.mark.parametrize("later, kept", [(True, 3), (False, 2)])
def test_ties_go_to_the_later_epoch_unless_the_task_says_otherwise(tmp_path, later, kept):
    trainer = training.Trainer(Tiny(scores=(0.5, 0.9, 0.9), ties_to_later=later), 3, runs_dir=tmp_path)
    history = trainer.fit()
    assert [entry["epoch"] for entry in history if entry["kept"]][-1] == kept


def test_a_lower_is_better_monitor_keeps_the_lowest(tmp_path):
    task = Tiny(scores=(0.5, 0.2, 0.3), higher_is_better=False)
    history = training.Trainer(task, 3, runs_dir=tmp_path).fit()
    assert [entry["kept"] for entry in history] == [True, True, False]


def test_resume_continues_from_the_checkpoint_epoch(tmp_path):
    first = training.Trainer(Tiny(), 2, schedules.cosine(0.05), runs_dir=tmp_path, run="r1")
    before = first.fit()
    later = Tiny()
    trainer = training.Trainer(later, 4, schedules.cosine(0.05), runs_dir=tmp_path, resume=True)
    assert trainer.run.run == "r1" and trainer.first_epoch == 2
    history = trainer.fit()
    assert later.first_epoch == 2  # the task seeds its data by the epochs done
    assert [entry["epoch"] for entry in history] == [1, 2, 3, 4] and history[:2] == before
    # The optimizer went on at step 2 x STEPS of the whole run's cosine, not from its start.
    assert later.rates[0] == pytest.approx(schedules.cosine(0.05).rate(2 * STEPS, STEPS, 4), rel=1e-5)
    assert later.rates[0] < 0.05 * 0.6
    # It started from epoch 2's weights: one step from them, not from a fresh initialization.
    resumed = training.Trainer(Tiny(), 4, runs_dir=tmp_path, run="r1", resume=True)
    assert resumed.first_epoch == 4 and resumed.fit() == history  # nothing left to do


def test_resume_loads_the_last_checkpoint(tmp_path):
    first_task = Tiny()
    training.Trainer(first_task, 2, runs_dir=tmp_path, run="r1").fit()
    task = Tiny()
    trainer = training.Trainer(task, 3, runs_dir=tmp_path, resume=True)
    original_train_epoch = task.train_epoch
    seen = {}

    def spy(epoch, steps, optimizer, report, should_stop):
        seen["start"] = [np.array(weight.numpy()) for weight in task.model.weights]
        return original_train_epoch(epoch, steps, optimizer, report, should_stop)

    task.train_epoch = spy
    trainer.fit()
    for start, after_epoch_2 in zip(seen["start"], first_task.snapshots[2]):
        assert np.array_equal(start, after_epoch_2)


def test_restarted_cosine_starts_at_the_given_peak(tmp_path):
    training.Trainer(Tiny(), 2, schedules.cosine(1e-2), runs_dir=tmp_path, run="r1").fit()
    task = Tiny()
    history = training.Trainer(
        task, 4, schedules.restarted_cosine(3e-4), runs_dir=tmp_path, resume=True
    ).fit()
    assert task.rates[0] == pytest.approx(3e-4, rel=1e-6)  # the optimizer's rate at the cycle's first step
    assert history[2]["learning_rate"] == pytest.approx(3e-4)
    assert task.rates[-1] < task.rates[STEPS] < task.rates[0]  # and it decays over this run's epochs
    schedule = schedules.restarted_cosine(3e-4)
    assert schedule.rate(4 * STEPS, STEPS, 4, first_epoch=2) == pytest.approx(0.0, abs=1e-12)
    assert schedule.rate(3 * STEPS, STEPS, 4, first_epoch=2) == pytest.approx(1.5e-4)


def test_the_stop_callback_stops_and_a_cut_epoch_is_not_logged(tmp_path):
    calls = {"count": 0}

    def should_stop():  # asked before each step and after each epoch: stop during the second epoch
        calls["count"] += 1
        return calls["count"] > STEPS + 1 + 2

    result = training.train(Tiny(), 4, runs_dir=tmp_path, should_stop=should_stop)
    assert [entry["epoch"] for entry in result["history"]] == [1]
    run = pathlib.Path(result["run"])  # what was trained is finalized, as the trainers always did
    assert [entry["epoch"] for entry in json.loads((run / "history.json").read_text())] == [1]
    assert json.loads((run / "run.json").read_text())["kept_epoch"] == 1


def test_progress_reports_steps_and_epochs_in_order(tmp_path):
    reports = []

    def on_progress(fraction, message, preview=None):
        reports.append((fraction, message, preview))

    training.Trainer(Tiny(), 2, runs_dir=tmp_path, on_progress=on_progress).fit()
    fractions = [fraction for fraction, _, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[-1][2]["epoch"] == 2 and "validation_accuracy 0.9000" in reports[-1][1]


def test_a_smoke_run_writes_nothing(tmp_path):
    task = Tiny()
    result = training.train(task, 2, runs_dir=tmp_path, max_steps=1)
    assert len(task.rates) == 2 and len(result["history"]) == 2 and "run" not in result
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_promote_copies_the_weights_and_writes_the_manifest_line(tmp_path, assets_dir):
    result = training.train(Tiny(), 2, runs_dir=tmp_path / "runs", run="r7")
    assert result["promote"] == "python -m engine promote tiny r7"
    assert not (assets_dir / "tiny").exists()
    promoted = runs.promote("tiny", "r7", runs_dir=tmp_path / "runs")
    target = assets_dir / "tiny" / "tiny.npz"
    assert target.read_bytes() == (tmp_path / "runs" / "tiny" / "r7" / "weights.npz").read_bytes()
    line = manifest.entries()["tiny/tiny.npz"]
    assert line == promoted["manifest"][0]
    assert line["how"] == "python -m engine train tiny --epochs 2"
    assert line["metric"] == f"kernel sum {result['kernel_sum']:.4f}"
    assert manifest.verified("tiny/tiny.npz") == target  # its checksum is the copied file's


def test_resume_without_a_run_seeds_one_from_the_committed_weights(tmp_path, assets_dir):
    training.train(Tiny(), 3, runs_dir=tmp_path / "runs", run="r1")
    runs.promote("tiny", "r1", runs_dir=tmp_path / "runs")
    history = json.loads((tmp_path / "runs" / "tiny" / "r1" / "history.json").read_text())
    (assets_dir / "tiny" / "tiny.history.json").write_text(json.dumps(history))
    elsewhere = tmp_path / "other-machine"
    trainer = training.Trainer(Tiny(), 4, runs_dir=elsewhere, resume=True)
    # The committed weights are the best epoch's (2 of 0.5, 0.9, 0.7), so the run goes on from there.
    assert trainer.first_epoch == 2 and trainer.history == history[:2]
    assert (trainer.run.path / "last.npz").read_bytes() == (assets_dir / "tiny" / "tiny.npz").read_bytes()


def test_resume_on_a_machine_with_the_old_cache_seeds_a_run_from_it(tmp_path, assets_dir):
    training.Trainer(Tiny(), 2, runs_dir=tmp_path / "old", run="r").fit()
    legacy = (
        tmp_path / "old" / "tiny" / "r"
    )  # the layout the trainers' cache folders had: history, last, best
    trainer = training.Trainer(Tiny(legacy_checkpoints=legacy), 3, runs_dir=tmp_path / "runs", resume=True)
    assert trainer.first_epoch == 2 and trainer.run.path.parent == tmp_path / "runs" / "tiny"
    assert (trainer.run.path / "last.npz").read_bytes() == (legacy / "last.npz").read_bytes()
    with pytest.raises(InvalidInput, match="No run nope"):
        training.Trainer(Tiny(), 3, runs_dir=tmp_path / "runs", resume=True, run="nope")
