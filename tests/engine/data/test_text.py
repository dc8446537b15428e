"""Tokenizer, tweets split, vocabulary, the IMDB loading path, one-epoch training and the baseline."""

import json

import numpy as np
import pytest

from engine.core.errors import InvalidInput
from engine.data import text as text_data
from engine.text import sentiment
from engine.text import train as text_training


def test_tokens_keep_their_spans_and_normalize():
    sentence = "I don’t LOVE it :-) !! see https://t.co/x @united #Fail café"
    tokens = text_data.tokenize(sentence)
    assert [token.text for token in tokens] == [
        "i",
        "don't",
        "love",
        "it",
        ":)",
        "!",
        "!",
        "see",
        "<url>",
        "<user>",
        "fail",
        "café",
    ]
    for token in tokens:
        assert sentence[token.start : token.end].lower().replace("’", "'").replace("-", "") in (
            token.text.lower(),
            "https://t.co/x",
            "@united",
        ) or token.text in ("<url>", "<user>")


def test_tweets_are_cleaned_deduplicated_and_split_for_good():
    splits = text_data.load_tweets()
    counts = splits.counts()
    sizes = {split: sum(per_class.values()) for split, per_class in counts.items()}
    total = sum(sizes.values())
    assert total + sum(splits.dropped.values()) == 38_158
    assert 0.78 < sizes["train"] / total < 0.82 and 0.08 < sizes["test"] / total < 0.12
    seen = [set(map(" ".join, splits.tokens[split])) for split in ("train", "validation", "test")]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert all("\ufffd" not in tweet and "&amp;" not in tweet for tweet in splits.texts["test"])
    assert 0.3 < (splits.targets["train"][:2000] == 0).mean() < 0.55  # shuffled, not sorted by label


def test_vocabulary_round_trip(tmp_path):
    vocabulary = text_data.Vocabulary.build([["a", "b", "a"], ["a", "c", "b"], ["d"]], size=10)
    assert vocabulary.index == {"a": 2, "b": 3} and vocabulary.size == 4  # c and d seen once
    assert vocabulary.encode(["b", "zzz", "a"]) == [3, 1, 2]
    text_data.save_vocabulary(vocabulary, tmp_path / "vocabulary.json", {"labels": ["x"]})
    restored, config = sentiment.load_vocabulary(tmp_path / "vocabulary.json")
    assert restored == vocabulary and config == {"labels": ["x"]}


def test_padding_post_and_pre():
    assert text_data.pad([[5, 6, 7], []], 4).tolist() == [[5, 6, 7, 0], [0, 0, 0, 0]]
    assert text_data.pad([[5, 6, 7], [1, 2, 3, 4, 5]], 4, padding="pre").tolist() == [
        [0, 5, 6, 7],
        [2, 3, 4, 5],
    ]


WORDS = ["the", "movie", "was", "great", "awful", "fun", "boring", "plot"]


@pytest.fixture
def small_imdb(tmp_path, monkeypatch):
    """A 40-review imdb.npz and word index in keras's own format, served instead of a download."""
    import keras.src.datasets.imdb as imdb_module

    word_index = {word: rank for rank, word in enumerate(WORDS, start=1)}  # rank 1 = most frequent
    great, awful = word_index["great"], word_index["awful"]
    random = np.random.default_rng(0)

    def reviews(count):
        labels = np.arange(count) % 2
        sequences = [
            [int(rank) for rank in random.choice([1, 2, 3, 6, 7, 8], size=5)]
            + [great if label else awful] * 2
            for label in labels
        ]  # plain ints, as in IMDB's file
        stored = np.empty(count, dtype=object)
        stored[:] = sequences
        return stored, labels.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = reviews(40), reviews(20)
    np.savez(tmp_path / "imdb.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (tmp_path / "imdb_word_index.json").write_text(json.dumps(word_index))
    requested = []

    def local_file(fname, origin, **options):
        requested.append(origin)
        return str(tmp_path / fname)

    monkeypatch.setattr(imdb_module, "get_file", local_file)
    return requested


def test_imdb_loads_through_keras_datasets_with_the_chapters_padding(small_imdb):
    data = text_training.prepare_imdb(num_words=8)
    assert all(origin.endswith(("imdb.npz", "imdb_word_index.json")) for origin in small_imdb)
    assert data.splits.labels == ("negative", "positive") and data.padding == "pre"
    assert {split: len(array) for split, array in data.arrays.items()} == {
        "train": 36,
        "validation": 4,
        "test": 20,
    }
    assert data.arrays["train"].shape[1] == text_data.IMDB_SEQUENCE_LENGTH
    row = data.arrays["train"][0]
    assert (row[:-8] == 0).all() and row[-8] == 1  # padded in front, then start_char
    assert set(row[-7:]) <= set(range(2, 8))  # words rank+3 below num_words, else oov_char 2
    assert data.vocabulary.encode(["great", "plot", "unknown"]) == [1, 7, 2, 2]  # plot = 8+3 >= 8: OOV
    assert data.vocabulary.encode(["the", "was"]) == [1, 4, 6]


@pytest.mark.training
def test_one_epoch_on_imdb_then_predict_typed_text(small_imdb):
    data = text_training.prepare_imdb(num_words=len(WORDS) + 3)
    run = text_training.TrainingRun(data, batch_size=32)
    figures = run.run_epoch()
    assert figures.epoch == 1 and np.isfinite(figures.loss) and not figures.stopped
    classifier = run.classifier()
    review = "The plot was great, great fun!"
    probabilities, evidence = classifier.predict(review)
    assert probabilities.shape == (2,) and probabilities.sum() == pytest.approx(1.0)
    assert evidence and all(item.ngram in review for item in evidence)
    assert run.test_scores()["accuracy"] >= 0


@pytest.mark.training
def test_should_stop_ends_the_epoch_early_and_batch_size_is_bounded():
    data = text_training.prepare_tweets(train_limit=640)
    run = text_training.TrainingRun(data, batch_size=32)
    reports = []
    figures = run.run_epoch(
        lambda fraction, message, preview=None: reports.append(fraction), should_stop=lambda: True
    )
    assert figures.stopped and reports == [pytest.approx(1 / 20)]
    with pytest.raises(InvalidInput, match="Batch size must be one of"):
        text_training.TrainingRun(data, batch_size=7)


def test_baseline_is_scored_on_the_same_split():
    splits = text_data.load_tweets()
    small = text_data.TextSplits(
        "tweets",
        splits.labels,
        {split: tokens[:1500] for split, tokens in splits.tokens.items()},
        {split: targets[:1500] for split, targets in splits.targets.items()},
    )
    figures = text_training.baseline(small)
    assert figures["C"] in text_training.BASELINE_C_GRID
    assert 0.5 < figures["test"]["accuracy"] <= 1 and 0.4 < figures["test"]["macro_f1"] <= 1
