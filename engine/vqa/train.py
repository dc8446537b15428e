"""Training the two VQA models (engine/vqa/models.py) on Sort-of-CLEVR (engine/data/sort_of_clevr.py).

Both are trained the same way: Adam, batches of BATCH_SIZE questions, QUESTIONS_PER_IMAGE on each of
IMAGES_PER_BATCH scenes drawn at random from TRAIN_SCENES pre-generated training scenes (the CNN runs
once per image), questions drawn from every phrasing of every question, each kind as often as KIND_WEIGHTS says;
an "epoch" is STEPS_PER_EPOCH batches. The best epoch by accuracy on validation scenes is kept;
test scenes are touched only for the reported figures (engine/vqa/evaluation.py).
engine/core/training.py runs the loop (`VQATask`):
each epoch ends with a float32 checkpoint in the run folder (runs/NAME/RUN/), so `python -m engine train
NAME --resume --epochs N` continues towards N epochs (on a machine without runs, from the old cache or
the committed weights and their history). A resumed run is an annealing
cycle: its epochs' learning rate follows a cosine from LEARNING_RATE down to zero (Loshchilov & Hutter,
"SGDR", ICLR 2017), where a first run keeps LEARNING_RATE throughout. The optimizer's moments are not
checkpointed: a resumed run restarts Adam's averages.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from engine.core import assets, configs, runs, schedules, training, weights_io
from engine.core import manifest as project_weights
from engine.core.errors import InvalidInput
from engine.core.progress import ProgressCallback, StopCheck, never_stop, no_progress
from engine.core.registry import PROJECT_ASSETS
from engine.data import sort_of_clevr as vqa_data
from engine.vqa import evaluation as vqa_evaluation
from engine.vqa import growth as vqa_growth
from engine.vqa import models as vqa_models

WEIGHTS = {"vqa-cnn-lstm": "vqa/cnn_lstm.npz", "vqa-relation-network": "vqa/relation_network.npz"}
# A first run's epochs (later cycles are `--resume` runs). The RN's validation plateaus for dozens of epochs before it
# binds the asked colour to its cells, so a short first run stops before that (docs/models/vqa-relation-network.md).
DEFAULT_EPOCHS = {"vqa-cnn-lstm": 100, "vqa-relation-network": 480}
CHECKPOINTS = (
    assets.cache_dir() / "train"
)  # where checkpoints were kept before runs/ (a --resume still reads them)
TRAIN_SCENES = 20_000  # pre-generated once per run (~1.4 ms each, 340 MB)
STEPS_PER_EPOCH = 200
BATCH_SIZE = 64  # questions per batch
QUESTIONS_PER_IMAGE = 4  # each image of a batch is asked this many random questions (one CNN pass)
IMAGES_PER_BATCH = BATCH_SIZE // QUESTIONS_PER_IMAGE
LEARNING_RATE = 1e-3
# How often each kind of question is asked in training, relative to the others: closest and furthest three times as
# often as each other kind (0.3 of the questions each), since the RN had learned the other kinds already (the card).
KIND_WEIGHTS = {"shape": 1.0, "left": 1.0, "top": 1.0, "closest": 3.0, "furthest": 3.0, "count": 1.0}
CLIP_NORM = 5.0  # global gradient norm clip
RECALIBRATION_IMAGES = 1000  # training images that set BatchNorm's statistics before each measurement
VALIDATION_SCENES = 60  # x 36 questions = 2,160 per epoch, picks the best epoch
TEST_QUESTIONS_PER_SCENE = len(vqa_data.KINDS) * len(vqa_data.COLOURS)


@dataclasses.dataclass(frozen=True)
class VQAConfig:
    """A VQA model's training tunables (engine/core/configs.py); the defaults are the constants above and the
    Relation Network's size in engine/vqa/models.py (g_units, f_units, pixel_coordinates: RN only)."""

    epochs: int  # the total the log reaches (a first run's: DEFAULT_EPOCHS[name])
    learning_rate: float = LEARNING_RATE  # a first run's, held constant
    resume_learning_rate: float = (
        LEARNING_RATE  # the peak of a resumed run's per-epoch cosine (--peak-learning-rate)
    )
    kind_weights: dict[str, float] = dataclasses.field(default_factory=lambda: dict(KIND_WEIGHTS))
    train_scenes: int = TRAIN_SCENES
    validation_scenes: int = VALIDATION_SCENES
    g_units: tuple[int, ...] = vqa_models.G_UNITS
    f_units: tuple[int, ...] = vqa_models.F_UNITS
    pixel_coordinates: bool = vqa_models.PIXEL_COORDINATES
    encoders_from_cnn_lstm: bool = (
        True  # RN: a first run starts its CNN and question encoder from the CNN + LSTM's
    )
    resume_from: str = (
        "last"  # a resumed run goes on from the log's last epoch, or from its "best" (the log cut there)
    )
    stop_after_epoch: int | None = (
        None  # a run stopped by hand after this epoch (its schedule still spans `epochs`)
    )


