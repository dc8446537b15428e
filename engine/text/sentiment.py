"""Sentiment of a text with the chapter's 1D CNN, and the n-grams that decided it.

The network is the chapter's ("Sentiment analysis with CNNs", after Kim, "Convolutional Neural
Networks for Sentence Classification", EMNLP 2014): Embedding -> Dropout(0.3) -> Conv1D(256
filters, width 3, ReLU) -> GlobalMaxPooling1D -> Dense(128, ReLU) -> Dropout(0.5) -> output.
Each filter reads every 3-token window and the max-pool keeps its best one, so a filter's pooled
value comes from exactly one window of the input. The evidence we show is those windows: for each
filter, its pooled value times the gradient of the predicted class's centred logit with respect to
it (gradient x input, exact here because the head is piecewise linear); the filters with the
largest such weight decided the label, and their winning windows are highlighted in the text.

Offline default: weights this project trained on the labelled tweets (engine/data/text.py), stored
as float16 in `assets/text_cnn/weights.npz` with the vocabulary in `vocabulary.json`
(`python -m engine train text-cnn` remakes both; `python -m engine eval text-cnn` measures them).
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from engine.core import manifest, registry
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.data import text as text_data

MODEL_NAME = "text-cnn"
WEIGHTS_FILE = "text_cnn/weights.npz"
VOCABULARY_FILE = "text_cnn/vocabulary.json"
EVALUATION_FILE = registry.PROJECT_ASSETS / "text_cnn" / "evaluation.json"  # written by `train`
VOCABULARY_SIZE = 10_000  # The chapter's n_words
EMBEDDING_DIM = 128  # The chapter's 256 halves the file and scores no better on tweets
FILTERS, KERNEL_WIDTH, HIDDEN_UNITS = 256, 3, 128  # The chapter's Conv1D and Dense sizes
TWEET_SEQUENCE_LENGTH = 40  # Tokens per training tweet (the longest cleaned tweet has 38)
EVIDENCE_FILTERS = 5  # How many filters' winning windows to report


def build_model(vocabulary_size: int, classes: int, embedding_dim: int = EMBEDDING_DIM):
    """The chapter's network; a sigmoid unit for two classes (as for IMDB), else a softmax."""
    import keras
    from keras import layers

    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    x = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    x = layers.Dropout(0.3, name="embedding_dropout")(x)
    x = layers.Conv1D(FILTERS, KERNEL_WIDTH, padding="valid", activation="relu", name="conv")(x)
    x = layers.GlobalMaxPooling1D(name="pool")(x)
    x = layers.Dense(HIDDEN_UNITS, activation="relu", name="hidden")(x)
    x = layers.Dropout(0.5, name="hidden_dropout")(x)
    binary = classes == 2
    outputs = layers.Dense(
        1 if binary else classes, activation="sigmoid" if binary else "softmax", name="output"
    )(x)
    model = keras.Model(inputs, outputs, name="text_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@dataclasses.dataclass(frozen=True)
class Evidence:
    ngram: str  # the window's text, exactly as it stands in the input
    filter: int  # Conv1D filter index, 0..255
    weight: float  # its share of the decision: > 0 for the predicted label, < 0 against it
    start: int  # character span of the window in the (possibly truncated) input
    end: int


@dataclasses.dataclass(frozen=True)
class SentimentResult:
    model: str
    source: str  # where the weights came from, in words
    text: str  # the text the model read (cut to MAX_TEXT_CHARS)
    label: str
    probabilities: dict[str, float]  # label -> probability, in the model's class order
    evidence: tuple[Evidence, ...]  # most influential first
    notice: str | None  # set when the input was cut
    ms: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "label": self.label,
            "probabilities": {label: round(value, 6) for label, value in self.probabilities.items()},
            "evidence": [
                {"ngram": item.ngram, "filter": item.filter, "weight": round(item.weight, 6)}
                for item in self.evidence
            ],
            "notice": self.notice,
        }


