"""The text CNN: committed weights, evidence, input limits, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput
from engine.data import text as text_data
from engine.text import sentiment as text
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def loaded():
    return registry.load(text.MODEL_NAME)


def test_committed_model_beats_chance_by_a_wide_margin(loaded):
    splits = text_data.load_tweets()
    classifier = loaded.model
    ids = text_data.pad(
        [classifier.vocabulary.encode(tokens) for tokens in splits.tokens["test"]], classifier.sequence_length
    )
    predicted = classifier.model.predict(ids, batch_size=500, verbose=0).argmax(axis=-1)
    accuracy = float((predicted == splits.targets["test"]).mean())
    majority = np.bincount(splits.targets["test"]).max() / len(splits.targets["test"])
    assert len(splits.targets["test"]) > 3000
    assert accuracy > majority + 0.2, (accuracy, majority)
    for index in range(3):  # every class is predicted well above its chance rate
        assert (predicted[splits.targets["test"] == index] == index).mean() > 0.5


@pytest.mark.parametrize(
    "sentence, label",
    [
        ("I love this airline, the crew was wonderful and so friendly. Thank you!", "positive"),
        ("Worst flight ever. Rude staff, lost my bag, terrible service. I hate this.", "negative"),
        ("Great job @united, best customer service, amazing!", "positive"),
        ("My flight was cancelled and nobody helps, this is awful", "negative"),
    ],
)
def test_clearly_worded_examples(loaded, sentence, label):
    result = text.sentiment(sentence, loaded)
    assert result.label == label, result.probabilities
    assert result.probabilities[label] > 0.6


def test_probabilities_and_evidence_come_from_the_input(loaded):
    sentence = "The crew was rude and the food was awful, never again"
    result = text.sentiment(sentence, loaded)
    assert list(result.probabilities) == ["negative", "neutral", "positive"]
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert 1 <= len(result.evidence) <= text.EVIDENCE_FILTERS
    weights = [abs(item.weight) for item in result.evidence]
    assert weights == sorted(weights, reverse=True)
    for item in result.evidence:
        assert item.ngram == sentence[item.start : item.end] and item.ngram in sentence
        assert 0 <= item.filter < text.FILTERS
        assert 1 <= len(text_data.token_strings(item.ngram)) <= text.KERNEL_WIDTH
    assert result.evidence[0].weight > 0  # the strongest filter speaks for the label


def test_evidence_weights_explain_the_decision(loaded):
    """Removing the top evidence window from the text lowers the predicted label's probability."""
    sentence = "Thank you so much, the flight was great and the crew was lovely"
    result = text.sentiment(sentence, loaded)
    top = result.evidence[0]
    without = text.sentiment(sentence[: top.start] + sentence[top.end :], loaded)
    assert without.probabilities[result.label] < result.probabilities[result.label]


def test_json_shape(loaded):
    payload = text.sentiment("what a lovely day", loaded).to_json()
    assert {"model", "label", "probabilities", "evidence"} <= set(payload)
    assert set(payload["evidence"][0]) == {"ngram", "filter", "weight"}
    json.dumps(payload)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("😀 🎉 ...", "no words"),
        ("ok \udcff", "not UTF-8"),
    ],
)
def test_bad_text_is_refused_clearly(loaded, bad, message):
    with pytest.raises(InvalidInput, match=message):
        text.sentiment(bad, loaded)


def test_huge_text_is_cut_with_a_notice(loaded):
    huge = ("the service was terrible and slow. " * 30_000)[:1_000_000]
    result = text.sentiment(huge, loaded)
    assert len(result.text) == text_data.MAX_TEXT_CHARS
    assert "1,000,000 characters" in result.notice and "10,000" in result.notice
    assert result.label == "negative"
    assert all(item.end <= text_data.MAX_TEXT_CHARS for item in result.evidence)


def test_non_utf8_bytes_are_refused_with_the_position():
    with pytest.raises(InvalidInput, match="not UTF-8.*0xff at position 5"):
        text_data.decode_text(b"hello\xff world")
    assert text_data.decode_text("caf\u00e9".encode("utf-8")) == "caf\u00e9"
    with pytest.raises(InvalidInput, match="limit is 10 MB"):
        text_data.decode_text(b"a" * (text_data.MAX_TEXT_BYTES + 1))


def test_float16_weights_on_disk_are_small():
    weights = registry.PROJECT_ASSETS / text.WEIGHTS_FILE
    assert weights.stat().st_size < 5_000_000
    with np.load(weights) as stored:
        assert {stored[name].dtype for name in stored.files} == {np.dtype(np.float16)}


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_cli_sentiment_json():
    result = run_cli("sentiment", "I absolutely love this, thank you!", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == "text-cnn" and payload["label"] == "positive"
    assert set(payload["probabilities"]) == {"negative", "neutral", "positive"}
    assert all(item["ngram"] in "I absolutely love this, thank you!" for item in payload["evidence"])


def test_cli_refuses_non_utf8_and_empty_input_in_one_line(tmp_path):
    latin1 = tmp_path / "review.txt"
    latin1.write_bytes("tr\u00e8s bien, merci".encode("latin-1"))
    for result in (
        run_cli("sentiment", "--file", str(latin1), "--json"),
        run_cli("sentiment", "", "--json"),
        run_cli("sentiment", "-", "--json", stdin=b"\xfe\xff\x00"),
    ):
        assert result.returncode == 2 and result.stdout == b""
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), lines


@pytest.mark.slow
def test_cli_reads_a_megabyte_from_stdin_with_a_notice():
    result = run_cli("sentiment", "-", "--json", stdin=b"awful delay, rude staff. " * 42_000)
    assert result.returncode == 0, result.stderr
    assert b"notice: The text has 1,050,000 characters" in result.stderr
    assert json.loads(result.stdout)["notice"].startswith("The text has 1,050,000")


@pytest.mark.training
def test_a_tiny_run_on_the_trainer_scores_its_best_epoch_and_promotes(tmp_path, monkeypatch, assets_dir):
    from engine.core import manifest, runs
    from engine.text import train as text_training

    prepare = text_training.prepare_tweets
    monkeypatch.setattr(text_training, "prepare_tweets", lambda: prepare(train_limit=600))
    figures = text_training.train_text_cnn(epochs=2, run="tiny")
    best = max(figures["epochs"], key=lambda epoch: epoch["val_accuracy"])
    assert figures["kept_epoch"] == best["epoch"] and len(figures["epochs"]) == 2
    assert figures["cnn"]["validation"]["accuracy"] == pytest.approx(
        best["val_accuracy"], abs=2e-3
    )  # float16
    assert not any(assets_dir.iterdir())
    promoted = runs.promote("text-cnn", "tiny")
    assert promoted["files"] == [text.WEIGHTS_FILE, text.VOCABULARY_FILE, "text_cnn/evaluation.json"]
    assert manifest.entries()[text.WEIGHTS_FILE]["how"] == "python -m engine train text-cnn --epochs 2"