def build(name: str):
    return vqa_models.build(name)


def recalibrate_batch_norm(model, images: np.ndarray) -> None:
    """Set every BatchNorm layer's moving mean / variance to their exact values on `images`.

    The moving averages (momentum 0.99) trail weights that still change quickly, and a model
    evaluated with them swung between 47% and 68% on the same validation questions from one
    epoch to the next. One forward pass in training mode with momentum 0 replaces them with the
    statistics of these training images under the current weights ("precise BN"); it runs eagerly,
    so the traced training step keeps its own momentum. The Relation Network's normalised pair sum
    (in its head) is set the same way, on these images each asked one question of the table in turn.
    """
    visual, question_encoder, head = (
        model.get_layer(part) for part in ("visual", "question_encoder", "head")
    )
    images = images.astype(np.float32)
    _set_batch_norm_statistics(visual, lambda: images)
    _set_batch_norm_statistics(
        head,
        lambda: [
            visual(images),
            question_encoder(vqa_data.QUESTION_TOKENS[np.arange(len(images)) % len(vqa_data.QUESTION_TABLE)]),
        ],
    )


def _set_batch_norm_statistics(part, inputs) -> None:
    """One training-mode pass of `part` on `inputs()` (called only if `part` has BatchNorm) with momentum 0."""
    from keras import layers

    norms = [layer for layer in part._flatten_layers() if isinstance(layer, layers.BatchNormalization)]
    if not norms:
        return
    saved = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    part(inputs(), training=True)
    for layer, momentum in zip(norms, saved):
        layer.momentum = momentum


def per_question_loss(model, images, tokens, answers):
    """Cross-entropy of each question's answer (Q,) and the probabilities, in training mode; the CNN
    runs once per image, each image asked Q / len(images) consecutive questions."""
    import keras
    import tensorflow as tf

    visual, question_encoder, head = (
        model.get_layer(part) for part in ("visual", "question_encoder", "head")
    )
    seen = tf.repeat(visual(images, training=True), tf.shape(tokens)[0] // tf.shape(images)[0], axis=0)
    output = head([seen, question_encoder(tokens, training=True)], training=True)
    probabilities = output[0] if isinstance(output, (list, tuple)) else output
    return keras.losses.sparse_categorical_crossentropy(answers, probabilities), probabilities


def _train_step_function(model, optimizer):
    """One update on IMAGES_PER_BATCH images x QUESTIONS_PER_IMAGE questions: the CNN runs once per image."""
    import tensorflow as tf

    variables = model.trainable_variables
    signature = [
        tf.TensorSpec([None, vqa_data.SIZE, vqa_data.SIZE, 3], tf.float32),
        tf.TensorSpec([None, vqa_data.MAX_WORDS], tf.int32),
        tf.TensorSpec([None], tf.int64),
    ]

    @tf.function(input_signature=signature)  # traced once: one graph for the whole run
    def step(images, tokens, answers):
        with tf.GradientTape() as tape:
            losses, probabilities = per_question_loss(model, images, tokens, answers)
            loss = tf.reduce_mean(losses)
        gradients, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), CLIP_NORM)
        optimizer.apply_gradients(zip(gradients, variables))
        correct = tf.reduce_sum(tf.cast(tf.argmax(probabilities, -1) == answers, tf.float32))
        return loss, correct

    return step