class TextClassifier:
    """A trained text CNN with its vocabulary: text in, probabilities and evidence out."""

    def __init__(
        self,
        model,
        vocabulary: text_data.Vocabulary,
        labels: tuple[str, ...],
        sequence_length: int,
        padding: str = "post",
    ):
        import keras

        self.model, self.vocabulary, self.labels = model, vocabulary, tuple(labels)
        self.sequence_length, self.padding = sequence_length, padding
        # One call gives the convolution's output (for the windows) and the probabilities.
        self._probe = keras.Model(model.inputs, [model.get_layer("conv").output, model.outputs[0]])
        self._hidden_kernel, self._hidden_bias = model.get_layer("hidden").get_weights()
        self._output_kernel = model.get_layer("output").get_weights()[0]

    def encode(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, position of each id's token in `tokens` or -1), padded to a multiple of the length.

        Longer texts are read whole: the max-pool takes any length, and padding to a multiple of
        `sequence_length` keeps the number of distinct shapes TensorFlow compiles small.
        """
        ids = self.vocabulary.encode(tokens)
        length = max(self.sequence_length, -(-len(ids) // self.sequence_length) * self.sequence_length)
        left = length - len(ids) if self.padding == "pre" else 0
        batch = np.zeros(length, np.int32)
        batch[left : left + len(ids)] = ids
        positions = np.full(length, -1, np.int32)
        positions[left + self.vocabulary.offset : left + len(ids)] = np.arange(len(tokens))
        return batch, positions

    def predict(self, text: str) -> tuple[np.ndarray, list[Evidence]]:
        tokens = text_data.tokenize(text)
        ids, positions = self.encode([token.text for token in tokens])
        conv, output = (np.asarray(value) for value in self._probe.predict_on_batch(ids[None]))
        probabilities = self._probabilities(output[0])
        predicted = int(np.argmax(probabilities))
        activations = conv[0]  # (windows, filters)
        winners = activations.argmax(axis=0)
        pooled = activations.max(axis=0)
        weights = pooled * self._logit_gradient(pooled, predicted)
        evidence = []
        for filter_index in np.argsort(-np.abs(weights)):
            if len(evidence) == EVIDENCE_FILTERS or weights[filter_index] == 0:
                break
            window = [
                int(position)
                for position in positions[winners[filter_index] : winners[filter_index] + KERNEL_WIDTH]
                if position >= 0
            ]
            if not window:  # the window held only padding: nothing in the text to point at
                continue
            start, end = tokens[window[0]].start, tokens[window[-1]].end
            evidence.append(
                Evidence(text[start:end], int(filter_index), float(weights[filter_index]), start, end)
            )
        return probabilities, evidence

    def _probabilities(self, output: np.ndarray) -> np.ndarray:
        output = output.astype(np.float64)
        return np.array([1 - output[0], output[0]]) if len(self.labels) == 2 else output

    def _logit_gradient(self, pooled: np.ndarray, predicted: int) -> np.ndarray:
        """d(centred logit of `predicted`) / d(pooled features), through Dense(ReLU) -> Dense."""
        active = (pooled @ self._hidden_kernel + self._hidden_bias) > 0
        if len(self.labels) == 2:  # one sigmoid logit: positive for class 1, negated for class 0
            direction = self._output_kernel[:, 0] * (1 if predicted == 1 else -1)
        else:
            direction = self._output_kernel[:, predicted] - self._output_kernel.mean(axis=1)
        return self._hidden_kernel @ (direction * active)


def sentiment(text: str, model: registry.LoadedModel | str = MODEL_NAME) -> SentimentResult:
    """Class probabilities of `text` and the windows that decided them.

    Args:
        text: any text; cut to `text_data.MAX_TEXT_CHARS` characters with a notice.
        model: a loaded text model, or the registry name of one (loaded after the text is checked).
    Raises:
        InvalidInput: empty text, no readable word, characters that are not valid Unicode, or a
            model that is not a text model.
        UnknownModel: no model of that name.
        ModelUnavailable: the committed weights are missing or altered.
    """
    text, notice = text_data.prepare_text(text)
    loaded = registry.load(model) if isinstance(model, str) else model
    if not isinstance(loaded.model, TextClassifier):
        raise InvalidInput(f"{loaded.spec.name} is not a text model; use {MODEL_NAME}.")
    classifier: TextClassifier = loaded.model
    started = time.perf_counter()
    probabilities, evidence = classifier.predict(text)
    elapsed_ms = (time.perf_counter() - started) * 1000
    label = classifier.labels[int(np.argmax(probabilities))]
    return SentimentResult(
        loaded.spec.name,
        loaded.source.describe(),
        text,
        label,
        dict(zip(classifier.labels, map(float, probabilities))),
        tuple(evidence),
        notice,
        elapsed_ms,
    )


def save_weights(model, path) -> None:
    """The model's weights as float16 in a compressed .npz (half the bytes, same predictions)."""
    arrays = {f"w{index:02d}": weight.astype(np.float16) for index, weight in enumerate(model.get_weights())}
    np.savez_compressed(path, **arrays)


def load_weights(model, path) -> None:
    with np.load(path, allow_pickle=False) as stored:
        weights = [stored[name].astype(np.float32) for name in sorted(stored.files)]
    try:
        model.set_weights(weights)
    except ValueError as error:
        raise ModelUnavailable(
            f"{path} does not fit the text CNN ({error}); retrain it with "
            f"`python -m engine train {MODEL_NAME}`."
        ) from error


def load_vocabulary(path) -> tuple[text_data.Vocabulary, dict]:
    stored = json.loads(path.read_text(encoding="utf-8"))
    return text_data.Vocabulary.from_tokens(stored.pop("tokens")), stored


def build_committed(spec: registry.ModelSpec, source: registry.WeightSource) -> TextClassifier:
    vocabulary, config = load_vocabulary(manifest.verified(VOCABULARY_FILE))
    model = build_model(vocabulary.size, len(config["labels"]), config["embedding_dim"])
    load_weights(model, manifest.verified(WEIGHTS_FILE))
    return TextClassifier(model, vocabulary, tuple(config["labels"]), config["sequence_length"])


def recorded_evaluation() -> dict | None:
    """The figures `python -m engine train text-cnn` measured for the committed weights."""
    if not EVALUATION_FILE.is_file():
        return None
    return json.loads(EVALUATION_FILE.read_text(encoding="utf-8"))


def metric_summary() -> str:
    """The registry's metric of text-cnn: the figures `train` recorded beside the weights."""
    figures = recorded_evaluation()
    if figures is None:
        return "not measured yet (run `python -m engine eval text-cnn`)"
    cnn, baseline = figures["cnn"]["test"], figures["baseline"]["test"]
    return (
        f"tweets test accuracy {cnn['accuracy']:.3f}, macro F1 {cnn['macro_f1']:.3f} "
        f"(TF-IDF + logistic regression: {baseline['accuracy']:.3f} / {baseline['macro_f1']:.3f})"
    )
