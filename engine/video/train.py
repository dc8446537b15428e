"""Training and measuring the six video classifiers of engine/video/models.py on the same clips.

All six see the same TRAIN_CLIPS training clips; VALIDATION_CLIPS validation clips pick each way's
best epoch; the TEST_CLIPS fixed test clips are touched only for the reported figures, which are
measured on the float16 weights that get committed. Frozen features (MobileNetV2 for ways 4 and 5,
way 3's trunk for way 6) are computed once per clip set and cached; the time that takes is reported
beside each way's own training time.

    python -m engine train video      # all six, about 25 minutes on 2 shared CPU cores, into runs/video/RUN/
    python -m engine promote video RUN
    python -m engine eval video --json
"""

from __future__ import annotations

import json
import pathlib
import shutil
import time
from collections.abc import Callable

import numpy as np

from engine.core import assets, configs, registry, runs, schedules, training, weights_io
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.core.registry import PROJECT_ASSETS
from engine.data import clips as video_clips
from engine.features import extractors as features
from engine.video import models as video_models

TRAIN_CLIPS = 1800
VALIDATION_CLIPS = 200
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
EPOCHS = {  # per way: as many as the CPU budget (about 25 minutes for all six) allows
    "frame_cnn": 4,
    "cnn_rnn": 10,
    "conv3d": 10,
    "conv3d_rnn": 10,
    "features_rnn": 15,
    "features_mlp": 20,
}
FRAME_STRIDE = 2  # way 1 trains on every 2nd frame: neighbouring frames add little but time
ASSET_DIR = "video"
TABLE_FILE = f"{ASSET_DIR}/table.json"
CACHE = assets.cache_dir() / "video"  # generated clips and frozen features, outside git


def weights_file(way: str) -> str:
    return f"{ASSET_DIR}/{way}.npz"


def clip_set(split: str, count: int, start: int = 0) -> video_clips.ClipBatch:
    """Clips start..start+count-1 of a split, generated once and cached as .npz."""
    path = CACHE / f"clips_{split}_{start}_{count}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return video_clips.ClipBatch(stored["frames"], stored["labels"])
    batch = video_clips.batch(split, start, count)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez(handle, frames=batch.frames, labels=batch.labels)
    return batch


def cached_features(
    ways: video_models.SixWays, split: str, clips: video_clips.ClipBatch
) -> tuple[np.ndarray, float]:
    """MobileNetV2 features of a clip set (cached as float16) and the seconds computing them took."""
    path = CACHE / f"mobilenet_{split}_{len(clips.labels)}.npy"
    if path.is_file():
        stored = np.load(path)
        if stored.shape == (len(clips.labels), video_clips.FRAMES, video_models.FEATURE_SIZE):
            return stored.astype(np.float32), 0.0
    started = time.perf_counter()
    values = video_models.frame_features(ways, clips.frames)
    seconds = time.perf_counter() - started
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, values.astype(np.float16))
    return values.astype(np.float16).astype(np.float32), seconds


def accuracy_by_group(scores: np.ndarray, labels: np.ndarray) -> dict:
    """Overall accuracy and accuracy within each class group of `video_clips.GROUPS`."""
    correct = scores.argmax(-1) == labels
    by_group = {
        name: float(correct[np.isin(labels, members)].mean()) if np.isin(labels, members).any() else None
        for name, members in video_clips.GROUPS.items()
    }
    return {"accuracy": float(correct.mean()), "by_group": by_group}


