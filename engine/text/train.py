"""Training and measuring the text CNN, and the baseline it is measured against.

`TrainingRun` trains one epoch per call, so the page can draw the curves between epochs and stop
between them, and the CLI trainer can keep the epoch that scored best on the validation split.
The baseline is TF-IDF over the same tokens (words and word pairs) + logistic regression, its C
chosen on the same validation split; both are scored on the same test split.

`python -m engine train text-cnn` trains on the one Trainer (engine/core/training.py) into
runs/text-cnn/RUN/; `python -m engine promote text-cnn RUN` writes `assets/text_cnn/` and records it in the
manifest; `python -m engine eval text-cnn` measures the committed files now. `python -m engine train
imdb-cnn` is the chapter's own experiment (IMDB, binary); it needs a network and saves nothing.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from engine.core import configs, progress, registry, runs, schedules, training
from engine.core.errors import InvalidInput
from engine.data import text as text_data
from engine.text import sentiment

MAX_EPOCHS = 20  # The chapter's EPOCHS; the page allows fewer
BATCH_SIZES = (32, 64, 128, 256, 500)  # 500 is the chapter's BATCH_SIZE
TWEETS_EPOCHS, TWEETS_BATCH_SIZE = 4, 128  # The committed weights' schedule (best epoch kept)
IMDB_EPOCHS, IMDB_BATCH_SIZE = 3, 500
BASELINE_C_GRID = (1.0, 2.0, 4.0, 8.0)  # Inverse regularization strengths tried on validation
SEED = 42


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """A corpus as padded id arrays, with the vocabulary that made them."""

    splits: text_data.TextSplits
    vocabulary: text_data.Vocabulary
    arrays: dict[str, np.ndarray]  # split -> (examples, sequence_length) int32
    sequence_length: int
    padding: str  # "post" for tweets, "pre" for IMDB as in the chapter


def prepare_tweets(train_limit: int | None = None) -> PreparedData:
    """The tweets as the committed model sees them; `train_limit` keeps the first N training tweets."""
    splits = text_data.load_tweets()
    if train_limit is not None:
        splits = dataclasses.replace(
            splits,
            tokens={**splits.tokens, "train": splits.tokens["train"][:train_limit]},
            targets={**splits.targets, "train": splits.targets["train"][:train_limit]},
        )
    vocabulary = text_data.Vocabulary.build(splits.tokens["train"], sentiment.VOCABULARY_SIZE)
    arrays = {
        split: text_data.pad(
            [vocabulary.encode(tokens) for tokens in token_lists], sentiment.TWEET_SEQUENCE_LENGTH
        )
        for split, token_lists in splits.tokens.items()
    }
    return PreparedData(splits, vocabulary, arrays, sentiment.TWEET_SEQUENCE_LENGTH, "post")


def prepare_imdb(num_words: int = sentiment.VOCABULARY_SIZE) -> PreparedData:
    """The chapter's IMDB set, padded to 200 ids in front as `pad_sequences` does (needs a network)."""
    splits, vocabulary = text_data.load_imdb(num_words)
    arrays = {
        split: text_data.pad(
            [[int(index) for index in tokens] for tokens in token_lists],
            text_data.IMDB_SEQUENCE_LENGTH,
            padding="pre",
        )
        for split, token_lists in splits.tokens.items()
    }
    return PreparedData(splits, vocabulary, arrays, text_data.IMDB_SEQUENCE_LENGTH, "pre")


def scores(targets: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(targets, predicted)), 4),
        "macro_f1": round(float(f1_score(targets, predicted, average="macro")), 4),
    }


@dataclasses.dataclass(frozen=True)
class EpochFigures:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    stopped: bool  # the epoch ended early because should_stop() said so