class VQATask(training.Task):
    """A VQA model's part of training (engine/core/training.py runs the loop): random batches of
    IMAGES_PER_BATCH scenes x QUESTIONS_PER_IMAGE questions drawn by KIND_WEIGHTS, the clipped Adam step,
    validation accuracy after recalibrating BatchNorm. A resumed Relation Network smaller than today's
    (G_UNITS, F_UNITS, coordinate channels) is grown into it first (engine/vqa/growth.py)."""

    monitor = "validation_accuracy"
    report_every = 25
    unit = "questions"
    batch_size = BATCH_SIZE
    clip_norm = CLIP_NORM

    def __init__(
        self,
        name: str,
        seed: int = 0,
        train_scenes: int = TRAIN_SCENES,
        validation_scenes: int = VALIDATION_SCENES,
        resume: bool = False,
        peak: float = LEARNING_RATE,
        encoders_from_cnn_lstm: bool = True,
        smoke: bool = False,
        on_progress: ProgressCallback = no_progress,
        config: VQAConfig | None = None,
    ):
        self.name, self.asset, self.legacy_checkpoints = name, WEIGHTS[name], CHECKPOINTS / name
        self.config = config or VQAConfig(DEFAULT_EPOCHS[name])
        self.resume_from = self.config.resume_from
        self.seed, self.train_scenes, self.validation_scenes = seed, train_scenes, validation_scenes
        self.resume, self.peak, self.encoders_from_cnn_lstm = resume, peak, encoders_from_cnn_lstm
        self.smoke, self.on_progress = smoke, on_progress
        self.grown_from, self._step, self.chosen = None, None, None

    def build_inputs(self, first_epoch: int) -> None:
        self.first_epoch = first_epoch
        self.on_progress(0.0, f"{self.name}: generating {self.train_scenes} training scenes")
        self.data = vqa_data.scene_set("train", 0, self.train_scenes)
        self.validation = vqa_evaluation.question_set("validation", 0, self.validation_scenes)
        self.rng = np.random.default_rng(self.seed + first_epoch)

    def build_sampler(self) -> None:
        """A first run's start (no pre-generated scenes): `sample` generates its scenes as it draws them."""
        self.first_epoch = 0

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
        """`size` questions, QUESTIONS_PER_IMAGE on each of `size` / QUESTIONS_PER_IMAGE consecutive training
        scenes from a random one; any question of the table, uniformly (not by KIND_WEIGHTS)."""
        scenes = vqa_data.scene_set(
            "train", int(rng.integers(0, self.train_scenes)), size // QUESTIONS_PER_IMAGE
        )
        questions = rng.integers(0, len(vqa_data.QUESTION_TABLE), size)
        return (
            scenes.images.astype(np.float32),
            vqa_data.QUESTION_TOKENS[questions].astype(np.int32),
            scenes.answers[np.repeat(np.arange(size // QUESTIONS_PER_IMAGE), QUESTIONS_PER_IMAGE), questions],
        )

    def loss(self, batch):
        return per_question_loss(self.model, *batch)[0]  # what the (clipped) step averages

    def build_network(self):
        """The model at this run's size (a Relation Network's from the config)."""
        if self.name != "vqa-relation-network":
            return build(self.name)
        config = self.config
        return vqa_models.build_relation_network(config.g_units, config.f_units, config.pixel_coordinates)

    def build_model(self) -> list:
        self.model = self.build_network()
        relation_network = self.name == "vqa-relation-network"
        # The RN's architecture (g, f widths, input channels): fixed for the run, logged with every epoch.
        self.shape = vqa_growth.architecture(vqa_growth.model_arrays(self.model)) if relation_network else {}
        if relation_network and self.encoders_from_cnn_lstm and not self.first_epoch:
            _copy_encoders(self.model)
        return [self.model]

    def load_weights(self, parts: list, path: pathlib.Path) -> None:
        stored = vqa_growth.stored_architecture(path) if self.shape else {}
        self.grown_from = stored if stored != self.shape else None
        if not self.grown_from:
            weights_io.load_float16(parts, path)
            return
        vqa_growth.grow(self.model, path, np.random.default_rng(self.seed))
        if (
            not self.smoke
        ):  # best.npz holds the smaller network, which this one cannot load: the grown start stands in
            weights_io.save_float16(self.model, path.parent / "best.npz", dtype=np.float32)

    def steps_per_epoch(self) -> int:
        return STEPS_PER_EPOCH

    def batches(self, epoch: int):
        probabilities = question_probabilities(self.config.kind_weights)
        for _ in range(STEPS_PER_EPOCH):
            scenes = self.rng.integers(0, self.train_scenes, IMAGES_PER_BATCH)
            questions = self.rng.choice(len(vqa_data.QUESTION_TABLE), BATCH_SIZE, p=probabilities)
            yield (
                self.data.images[scenes].astype(np.float32),
                vqa_data.QUESTION_TOKENS[questions],
                self.data.answers[np.repeat(scenes, QUESTIONS_PER_IMAGE), questions],
            )

    def train_step(self, batch, optimizer) -> dict[str, float]:
        if self._step is None:
            self._step = _train_step_function(self.model, optimizer)
        loss, correct = self._step(*batch)
        return {"loss": float(loss), "train_accuracy": float(correct) / BATCH_SIZE}

    def validate(self) -> dict[str, float]:
        recalibrate_batch_norm(self.model, self.data.images[:RECALIBRATION_IMAGES])
        images, tokens, answers, _ = self.validation
        return {
            "validation_accuracy": float(
                np.mean(vqa_models.probabilities(self.model, images, tokens).argmax(-1) == answers)
            )
        }

    def epoch_log(self, epoch: int) -> dict:
        return {
            **({"peak_learning_rate": self.peak} if self.resume else {}),
            "annealed": self.resume,
            "kind_weights": self.config.kind_weights,
            **self.shape,
            **({"grown_from": self.grown_from} if self.grown_from and epoch == self.first_epoch else {}),
        }

    def committed_epoch(self, history: list[dict]) -> int:
        """The epoch the committed weights hold: `outputs` marks it ("committed"); logs from before the
        mark go on from their end."""
        marked = [entry["epoch"] for entry in history if entry.get("committed")]
        return marked[-1] if marked else len(history)

    def choose_checkpoint(self, run: runs.Run) -> pathlib.Path:
        """The best or the last checkpoint, whichever answers more validation questions after BatchNorm is
        recalibrated (on VALIDATION_SCENES scenes)."""
        calibration = vqa_data.scene_set("train", 0, RECALIBRATION_IMAGES).images
        images, tokens, answers, _ = vqa_evaluation.question_set("validation", 0, VALIDATION_SCENES)
        candidates = []
        for checkpoint in ("best.npz", "last.npz"):
            model = self.build_network()
            weights_io.load_float16(model, run.path / checkpoint)
            recalibrate_batch_norm(model, calibration)
            candidates.append(
                (
                    float(np.mean(vqa_models.probabilities(model, images, tokens).argmax(-1) == answers)),
                    checkpoint,
                    model,
                )
            )
        valid, checkpoint, model = max(candidates, key=lambda candidate: candidate[0])
        self.chosen = valid, checkpoint
        # Stored with the BatchNorm statistics it was chosen by.
        weights_io.save_float16(model, run.path / "chosen.npz", dtype=np.float32)
        return run.path / "chosen.npz"

    def evaluate(self, weights: pathlib.Path) -> dict:
        stored = self.build_network()
        weights_io.load_float16(stored, weights)
        figures = vqa_evaluation.accuracy_by_type(
            stored
        )  # on the float16 weights that get promoted, not the float32 ones
        if self.chosen:
            figures["checkpoint"] = (
                f"{self.chosen[1]}, validation accuracy {self.chosen[0]:.4f} after BatchNorm recalibration"
            )
        return figures

    def marked_history(self, history: list[dict]) -> list[dict]:
        """The log with the epoch whose weights get promoted marked "committed" (a later --resume goes on there)."""
        chosen = self.chosen[1] if self.chosen else "best.npz"
        epoch = (project_weights.best_epoch(history) if chosen == "best.npz" else history[-1])["epoch"]
        return [
            {
                **{key: value for key, value in entry.items() if key != "committed"},
                **({"committed": True} if entry["epoch"] == epoch else {}),
            }
            for entry in history
        ]

    def manifest_line(self, figures: dict, history: list[dict], epochs: int) -> tuple[str, str]:
        return _manifest_how(self.name, history, self.chosen[1] if self.chosen else "best.npz"), metric_text(
            figures
        )

    def outputs(self, run: runs.Run, figures: dict, history: list[dict], epochs: int) -> list[runs.Output]:
        history = self.marked_history(history)
        (run.path / "committed.history.json").write_text(json.dumps(history, indent=1))
        return [
            *super().outputs(run, figures, history, epochs),
            runs.Output(
                _history_path(self.name).relative_to(PROJECT_ASSETS).as_posix(), "committed.history.json"
            ),
        ]


def train(
    name: str,
    epochs: int | None = None,
    on_progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
    seed: int = 0,
    max_batches: int | None = None,
    train_scenes: int | None = None,
    validation_scenes: int | None = None,
    output: pathlib.Path | None = None,
    resume: bool = False,
    encoders_from_cnn_lstm: bool | None = None,
    peak_learning_rate: float | None = None,
    max_steps: int | None = None,
    run: str | None = None,
    config: configs.NamedConfig | str | None = None,
) -> dict:
    """Train `name` ("vqa-cnn-lstm" or "vqa-relation-network") from scratch, or resume it, into a run folder
    (engine/core/training.py); `python -m engine promote NAME RUN` commits the result.

    Args:
        config: the named config (engine/core/configs.py; default "default", `VQAConfig(DEFAULT_EPOCHS[name])`)
            whose settings the run uses; one that resumes another makes this a resumed run. The arguments
            below, when given, override its settings (and are recorded as overrides).
        epochs: total epochs (default DEFAULT_EPOCHS[name]), each STEPS_PER_EPOCH batches.
        resume: continue towards `epochs` from the newest run, else the old cache, else the committed
            weights and their history (assets/vqa/), with the learning rate annealed from
            `peak_learning_rate` to zero over the epochs this run adds (`annealed_learning_rate`).
        peak_learning_rate: where a resumed run's cosine starts (default LEARNING_RATE); lower refines
            instead of first climbing out of the old optimum (the card has the measurement).
        max_steps (or its older name max_batches): stop each epoch after this many batches and write
            nothing (smoke tests only).
        train_scenes: how many training scenes to pre-generate.
        validation_scenes: validation scenes (x 36 questions) measured after each epoch.
        output: also copy the finalized float16 weights there.
        encoders_from_cnn_lstm: Relation Network only: start its CNN and question encoder from the
            committed CNN + LSTM model's (same architecture) when that file exists, then train all of
            it: from scratch the RN stayed at chance for dozens of epochs (docs/models/vqa-relation-network.md).
        run: the run folder's name (default: the start time; with resume, the newest run).
    Returns:
        Per-epoch history and, once finalized, the test figures of the promoted checkpoint, "run" and "promote".
    """
    if name not in WEIGHTS:
        raise ValueError(f"No VQA model named {name}.")
    named = configs.resolve(name, config)
    resume = resume or named.resumes is not None
    if peak_learning_rate is not None and not resume:
        raise InvalidInput("--peak-learning-rate shapes a resumed run's schedule: add --resume.")
    named = configs.with_values(
        named,
        epochs=epochs or None,
        train_scenes=train_scenes,
        validation_scenes=validation_scenes,
        encoders_from_cnn_lstm=encoders_from_cnn_lstm,
        resume_learning_rate=peak_learning_rate or None,
    )
    settings: VQAConfig = named.settings
    peak = settings.resume_learning_rate
    max_steps = max_steps if max_steps is not None else max_batches
    task = VQATask(
        name,
        seed,
        settings.train_scenes,
        settings.validation_scenes,
        resume,
        peak,
        settings.encoders_from_cnn_lstm,
        max_steps is not None,
        on_progress,
        settings,
    )
    # A first run keeps its learning rate; a resumed one is an annealing cycle held per epoch (SGDR).
    schedule = (
        schedules.restarted_cosine(peak, per_epoch=True)
        if resume
        else schedules.constant(settings.learning_rate)
    )

    def stop() -> bool:  # a run the config says was stopped by hand after an epoch stops there
        return should_stop() or (
            settings.stop_after_epoch is not None and len(trainer.history) >= settings.stop_after_epoch
        )

    trainer = training.Trainer(
        task,
        settings.epochs,
        schedule,
        resume=resume,
        run=run,
        max_steps=max_steps,
        on_progress=on_progress,
        should_stop=stop,
        config=named,
    )
    configs.check_resumed(named, trainer.run.path)  # a named run goes on from a run of the one it resumes
    if (
        resume and settings.resume_from == "best" and trainer.history
    ):  # go on from the best epoch, the log cut there
        kept = [entry["epoch"] for entry in trainer.history if entry.get("kept")]
        trainer.first_epoch = kept[-1] if kept else project_weights.best_epoch(trainer.history)["epoch"]
        trainer.history = trainer.history[: trainer.first_epoch]
    history = trainer.fit()
    if trainer.smoke or not any(entry["epoch"] > trainer.first_epoch for entry in history):
        return {"name": name, "history": history}
    return {"name": name, "history": history, **trainer.finalize(output)}


def question_probabilities(weights: dict[str, float] | None = None) -> np.ndarray:
    """The probability of drawing each QUESTION_TABLE row: its kind's share of KIND_WEIGHTS, spread over the
    kind's phrasings and colours."""
    weights = KIND_WEIGHTS if weights is None else weights
    raw = np.array([weights[question.kind] for question in vqa_data.QUESTION_TABLE])
    return raw / raw.sum()


def annealed_learning_rate(epoch: int, epochs: int, peak: float = LEARNING_RATE) -> float:
    """Learning rate of epoch `epoch` (0-based) of a resumed run of `epochs` epochs: a half cosine from
    `peak` (first epoch) towards zero (after the last), held for each whole epoch."""
    return peak * 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def _copy_encoders(model) -> bool:
    """Relation Network: take the CNN and question encoder weights of the committed CNN + LSTM model."""
    source_path = PROJECT_ASSETS / WEIGHTS["vqa-cnn-lstm"]
    if not source_path.exists():
        return False
    source = build("vqa-cnn-lstm")
    weights_io.load_float16(source, source_path)
    target_cnn = model.get_layer("visual").get_layer("cnn")
    # The RN's first convolution also reads the pixel coordinates (vqa_models.PIXEL_COORDINATES): those start at zero.
    target_cnn.set_weights(
        [
            vqa_growth.embed(values, tuple(variable.shape))
            for values, variable in zip(
                source.get_layer("visual").get_layer("cnn").get_weights(), target_cnn.weights
            )
        ]
    )
    model.get_layer("question_encoder").set_weights(source.get_layer("question_encoder").get_weights())
    return True


def _manifest_how(name: str, history: list[dict], chosen: str) -> str:
    """The manifest's `how` of promoted VQA weights: the command of each run in the log and its schedule."""
    runs = training_runs(history)
    command = f"python -m engine train {name} --epochs {len(runs[0])}" + "".join(
        f", then --resume{peak_flag(run[0])} (epochs {run[0]['epoch']}-{run[-1]['epoch']} kept)"
        for run in runs[1:]
    )
    return (
        f"{command} ({len(history)} epochs of {STEPS_PER_EPOCH} x {BATCH_SIZE} questions; "
        + ("CNN and question encoder started from vqa-cnn-lstm's; " if name == "vqa-relation-network" else "")
        + f"learning rate {LEARNING_RATE:g} for {len(runs[0])} epochs"
        + "".join(
            f", then {schedule_text(run)} over epochs {run[0]['epoch']}-{run[-1]['epoch']}"
            + growth_text(run[0])
            + (
                ", asking closest / furthest more often ("
                + ", ".join(f"{kind} {weight:g}" for kind, weight in run[0]["kind_weights"].items())
                + ")"
                if len(set(run[0].get("kind_weights", {}).values())) > 1
                else ""
            )
            for run in runs[1:]
        )
        + f"; kept the {chosen.split('.')[0]} checkpoint by validation; "
        f"{sum(entry['seconds'] for entry in history) / 60:.0f} min on 2 shared CPU cores)"
    )


def training_runs(history: list[dict]) -> list[list[dict]]:
    """The log split into the runs that made it: the first at constant learning rate, then each resumed
    (annealed) run, which starts again at its peak learning rate (LEARNING_RATE in logs that name none)."""
    runs: list[list[dict]] = []
    for entry in history:
        peak = entry.get("peak_learning_rate", LEARNING_RATE)
        starts = not runs or (
            entry.get("annealed") and (not runs[-1][-1].get("annealed") or entry.get("learning_rate") == peak)
        )
        if starts:
            runs.append([])
        runs[-1].append(entry)
    return runs


def schedule_text(run: list[dict]) -> str:
    """A resumed run's learning rates as the log keeps them: annealed to (near) zero, or ending higher where the
    run was stopped, or its later epochs dropped, and the next run went on from its last kept epoch."""
    first, last = run[0]["learning_rate"], run[-1]["learning_rate"]
    if last < 0.01 * first:
        return f"cosine-annealed from {first:g} to zero"
    return f"cosine-annealed from {first:g} (the next run went on from its last epoch here, at {last:.2g})"


def peak_flag(entry: dict) -> str:
    peak = entry.get("peak_learning_rate", LEARNING_RATE)
    return f" --peak-learning-rate {peak:g}" if peak != LEARNING_RATE else ""


def growth_text(entry: dict) -> str:
    """How the network of a run's first epoch was grown from the one before, for the manifest ("" if it was not)."""
    if "widened_from" in entry:  # logs from before vqa_growth recorded the whole architecture
        return f" with g widened from {entry['widened_from']} to {entry['g_units'][0]} units (Net2WiderNet)"
    old = entry.get("grown_from")
    if not old:
        return ""
    changes = []
    if old["g_units"] != entry["g_units"]:
        changes.append(f"g widened from {old['g_units']} to {entry['g_units']} units (Net2WiderNet)")
    if old["f_units"] != entry["f_units"]:
        changes.append(
            f"f grown from {' x '.join(map(str, old['f_units']))} to "
            f"{' x '.join(map(str, entry['f_units']))} units"
        )
    if old["input_channels"] != entry["input_channels"]:
        changes.append("pixel coordinates added to the CNN's input (CoordConv)")
    return " with " + " and ".join(changes)


def metric_text(figures: dict) -> str:
    return (
        f"Sort-of-CLEVR test ({figures['scenes']} scenes, {figures['questions']} questions): "
        f"non-relational {figures['non-relational']:.4f}, relational {figures['relational']:.4f}, "
        f"counting {figures['counting']:.4f}"
    )


def _history_path(name: str) -> pathlib.Path:
    return (PROJECT_ASSETS / WEIGHTS[name]).with_suffix(".history.json")


def history(name: str) -> list[dict]:
    """The committed training curve (per epoch), or [] before the first training."""
    path = _history_path(name)
    return json.loads(path.read_text()) if path.exists() else []


# --- named configs: "default" (the constants above) and the runs of the committed weights ---------------------
# Each run's settings as they stood when it ran (docs/models/vqa-*.md; the history files log them per epoch):
# `python -m engine configs vqa-relation-network` prints the commands that replay the committed weights.
_RN = "vqa-relation-network"
_EVERY_KIND_ALIKE = {kind: 1.0 for kind in KIND_WEIGHTS}
for _name in WEIGHTS:
    configs.register(_name, configs.DEFAULT, VQAConfig(DEFAULT_EPOCHS[_name]))
configs.register(
    "vqa-cnn-lstm",
    "run1",
    VQAConfig(100, kind_weights=_EVERY_KIND_ALIKE),
    note="every kind asked alike (dd5459d: questions drawn uniformly from the table); the last "
    "checkpoint kept by validation",
)
_RN_FIRST = VQAConfig(
    480, kind_weights=_EVERY_KIND_ALIKE, g_units=(64, 64, 64), f_units=(128,), pixel_coordinates=False
)
configs.register(
    _RN,
    "run1",
    _RN_FIRST,
    note="learning rate 1e-3 held; trained in stages to 83, 330 and 480 epochs (68fcd24, 00de3c2, "
    "5161c5f), Adam's moments restarted at each",
)
configs.register(
    _RN,
    "run2",
    dataclasses.replace(_RN_FIRST, epochs=600),
    resumes="run1",
    note="cosine from 1e-3 over epochs 481-600 (bd91bef); the next run goes on from its best epoch, 576",
)
_RN_WIDER = dataclasses.replace(
    _RN_FIRST, epochs=736, g_units=(128, 128, 128), kind_weights=dict(KIND_WEIGHTS), resume_from="best"
)
configs.register(
    _RN,
    "run3",
    _RN_WIDER,
    resumes="run2",
    note="g widened 3 x 64 -> 3 x 128 (Net2WiderNet, 91968ed), closest / furthest asked 3x as often "
    "(02a9e56), cosine from 1e-3 to zero",
)
_RN_GROWN = dataclasses.replace(
    _RN_WIDER, epochs=936, f_units=(256, 256), pixel_coordinates=True, resume_from="last"
)
configs.register(
    _RN,
    "run4",
    _RN_GROWN,
    resumes="run3",
    note="f grown to 256, 256 and pixel coordinates added (CoordConv, 2f3dc42), from run 3's last epoch "
    "736; the next run goes on from its best epoch, 871",
)
configs.register(
    _RN,
    "run5",
    dataclasses.replace(
        _RN_GROWN, epochs=1006, resume_learning_rate=5e-4, resume_from="best", stop_after_epoch=924
    ),
    resumes="run4",
    note="cosine from 5e-4 (92a8131), stopped after epoch 924 at 3.4e-4 (38d524e)",
)
configs.register(
    _RN,
    "run6",
    dataclasses.replace(_RN_GROWN, epochs=985, resume_learning_rate=3.4e-4),
    resumes="run5",
    note="cosine from 3.4e-4 to zero over epochs 925-985; epoch 955 committed (38d524e)",
)
