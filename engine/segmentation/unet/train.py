"""Training the U-Net (engine/segmentation/unet/model.py) on the scenes' label maps; its named configs.

Trained on pre-generated training scenes (each with MAX_OBJECTS objects) with Adam on cross-entropy plus a
soft Jaccard term (1 - soft IoU per label, averaged over the labels present in the batch; Rahman & Wang,
"Optimizing Intersection-Over-Union in Deep Neural Networks for Image Segmentation", ISVC 2016, and in
the spirit of the Lovasz-softmax of Berman et al., CVPR 2018): cross-entropy alone is ruled by the
background's 88% of the pixels, while mean IoU weighs every label alike. The best epoch is picked by
mean IoU on validation scenes; the reported figures are on the fixed 500 test scenes
(`scenes.test_scenes()`). The tunables below are the default of `UNetConfig`; each training cycle of the
committed weights is a named config of it (`python -m engine configs unet`; docs/models/unet.md).
TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from engine.core import assets, configs, runs, schedules, training, weights_io
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.data import scenes
from engine.segmentation.unet.evaluation import evaluate_model, generate, measure
from engine.segmentation.unet.grow import GROWTH_CALIBRATION_SCENES, grow
from engine.segmentation.unet.model import (
    FILTERS,
    LABELS,
    TEST_TIME_SHIFTS,
    WEIGHTS,
    SceneSegmenter,
    architecture,
    build,
    build_network,
    is_three_level,
)

DEFAULT_EPOCHS = 3
TRAIN_SCENES = 8000  # pre-generated once per run (about 2 ms each); 3 epochs take ~20 min on one shared core
RESUME_TRAIN_SCENES = 16000  # new scenes per further cycle (`--resume`): fresh data rather than more passes
TRAIN_OBJECTS = scenes.MAX_OBJECTS  # training scenes are drawn full: more object pixels per step of compute
# Validation split (its usual 1-4 objects), picks the best epoch; 500, as 200 were too few to tell epochs apart.
VALIDATION_SCENES = 500
BATCH_SIZE = 8  # small batches: more updates for the same compute, which gets past the early plateau sooner
LEARNING_RATE = 2e-3  # Adam, cosine-decayed to zero over the run
RESUME_LEARNING_RATE = 1e-3  # peak of a further cosine cycle started from the best weights (`--resume`)
JACCARD_WEIGHT = 1.0  # weight of the soft Jaccard term next to the cross-entropy (0: cross-entropy only)
# Extra cross-entropy weight of boundary pixels (those with two labels in their 3 x 3 neighbourhood), in the
# spirit of the U-Net paper's weight map: most wrong pixels lie on label boundaries (measured: docs/models/unet.md).
BOUNDARY_WEIGHT = 2.0
# The labels the 4-level U-Net gets wrong most (nearly always as whole objects; docs/models/unet.md): training
# scenes that show one are drawn more often, a scene's weight being 1 + the extra of each such label in it.
OVERSAMPLED_LABELS = {"sneaker": 2.0, "ankle boot": 2.0, "sandal": 2.0, "1": 1.0}
CHECKPOINTS = (
    assets.cache_dir() / "train" / "unet"
)  # the checkpoint folder before run folders: --resume reads it


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """The U-Net's training tunables (engine/core/configs.py); the defaults are the constants above."""

    epochs: int = DEFAULT_EPOCHS  # a first run's epochs; with --resume, the new cycle's
    # Poolings: 4, or 3 (FILTERS[:-1], one coarse head fewer: the first cycles').
    levels: int = len(FILTERS) - 1
    train_scenes: int = TRAIN_SCENES  # a first run's
    resume_train_scenes: int = RESUME_TRAIN_SCENES  # a resumed cycle's
    validation_scenes: int = VALIDATION_SCENES
    batch_size: int = BATCH_SIZE
    learning_rate: float = LEARNING_RATE  # a first run's cosine peak
    resume_learning_rate: float = RESUME_LEARNING_RATE  # a resumed cycle's (--peak-learning-rate)
    jaccard_weight: float = JACCARD_WEIGHT
    boundary_weight: float = BOUNDARY_WEIGHT
    oversampled_labels: dict[str, float] = dataclasses.field(default_factory=lambda: dict(OVERSAMPLED_LABELS))
    validation_shifts: bool = True  # validation measures with TEST_TIME_SHIFTS (the first 4 cycles' did not)

    def architecture(self) -> tuple[tuple[int, ...], int]:
        """(filters, coarse heads) of `build_network` (model.architecture)."""
        return architecture(self.levels)