def inference_ms(ways: video_models.SixWays, way: str, clip: np.ndarray, repeats: int = 5) -> float:
    """Median milliseconds to classify one clip end to end from its frames (extractors included)."""
    video_models.predict(ways, way, clip[None])  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        video_models.predict(ways, way, clip[None])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def per_clip_losses(ways: video_models.SixWays, frames, labels) -> dict:
    """Each way's training cross-entropy per clip (N,), from uint8 clips (N, 16, 48, 48, 3).

    As `train` feeds them: way 1 on every FRAME_STRIDE-th frame (its losses averaged per clip), ways 4
    and 5 on the frozen MobileNetV2 features, way 6 on way 3's trunk features with no gradient
    into the trunk (`train` freezes it after way 3 is trained).
    """
    import keras
    import tensorflow as tf

    def cross_entropy(model, inputs, answers):
        return keras.losses.sparse_categorical_crossentropy(answers, model(inputs, training=True))

    count, steps = tf.shape(frames)[0], video_clips.FRAMES // FRAME_STRIDE
    sampled = tf.reshape(frames[:, ::FRAME_STRIDE], (-1, *video_models.FRAME_SHAPE))
    per_frame = cross_entropy(ways.frame_cnn, sampled, tf.repeat(labels, steps))
    mobilenet = tf.stop_gradient(
        tf.reshape(
            ways.mobilenet(tf.reshape(frames, (-1, *video_models.FRAME_SHAPE))),
            (count, video_clips.FRAMES, video_models.FEATURE_SIZE),
        )
    )
    trunk = tf.stop_gradient(ways.conv3d_trunk(frames))
    return {
        "frame_cnn": tf.reduce_mean(tf.reshape(per_frame, (count, steps)), axis=1),
        "cnn_rnn": cross_entropy(ways.cnn_rnn, frames, labels),
        "conv3d": cross_entropy(ways.conv3d, frames, labels),
        "features_rnn": cross_entropy(ways.features_rnn, mobilenet, labels),
        "features_mlp": cross_entropy(ways.features_mlp, mobilenet, labels),
        "conv3d_rnn": cross_entropy(ways.conv3d_rnn, trunk, labels),
    }