class TrainingRun:
    """The chapter's CNN trained from scratch on prepared data, one epoch per `run_epoch` call."""

    def __init__(self, data: PreparedData, batch_size: int, seed: int = SEED):
        if batch_size not in BATCH_SIZES:
            raise InvalidInput(
                f"Batch size must be one of {', '.join(map(str, BATCH_SIZES))}, not {batch_size}."
            )
        import keras

        keras.utils.set_random_seed(seed)
        self.data, self.batch_size = data, batch_size
        self.model = sentiment.build_model(data.vocabulary.size, len(data.splits.labels))
        self.history: list[EpochFigures] = []

    def run_epoch(
        self,
        on_progress: progress.ProgressCallback = progress.no_progress,
        should_stop: progress.StopCheck = progress.never_stop,
    ) -> EpochFigures:
        """Train one more epoch, reporting every few batches; stop between batches when asked."""
        import keras

        steps = -(-len(self.data.arrays["train"]) // self.batch_size)
        epoch = len(self.history) + 1
        stopped = False

        class Report(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                nonlocal stopped
                if should_stop():
                    stopped = True
                    self.model.stop_training = True
                if batch % 10 == 0 or batch + 1 == steps:
                    on_progress(
                        (batch + 1) / steps,
                        f"Epoch {epoch}: batch {batch + 1} of {steps}, loss {logs['loss']:.3f}",
                    )

        started = time.perf_counter()
        fit = self.model.fit(
            self.data.arrays["train"],
            self.data.splits.targets["train"],
            batch_size=self.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
            callbacks=[Report()],
        )
        val_loss, val_accuracy = self.model.evaluate(
            self.data.arrays["validation"], self.data.splits.targets["validation"], batch_size=500, verbose=0
        )
        figures = EpochFigures(
            epoch,
            float(fit.history["loss"][-1]),
            float(fit.history["accuracy"][-1]),
            float(val_loss),
            float(val_accuracy),
            time.perf_counter() - started,
            stopped,
        )
        self.history.append(figures)
        return figures

    def classifier(self) -> sentiment.TextClassifier:
        return sentiment.TextClassifier(
            self.model,
            self.data.vocabulary,
            self.data.splits.labels,
            self.data.sequence_length,
            self.data.padding,
        )

    def predict_classes(self, split: str) -> np.ndarray:
        probabilities = self.model.predict(self.data.arrays[split], batch_size=500, verbose=0)
        if probabilities.shape[-1] == 1:
            return (probabilities[:, 0] > 0.5).astype(np.int32)
        return probabilities.argmax(axis=-1)

    def test_scores(self) -> dict[str, float]:
        return scores(self.data.splits.targets["test"], self.predict_classes("test"))


def baseline(splits: text_data.TextSplits) -> dict:
    """TF-IDF (words and word pairs, seen twice or more) + logistic regression, C chosen on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def words_and_pairs(tokens: list[str]) -> list[str]:
        return [*tokens, *(f"{first} {second}" for first, second in zip(tokens, tokens[1:]))]

    vectorizer = TfidfVectorizer(analyzer=words_and_pairs, min_df=2, sublinear_tf=True)
    features = {"train": vectorizer.fit_transform(splits.tokens["train"])}
    features.update({split: vectorizer.transform(splits.tokens[split]) for split in ("validation", "test")})
    best = None
    for strength in BASELINE_C_GRID:
        model = LogisticRegression(C=strength, solver="saga", max_iter=1000, random_state=SEED)
        model.fit(features["train"], splits.targets["train"])
        validation = scores(splits.targets["validation"], model.predict(features["validation"]))
        if best is None or validation["macro_f1"] > best[1]["macro_f1"]:
            best = (strength, validation, model)
    strength, validation, model = best
    return {
        "name": "TF-IDF (words + word pairs) + logistic regression",
        "C": strength,
        "features": int(features["train"].shape[1]),
        "validation": validation,
        "test": scores(splits.targets["test"], model.predict(features["test"])),
    }


def chance(splits: text_data.TextSplits) -> dict:
    test = splits.targets["test"]
    majority = np.bincount(test).argmax()
    return {
        "majority_class": splits.labels[majority],
        "majority_accuracy": round(float((test == majority).mean()), 4),
        "uniform_accuracy": round(1 / len(splits.labels), 4),
    }


def _cnn_figures(run: TrainingRun) -> dict:
    return {
        "validation": scores(run.data.splits.targets["validation"], run.predict_classes("validation")),
        "test": run.test_scores(),
    }


def _checked_epochs(epochs: int) -> int:
    if not 1 <= epochs <= MAX_EPOCHS:
        raise InvalidInput(f"Epochs must be between 1 and {MAX_EPOCHS}, not {epochs}.")
    return epochs


class TextTask(training.Task):
    """A TrainingRun (Keras `fit`, one epoch per call) driven by the Trainer (engine/core/training.py)."""

    monitor = "val_accuracy"
    ties_to_later = False  # a later epoch must beat the best so far

    def __init__(
        self,
        name: str,
        prepare,
        batch_size: int,
        epochs: int,
        keep_best: bool = True,
        on_progress: progress.ProgressCallback = progress.no_progress,
    ):
        self.name, self.prepare, self.batch_size, self.epochs = name, prepare, batch_size, epochs
        self.on_progress = on_progress
        self.unit = "tweets" if name == sentiment.MODEL_NAME else "reviews"
        if not keep_best:  # the chapter's experiment measures its last epoch
            self.monitor = None

    def build_inputs(self, first_epoch: int) -> None:
        self.data = self.prepare()

    def build_model(self) -> list:
        self.run = TrainingRun(self.data, self.batch_size)
        return [self.run.model]

    def build_optimizer(self, learning_rate):
        return self.run.model.optimizer  # sentiment.build_model compiles the chapter's Adam (1e-3)

    def _binary(self) -> bool:
        return self.run.model.output.shape[-1] == 1  # one sigmoid (IMDB) rather than a softmax (tweets)

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` random training texts (token ids) and their targets, as `loss` takes them."""
        index = rng.integers(0, len(self.data.splits.targets["train"]), size)
        targets = self.data.splits.targets["train"][index]
        return self.data.arrays["train"][index].astype(np.int32), targets.astype(
            np.float32 if self._binary() else np.int64
        )

    def loss(self, batch):
        """The loss the model is compiled with (and `fit` minimizes), per text."""
        import keras

        ids, answers = batch
        per_example = keras.losses.get(self.run.model.loss)  # sparse or binary cross-entropy
        return per_example(
            answers[:, None] if self._binary() else answers, self.run.model(ids, training=True)
        )

    def steps_per_epoch(self) -> int:
        return -(-len(self.data.arrays["train"]) // self.batch_size)

    def train_epoch(self, epoch, steps, optimizer, report, should_stop) -> dict[str, float] | None:
        self.latest = self.run.run_epoch(
            lambda fraction, message, preview=None: self.on_progress(
                (epoch + fraction) / self.epochs, message
            ),
            should_stop,
        )
        return {"loss": self.latest.loss, "accuracy": self.latest.accuracy}

    def validate(self) -> dict[str, float]:
        return {"val_loss": self.latest.val_loss, "val_accuracy": self.latest.val_accuracy}

    def evaluate(self, weights) -> dict:
        from engine.core import weights_io

        weights_io.load_float16(self.run.model, weights)  # score what is stored
        self.on_progress(0.99, "Scoring the CNN and the TF-IDF baseline on the test split")
        figures = {
            "model": self.name,
            "data": self.data.splits.counts(),
            "cnn": _cnn_figures(self.run),
            "baseline": baseline(self.data.splits),
            "chance": chance(self.data.splits),
            "epochs": [dataclasses.asdict(epoch) for epoch in self.run.history],
        }
        if self.monitor is None:
            return figures
        return {
            "model": self.name,
            "data": figures["data"],
            "dropped": self.data.splits.dropped,
            **{key: figures[key] for key in ("cnn", "baseline", "chance", "epochs")},
            "kept_epoch": max(
                (epoch for epoch in self.run.history if not epoch.stopped),
                key=lambda epoch: epoch.val_accuracy,
            ).epoch,
            "batch_size": self.batch_size,
        }

    def outputs(self, run: runs.Run, figures: dict, history: list[dict], epochs: int) -> list[runs.Output]:
        if self.monitor is None:  # the chapter's experiment saves nothing
            return []
        sentiment.save_weights(self.run.model, run.path / "text_cnn.npz")  # the float16 values just measured
        text_data.save_vocabulary(
            self.data.vocabulary,
            run.path / "vocabulary.json",
            {
                "labels": list(self.data.splits.labels),
                "sequence_length": self.data.sequence_length,
                "embedding_dim": sentiment.EMBEDDING_DIM,
                "tokenizer": "engine.data.text.tokenize",
            },
        )
        (run.path / "evaluation.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        metric = (
            f"test accuracy {figures['cnn']['test']['accuracy']}, macro F1 {figures['cnn']['test']['macro_f1']} "
            f"(baseline TF-IDF+LR {figures['baseline']['test']['accuracy']} / "
            f"{figures['baseline']['test']['macro_f1']})"
        )
        how = f"python -m engine train {sentiment.MODEL_NAME} --epochs {epochs}"
        return [
            runs.Output(sentiment.WEIGHTS_FILE, "text_cnn.npz", how, metric),
            runs.Output(sentiment.VOCABULARY_FILE, "vocabulary.json", how, metric),
            runs.Output("text_cnn/evaluation.json", "evaluation.json", how, metric),
        ]


def train_text_cnn(
    epochs: int | None = None,
    on_progress: progress.ProgressCallback = progress.no_progress,
    should_stop: progress.StopCheck = progress.never_stop,
    run: str | None = None,
) -> dict:
    """Retrain the committed tweets CNN into runs/text-cnn/RUN/, keep its best validation epoch, store it
    float16 and score it; `python -m engine promote text-cnn RUN` writes assets/text_cnn/ and the manifest."""
    epochs = _checked_epochs(epochs or TWEETS_EPOCHS)
    task = TextTask(sentiment.MODEL_NAME, prepare_tweets, TWEETS_BATCH_SIZE, epochs, on_progress=on_progress)
    return _train(task, epochs, run, on_progress, should_stop)


def _train(
    task: TextTask,
    epochs: int,
    run: str | None,
    on_progress: progress.ProgressCallback,
    should_stop: progress.StopCheck,
) -> dict:
    """Adam at 1e-3 on the one Trainer; the run's figures without its name and log (the task reports them)."""
    result = training.train(
        task,
        epochs,
        schedules.constant(1e-3),
        run=run,
        on_progress=_quiet(on_progress),
        should_stop=should_stop,
    )
    return {key: value for key, value in result.items() if key not in ("name", "history")}


def _quiet(on_progress: progress.ProgressCallback) -> progress.ProgressCallback:
    """The Trainer's end-of-epoch lines only (the task reports the batches itself, counted over all epochs)."""

    def report(fraction: float, message: str, preview=None) -> None:
        if preview is not None:
            on_progress(fraction, message)

    return report


def evaluate_text_cnn() -> dict:
    """The committed CNN and the baseline on the tweets' validation and test splits, measured now."""
    started = time.perf_counter()
    classifier: sentiment.TextClassifier = registry.load(sentiment.MODEL_NAME).model
    splits = text_data.load_tweets()
    predicted = {}
    for split in ("validation", "test"):
        ids = text_data.pad(
            [classifier.vocabulary.encode(tokens) for tokens in splits.tokens[split]],
            classifier.sequence_length,
        )
        predicted[split] = classifier.model.predict(ids, batch_size=500, verbose=0).argmax(axis=-1)
    return {
        "model": sentiment.MODEL_NAME,
        "data": splits.counts(),
        "cnn": {split: scores(splits.targets[split], predicted[split]) for split in predicted},
        "baseline": baseline(splits),
        "chance": chance(splits),
        "seconds": round(time.perf_counter() - started, 1),
    }


def train_imdb_cnn(
    epochs: int | None = None,
    on_progress: progress.ProgressCallback = progress.no_progress,
    should_stop: progress.StopCheck = progress.never_stop,
    run: str | None = None,
) -> dict:
    """The chapter's experiment: the same CNN on IMDB (binary), with the baseline; promotes nothing (its run
    folder, runs/imdb-cnn/RUN/, keeps the checkpoints)."""
    epochs = _checked_epochs(epochs or IMDB_EPOCHS)
    task = TextTask(
        "imdb-cnn", prepare_imdb, IMDB_BATCH_SIZE, epochs, keep_best=False, on_progress=on_progress
    )
    return _train(task, epochs, run, on_progress, should_stop)


# --- named configs (engine/core/configs.py): the tunables are the constants above; "default" is what `train` does
# without --config, and made the committed weights.
configs.register("text-cnn", configs.DEFAULT, configs.TrainerDefaults(TWEETS_EPOCHS))