class UNetTask(training.Task):
    """The U-Net's part of training (engine/core/training.py runs the loop): pre-generated scenes drawn
    with OVERSAMPLED_LABELS' weights, the boundary-weighted cross-entropy + soft Jaccard loss, validation
    mean IoU (with the test-time shifts). A resumed run is a further cycle on scenes none before it saw,
    from the best weights so far (grown from the 3-level U-Net when those are its)."""

    name = "unet"
    asset = WEIGHTS
    monitor = "validation_mean_iou"
    ties_to_later = False
    resume_from = "best"
    report_every = 25
    legacy_checkpoints = CHECKPOINTS
    unit = "scenes"
    batch_size = BATCH_SIZE

    def __init__(
        self,
        train_scenes: int,
        validation_scenes: int,
        seed: int,
        resume: bool,
        peak: float,
        smoke: bool,
        on_progress: ProgressCallback = no_progress,
        config: UNetConfig | None = None,
    ):
        self.config = config or UNetConfig()
        self.train_scenes, self.validation_scenes, self.seed = train_scenes, validation_scenes, seed
        self.resume, self.peak, self.smoke, self.on_progress = resume, peak, smoke, on_progress
        self.history: list[
            dict
        ] = []  # the log so far (set before fit), which numbers the cycle and its scenes
        self.grown, self._step = False, None

    def build_inputs(self, first_epoch: int) -> None:
        self.build_sampler()
        first_scene = sum(_cycle_scenes(self.history).values())  # every cycle draws scenes none before it saw
        self.on_progress(0.0, f"generating {self.train_scenes} training scenes")
        self.images, self.label_maps = generate(
            "train", self.train_scenes, start=first_scene, objects=TRAIN_OBJECTS
        )
        self.validation = generate("validation", self.validation_scenes)
        self.rng = np.random.default_rng(self.seed + self.cycle)
        sampling = scene_weights(self.label_maps, self.config.oversampled_labels)
        self.sampling = sampling / sampling.sum()

    def build_sampler(self) -> None:
        """The cycle (which seeds the network); `sample` generates its scenes as it draws them."""
        self.cycle = max((entry.get("cycle", 0) for entry in self.history), default=-1) + 1

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` consecutive full training scenes from a random one (not oversampled), and their label maps."""
        images, maps = generate("train", size, int(rng.integers(0, self.train_scenes)), objects=TRAIN_OBJECTS)
        return images.astype(np.float32), maps.astype(np.int32)

    def loss(self, batch):
        """What the step minimizes: the batch's mean (its Jaccard term spans the whole batch)."""
        return batch_loss(self.network, *batch, self.config.boundary_weight, self.config.jaccard_weight)

    def build_model(self) -> list:
        import keras

        keras.utils.set_random_seed(self.seed + self.cycle)
        self.network = build_network(*self.config.architecture())
        self.segmenter = SceneSegmenter(self.network, None if self.config.validation_shifts else ())
        return [self.network]

    def load_weights(self, parts: list, path: pathlib.Path) -> None:
        self.grown = is_three_level(path) and self.config.levels == len(FILTERS) - 1
        if self.grown:
            grow(self.network, path, self.images[:GROWTH_CALIBRATION_SCENES])
        else:
            weights_io.load_float16(parts, path)

    def starting_metric(self, history: list[dict]) -> float | None:
        """A grown network cannot be saved over the 3-level one it grew from, so its first epoch is kept
        whatever it scores; otherwise the weights a resumed cycle starts from are measured as its epochs will
        be (the logged figures of earlier cycles may predate today's test-time shifts)."""
        if not self.resume or self.grown or self.smoke:
            return None
        start = measure(self.segmenter, *self.validation)["mean_iou"]
        self.on_progress(0.0, f"starting weights: validation mean IoU {start:.4f}")
        return start

    def steps_per_epoch(self) -> int:
        return self.train_scenes // self.config.batch_size

    def batches(self, epoch: int):
        order = self.rng.choice(self.train_scenes, self.train_scenes, p=self.sampling)
        size = self.config.batch_size
        for batch in range(self.steps_per_epoch()):
            index = np.sort(order[batch * size : (batch + 1) * size])
            yield self.images[index].astype(np.float32), self.label_maps[index].astype(np.int32)

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self._step is None:
            self._step = _train_step_function(
                self.network, optimizer, self.config.boundary_weight, self.config.jaccard_weight
            )
        return {"loss": self._step(*batch)}

    def validate(self) -> dict[str, float]:
        figures = measure(self.segmenter, *self.validation)
        return {
            "validation_mean_iou": figures["mean_iou"],
            "validation_pixel_accuracy": figures["pixel_accuracy"],
        }

    def epoch_log(self, epoch: int) -> dict:
        config = self.config
        return {
            "cycle": self.cycle,
            "levels": config.levels,
            "grown": self.grown,
            "train_scenes": self.train_scenes,
            "jaccard_weight": config.jaccard_weight,
            "oversampled": config.oversampled_labels,
            "boundary_weight": config.boundary_weight,
            "validation_scenes": self.validation_scenes,
            "peak_learning_rate": self.peak,
            "test_time_shifts": len(TEST_TIME_SHIFTS) if config.validation_shifts else 0,
        }

    def evaluate(self, weights: pathlib.Path) -> dict:
        return evaluate_model(build(weights))  # the float16 weights that get promoted, not the float32 ones

    def committed_history(self) -> list[dict] | None:
        stored = super().committed_history()
        return None if stored is None else [{"cycle": 0, **entry} for entry in stored]

    def committed_epoch(self, history: list[dict]) -> int:
        return len(history)  # the whole log goes on: its cycles number the next one and count the scenes seen

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        return _manifest_line(figures, history)

    def outputs(self, run: runs.Run, figures: dict, history: list[dict], epochs: int) -> list[runs.Output]:
        return [
            *super().outputs(run, figures, history, epochs),
            runs.Output(str(pathlib.PurePosixPath(WEIGHTS).with_suffix(".history.json")), "history.json"),
        ]


def _train_step_function(
    network, optimizer, boundary_weight: float = BOUNDARY_WEIGHT, jaccard_weight: float = JACCARD_WEIGHT
):
    import tensorflow as tf

    variables = network.trainable_variables

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, scenes.SIZE, scenes.SIZE, 3], tf.float32),
            tf.TensorSpec([None, scenes.SIZE, scenes.SIZE], tf.int32),
        ]
    )
    def step(batch_images, batch_maps):  # traced once for the whole run
        with tf.GradientTape() as tape:
            loss = batch_loss(network, batch_images, batch_maps, boundary_weight, jaccard_weight)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def train(
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    train_scenes: int | None = None,
    validation_scenes: int | None = None,
    max_batches: int | None = None,
    seed: int = 0,
    output: pathlib.Path | None = None,
    resume: bool = False,
    peak_learning_rate: float | None = None,
    max_steps: int | None = None,
    run: str | None = None,
    config: configs.NamedConfig | str | None = None,
) -> dict:
    """Train the U-Net from scratch into a run folder (engine/core/training.py); keep the epoch with the best
    validation mean IoU; `python -m engine promote unet RUN` commits it.

    Args:
        config: the named config (engine/core/configs.py; default "default", `UNetConfig()`) whose settings
            the run uses; one that resumes another makes this run a resumed cycle. The arguments below,
            when given, override its settings (and are recorded as overrides).
        epochs: passes over the training scenes (default DEFAULT_EPOCHS); with `resume`, the new cycle's.
        resume: a further cycle (warm restart, as in SGDR, Loshchilov & Hutter 2017): start from the
            best weights so far (the newest run's, else the old cache's, else the committed file) and their
            history, on the next `train_scenes` training scenes not seen yet, learning rate from
            RESUME_LEARNING_RATE cosine-decayed to zero; the best epoch over all cycles is kept. When
            those best weights are the 3-level U-Net's, the network is first grown from them (`grow`),
            and the best epoch is kept among the grown network's.
        train_scenes: how many training scenes to pre-generate (default TRAIN_SCENES, RESUME_TRAIN_SCENES
            when resuming).
        validation_scenes: how many validation scenes measure each epoch.
        max_steps (or its older name max_batches): stop each epoch after this many batches (smoke tests;
            nothing is saved).
        output: also copy the finalized float16 weights there.
        peak_learning_rate: the cosine schedule's start (default LEARNING_RATE, RESUME_LEARNING_RATE when
            resuming); a lower one fine-tunes without the dip a full restart costs.
        run: the run folder's name (default: the start time; with resume, the newest run).
    Returns:
        Per-epoch history and, once finalized, the test figures of the float16 weights, "run" and "promote".
    """
    named = configs.resolve("unet", config)
    resume = resume or named.resumes is not None
    named = configs.with_values(
        named,
        epochs=epochs,
        validation_scenes=validation_scenes,
        **{
            "resume_train_scenes" if resume else "train_scenes": train_scenes,
            "resume_learning_rate" if resume else "learning_rate": peak_learning_rate or None,
        },
    )
    settings: UNetConfig = named.settings
    epochs = settings.epochs
    train_scenes = settings.resume_train_scenes if resume else settings.train_scenes
    validation_scenes = settings.validation_scenes
    if epochs < 1 or train_scenes < settings.batch_size or validation_scenes < 1:
        raise InvalidInput(
            f"Train for at least 1 epoch on at least {settings.batch_size} scenes, with validation scenes."
        )
    max_steps = max_steps if max_steps is not None else max_batches
    peak = settings.resume_learning_rate if resume else settings.learning_rate
    task = UNetTask(
        train_scenes, validation_scenes, seed, resume, peak, max_steps is not None, on_progress, settings
    )
    trainer = training.Trainer(
        task,
        epochs,
        schedules.restarted_cosine(peak),
        resume=resume,
        run=run,
        max_steps=max_steps,
        on_progress=on_progress,
        should_stop=should_stop,
        config=named,
    )
    if resume and not trainer.history:
        raise InvalidInput(
            "Nothing to resume: no U-Net run, cache or committed history; train it without --resume."
        )
    configs.check_resumed(named, trainer.run.path)  # a named cycle goes on from a run of the one it resumes
    trainer.history = task.history = [{"cycle": 0, **entry} for entry in trainer.history]
    trainer.epochs = trainer.first_epoch + epochs  # a cycle of `epochs` more
    history = trainer.fit()
    if trainer.smoke or len(history) == trainer.first_epoch:
        return {"name": "unet", "history": history}
    return {"name": "unet", "history": history, **trainer.finalize(output)}


def scene_weights(label_maps: np.ndarray, extra: dict[str, float] = OVERSAMPLED_LABELS) -> np.ndarray:
    """Sampling weight of each training scene (N,) from its label map (N, H, W): 1 + the extra weight of
    each label of `extra` that it shows."""
    weights = np.ones(len(label_maps))
    for label, weight in extra.items():
        weights += weight * (label_maps == LABELS.index(label)).any(axis=(1, 2))
    return weights


def batch_loss(
    network,
    images,
    label_maps,
    boundary_weight: float = BOUNDARY_WEIGHT,
    jaccard_weight: float = JACCARD_WEIGHT,
):
    """Pixel cross-entropy, boundary pixels weighing 1 + boundary_weight, averaged over the batch's weights,
    + jaccard_weight x the batch's soft Jaccard term."""
    import tensorflow as tf

    logits = network(images, training=True)
    pixel_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(label_maps, logits)
    weights = 1 + boundary_weight * boundary_pixels(label_maps)
    loss = tf.reduce_sum(pixel_loss * weights) / tf.reduce_sum(weights)
    if jaccard_weight:
        loss += jaccard_weight * soft_jaccard_loss(logits, label_maps)
    return loss


def boundary_pixels(label_maps):
    """float32 (B, H, W): 1 where a pixel's 3 x 3 neighbourhood (within the image) holds more than one label."""
    import tensorflow as tf

    values = tf.cast(label_maps, tf.float32)[..., None]
    highest = tf.nn.max_pool2d(values, 3, 1, "SAME")
    lowest = -tf.nn.max_pool2d(-values, 3, 1, "SAME")
    return tf.cast(highest[..., 0] > lowest[..., 0], tf.float32)


def soft_jaccard_loss(logits, label_maps):
    """1 - soft IoU (softmax probabilities against one-hot truth), averaged over the labels in the batch."""
    import tensorflow as tf

    probabilities = tf.nn.softmax(logits)
    truth = tf.one_hot(label_maps, len(LABELS), dtype=probabilities.dtype)
    intersection = tf.reduce_sum(probabilities * truth, [0, 1, 2])
    union = tf.reduce_sum(probabilities + truth, [0, 1, 2]) - intersection
    present = tf.cast(tf.reduce_sum(truth, [0, 1, 2]) > 0, probabilities.dtype)
    return tf.reduce_sum((1 - intersection / (union + 1)) * present) / tf.maximum(tf.reduce_sum(present), 1)


def best_entry(history: list[dict]) -> dict:
    """The epoch whose weights best.npz holds: the last one marked "kept"; in logs from before that mark
    existed, the best by validation mean IoU among the unmarked epochs."""
    kept = [entry for entry in history if entry.get("kept")]
    return (
        kept[-1]
        if kept
        else max(
            (entry for entry in history if "kept" not in entry),
            key=lambda entry: entry["validation_mean_iou"],
        )
    )


def _cycle_scenes(history: list[dict]) -> dict[int, int]:
    """Training scenes each cycle drew (entries from before this was logged: TRAIN_SCENES)."""
    return {entry["cycle"]: entry.get("train_scenes", TRAIN_SCENES) for entry in history}


def _manifest_line(figures: dict, history: list[dict]) -> tuple[str, str]:
    """(how, metric) of the promoted weights: the commands of every cycle, their scenes and losses."""
    best = best_entry(history)
    cycles = [
        sum(1 for entry in history if entry["cycle"] == cycle) for cycle in range(history[-1]["cycle"] + 1)
    ]
    peaks = {entry["cycle"]: entry.get("peak_learning_rate", RESUME_LEARNING_RATE) for entry in history}
    command = f"python -m engine train unet --epochs {cycles[0]}" + "".join(
        f", then --resume --epochs {count}"
        + (f" --peak-learning-rate {peaks[cycle]:g}" if peaks[cycle] != RESUME_LEARNING_RATE else "")
        for cycle, count in enumerate(cycles[1:], start=1)
    )
    scene_counts = " + ".join(str(count) for count in _cycle_scenes(history).values())
    losses = " / ".join(
        f"cycle {entry['cycle']}: "
        + ("cross-entropy + soft Jaccard" if entry.get("jaccard_weight") else "cross-entropy")
        + (f", grown to {entry['levels']} levels" if entry.get("grown") else "")
        + (
            ", scenes showing " + " / ".join(entry["oversampled"]) + " drawn more often"
            if entry.get("oversampled")
            else ""
        )
        + (
            f", boundary pixels' cross-entropy x {1 + entry['boundary_weight']:g}"
            if entry.get("boundary_weight")
            else ""
        )
        for entry in {entry["cycle"]: entry for entry in history}.values()
    )
    how = (
        f"{command} ({scene_counts} new training scenes of {TRAIN_OBJECTS} objects, per cycle; {losses}; "
        f"best of {len(history)} epochs on "
        + ", then ".join(dict.fromkeys(str(entry.get("validation_scenes", 200)) for entry in history))
        + f" validation scenes: epoch {best['epoch']}; "
        f"{sum(entry['seconds'] for entry in history) / 60:.0f} min on 2 shared CPU cores)"
    )
    return how, (
        f"test scenes ({figures['scenes']}): mean IoU {figures['mean_iou']:.4f} over {len(LABELS)} labels, "
        f"pixel accuracy {figures['pixel_accuracy']:.4f}"
    )


# --- named configs: "default" (the constants above) and the cycles of the committed weights ------------------
# Each cycle's settings as they stood when it ran (docs/models/unet.md; the history file logs them per epoch):
# `python -m engine train unet --config cycle0`, then --config cycle1 ... cycle6 (`python -m engine configs unet`).
configs.register("unet", configs.DEFAULT, UNetConfig())
_FIRST = UNetConfig(
    epochs=3,
    levels=3,
    jaccard_weight=0.0,
    boundary_weight=0.0,
    oversampled_labels={},
    validation_scenes=200,
    validation_shifts=False,
)
configs.register("unet", "cycle0", _FIRST, note="the first run, 3 levels, cross-entropy alone (f466233)")
_JACCARD = dataclasses.replace(_FIRST, jaccard_weight=1.0)
_OLD_KEEP_BEST = (
    "; then a resumed cycle's epochs were kept by the logged validation figures, not against its "
    "starting weights measured again (b28bfd9)"
)
configs.register(
    "unet", "cycle1", _JACCARD, resumes="cycle0", note="+ soft Jaccard (f0a902d)" + _OLD_KEEP_BEST
)
configs.register(
    "unet",
    "cycle2",
    dataclasses.replace(_JACCARD, epochs=1),
    resumes="cycle1",
    note="one more epoch of the 3-level U-Net" + _OLD_KEEP_BEST,
)
_GROWN = dataclasses.replace(_JACCARD, levels=4, epochs=13)
configs.register(
    "unet",
    "cycle3",
    _GROWN,
    resumes="cycle2",
    note="grown to 4 levels from the 3-level weights (`grow`, 4539e75)" + _OLD_KEEP_BEST,
)
_OVERSAMPLED = dataclasses.replace(
    _GROWN, epochs=12, oversampled_labels=dict(OVERSAMPLED_LABELS), validation_shifts=True
)
configs.register(
    "unet",
    "cycle4",
    _OVERSAMPLED,
    resumes="cycle3",
    note="worst labels' scenes drawn more often (b28bfd9); its weights were not committed, the next "
    "cycle starts from its best epoch (29), as every resumed cycle starts from the best",
)
configs.register(
    "unet",
    "cycle5",
    dataclasses.replace(_OVERSAMPLED, epochs=8, boundary_weight=2.0, validation_scenes=500),
    resumes="cycle4",
    note="boundary pixels' cross-entropy x 3, 500 validation scenes (2bab178)",
)
configs.register(
    "unet",
    "cycle6",
    UNetConfig(epochs=3, resume_learning_rate=3e-4),
    resumes="cycle5",
    note="a fine-tuning cycle at peak 3e-4 (68f91fb): the committed weights",
)