class WayTask(training.Task):
    """One way's classifier on its inputs (frames or frozen features): Adam, keep the epoch with the best
    validation accuracy; the Trainer (engine/core/training.py) runs its epochs."""

    monitor = "validation_accuracy"
    ties_to_later = False  # a later epoch must beat the best so far

    def __init__(
        self,
        ways: video_models.SixWays,
        way: str,
        inputs: np.ndarray,
        labels: np.ndarray,
        validate: Callable[[], float],
        seed: int,
    ):
        self.ways, self.way, self.inputs, self.labels, self.score, self.seed = (
            ways,
            way,
            inputs,
            labels,
            validate,
            seed,
        )
        self.name = way

    def build_model(self) -> list:
        self.model = getattr(self.ways, self.way)
        return self.ways.trained_parts(self.way)

    def build_optimizer(self, learning_rate):
        import keras

        keras.utils.set_random_seed(self.seed)
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return self.model.optimizer

    def steps_per_epoch(self) -> int:
        return -(-len(self.labels) // BATCH_SIZE)

    def train_epoch(self, epoch, steps, optimizer, report, should_stop) -> dict[str, float] | None:
        if should_stop():
            return None
        count = min(len(self.labels), steps * BATCH_SIZE)  # fewer only in a smoke run (max_steps)
        result = self.model.fit(
            self.inputs[:count], self.labels[:count], batch_size=BATCH_SIZE, epochs=1, shuffle=True, verbose=0
        )
        return {
            "loss": float(result.history["loss"][-1]),
            "train_accuracy": float(result.history["accuracy"][-1]),
        }

    def validate(self) -> dict[str, float]:
        return {"validation_accuracy": self.score()}


class SixWaysTask(training.Task):
    """The six ways side by side on the same clips, each on its own loss (`per_clip_losses`): what the
    multi-worker path trains (engine/distributed/multiworker.py), one all-reduced step for all six. Their
    variables are disjoint, so one Adam over all of them is six separate Adams; `train` instead runs one
    WayTask per way in turn (Keras `fit` on each way's inputs, MobileNetV2 frozen, way 6 on the trunk of the
    trained way 3), which this Task does not replace."""

    name = "video"
    unit = "clips"
    batch_size = BATCH_SIZE

    def __init__(self, train_clips: int = TRAIN_CLIPS):
        self.train_clips = train_clips

    def build_sampler(self) -> None:
        """Nothing to load: `sample` generates its clips as it draws them."""

    def build_model(self) -> list:
        self.ways = video_models.build_all(registry.load(features.DEFAULT_MODEL).model)
        return [getattr(self.ways, way) for way in video_models.WAYS]  # MobileNetV2 is not among them: frozen

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` consecutive training clips from a random one: uint8 frames and labels."""
        clips = video_clips.batch("train", int(rng.integers(0, self.train_clips)), size)
        return clips.frames, clips.labels

    def loss(self, batch):
        import tensorflow as tf

        return tf.add_n(list(per_clip_losses(self.ways, *batch).values()))  # per clip: the six ways' sum


def train(
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    train_clips: int = TRAIN_CLIPS,
    validation_clips: int = VALIDATION_CLIPS,
    test_clips: int = video_clips.TEST_CLIPS,
    output_dir: pathlib.Path | None = None,
    seed: int = 0,
    should_stop: StopCheck = never_stop,
    max_steps: int | None = None,
    run: str | None = None,
) -> dict:
    """Train all six ways on the same clips into runs/video/RUN/ (one Trainer per way, in RUN/WAY/), measure
    their float16 weights on the test clips and write the table; `python -m engine promote video RUN` puts
    the weights and table under assets/video/ with their manifest lines.

    Args:
        epochs: epochs for every way (default: EPOCHS per way).
        train_clips, validation_clips, test_clips: clip counts (smaller only for smoke tests).
        output_dir: a copy of the weights and table (the tests' folder).
        max_steps: at most this many batches per epoch: a smoke run, which writes nothing.
    Returns:
        The table: one row per way with accuracy (overall and per class group), parameters, seconds.
    """
    smoke = max_steps is not None
    folder = runs.Run.new("video", run)
    on_progress(0.0, "generating clips")
    train_set = clip_set("train", train_clips)
    validation_set = clip_set("validation", validation_clips)
    test_set = clip_set("test", test_clips)
    ways = video_models.build_all(registry.load(features.DEFAULT_MODEL).model)
    frames = train_set.frames
    steps = video_clips.FRAMES
    inputs = {
        "frame_cnn": (
            frames[:, ::FRAME_STRIDE].reshape(-1, *video_models.FRAME_SHAPE),
            np.repeat(train_set.labels, steps // FRAME_STRIDE),
        ),
        "cnn_rnn": (frames, train_set.labels),
        "conv3d": (frames, train_set.labels),
    }
    rows, extract_seconds, cached = [], {}, {}
    for index, way in enumerate(
        ("frame_cnn", "cnn_rnn", "conv3d", "conv3d_rnn", "features_rnn", "features_mlp")
    ):

        def report(fraction, message, preview=None, index=index):
            on_progress((index + fraction) / len(video_models.WAYS), message, preview)

        if way == "conv3d_rnn":  # way 3 is trained by now: its frozen trunk makes the features
            started = time.perf_counter()
            splits = (("train", train_set), ("validation", validation_set), ("test", test_set))
            cached[way] = {split: video_models.conv3d_features(ways, clips.frames) for split, clips in splits}
            extract_seconds[way] = time.perf_counter() - started
            inputs[way] = (cached[way]["train"], train_set.labels)
        elif way.startswith("features"):
            if "features" not in cached:
                report(0.0, "MobileNetV2 features of every frame (once for ways 4 and 5)")
                cached["features"], seconds = {}, 0.0
                for split, clips in (
                    ("train", train_set),
                    ("validation", validation_set),
                    ("test", test_set),
                ):
                    cached["features"][split], spent = cached_features(ways, split, clips)
                    seconds += spent
                extract_seconds["features"] = seconds
            inputs[way] = (cached["features"]["train"], train_set.labels)
        extra = cached.get("features" if way.startswith("features") else way, {})

        def validate(way=way, extra=extra):
            scores = video_models.predict(
                ways,
                way,
                validation_set.frames,
                features=extra.get("validation"),
                trunk_features=extra.get("validation"),
            )
            return float(np.mean(scores.argmax(-1) == validation_set.labels))

        task = WayTask(ways, way, *inputs[way], validate, seed + index)
        trainer = training.Trainer(
            task,
            epochs or EPOCHS[way],
            schedules.constant(LEARNING_RATE),
            run=runs.Run("video", f"{folder.run}/{way}", folder.root),
            max_steps=max_steps,
            on_progress=report,
            should_stop=should_stop,
        )
        history = trainer.fit()
        if not history:  # stopped before a way's first epoch ended
            break
        path = folder.path / f"{way}.npz"
        if not smoke:
            trainer.restore()  # the best epoch
            weights_io.save_float16(ways.trained_parts(way), path)
            weights_io.load_float16(ways.trained_parts(way), path)  # measure what gets committed
        scores = video_models.predict(
            ways, way, test_set.frames, features=extra.get("test"), trunk_features=extra.get("test")
        )
        best = max(
            history, key=lambda entry: entry["validation_accuracy"]
        )  # the first of equals: the kept one
        extractor = "features" if way.startswith("features") else way
        rows.append(
            {
                "way": way,
                "title": video_models.TITLES[way],
                **accuracy_by_group(scores, test_set.labels),
                "test_clips": int(len(test_set.labels)),
                "parameters": ways.parameters(way),
                "train_seconds": round(sum(entry["seconds"] for entry in history), 1),
                "feature_seconds": round(extract_seconds.get(extractor, 0.0), 1),
                "epochs": len(history),
                "best_epoch": best["epoch"],
                "validation_accuracy": best["validation_accuracy"],
                "inference_ms_per_clip": round(inference_ms(ways, way, test_set.frames[0]), 2),
                "weights_bytes": path.stat().st_size if not smoke else None,
            }
        )
        report(1.0, f"{way}: test accuracy {rows[-1]['accuracy']:.4f}")
        if should_stop():
            break
    rows.sort(key=lambda row: video_models.WAYS.index(row["way"]))  # trained 1, 2, 3, 6, 4, 5; shown 1..6
    table = {
        "train_clips": int(len(train_set.labels)),
        "validation_clips": int(len(validation_set.labels)),
        "test_clips": int(len(test_set.labels)),
        "frames": video_clips.FRAMES,
        "size": video_clips.SIZE,
        "classes": list(video_clips.CLASSES),
        "rows": rows,
    }
    if smoke or len(rows) < len(video_models.WAYS):  # a smoke run, or stopped: nothing to promote
        return table
    (folder.path / "table.json").write_text(json.dumps(table, indent=1))
    outputs = [
        runs.Output(
            weights_file(row["way"]),
            f"{row['way']}.npz",
            f"python -m engine train video ({row['epochs']} epochs, best on {len(validation_set.labels)} "
            f"validation clips: epoch {row['best_epoch']}; {row['train_seconds'] / 60:.1f} min on 2 shared CPU "
            f"cores, plus {row['feature_seconds']:.0f} s of frozen features)",
            f"test clips ({row['test_clips']}): accuracy {row['accuracy']:.4f}",
        )
        for row in rows
    ]
    outputs.append(runs.Output(TABLE_FILE, "table.json"))
    runs.write_run_file(folder, [], table, outputs, "validation_accuracy")
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        for output in outputs:
            shutil.copyfile(folder.path / output.file, output_dir / output.file)
    return {**table, "run": str(folder.path), "promote": f"python -m engine promote video {folder.run}"}


def load_table() -> dict | None:
    """The table written by the last training run (assets/video/table.json), or None."""
    path = PROJECT_ASSETS / TABLE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def evaluate_model(ways: video_models.SixWays, count: int = video_clips.TEST_CLIPS) -> dict:
    """Accuracy of each way on the first `count` test clips, as measured now, with the training
    run's seconds from the stored table; inference ms measured now."""
    test_set = clip_set("test", count) if count == video_clips.TEST_CLIPS else video_clips.test_clips(count)
    stored = {row["way"]: row for row in (load_table() or {}).get("rows", [])}
    mobilenet = video_models.frame_features(ways, test_set.frames)
    rows = []
    for way in video_models.WAYS:
        scores = video_models.predict(ways, way, test_set.frames, features=mobilenet)
        previous = stored.get(way, {})
        rows.append(
            {
                "way": way,
                "title": video_models.TITLES[way],
                **accuracy_by_group(scores, test_set.labels),
                "test_clips": count,
                "parameters": ways.parameters(way),
                "train_seconds": previous.get("train_seconds"),
                "feature_seconds": previous.get("feature_seconds"),
                "inference_ms_per_clip": round(inference_ms(ways, way, test_set.frames[0]), 2),
            }
        )
    return {"test_clips": count, "classes": list(video_clips.CLASSES), "rows": rows}


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights (epochs None: each way's EPOCHS).
configs.register("video", configs.DEFAULT, configs.TrainerDefaults(None), note="each way trains its EPOCHS")
