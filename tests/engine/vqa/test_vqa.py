"""The two VQA models with their committed weights: accuracy by question type, answers, CLI, training."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from engine.core import registry
from engine.core.errors import InvalidInput, ModelUnavailable
from engine.data import sort_of_clevr
from engine.vqa import api as vqa
from engine.vqa import evaluation as vqa_evaluation
from engine.vqa import train as vqa_training
from tests.conftest import ROOT, encode

SUBSET_SCENES = 30  # test scenes 0..29 x 36 questions = 1,080 questions
# Measured with the committed weights on that subset (vqa_evaluation.accuracy_by_type(model, "test", 30)):
MEASURED = {
    "vqa-cnn-lstm": {"non-relational": 0.7000, "relational": 0.7083, "counting": 0.8278},
    "vqa-relation-network": {
        "non-relational": 1.0000,
        "relational": 0.9306,
        "counting": 1.0000,
    },  # symmetric views
}
MARGIN = 0.03


@pytest.fixture(scope="module")
def models():
    return {name: registry.load(name).model for name in vqa.MODELS}


@pytest.mark.slow
@pytest.mark.parametrize("name", vqa.MODELS)
def test_committed_weights_reach_the_measured_accuracy(models, name):
    figures = vqa_evaluation.accuracy_by_type(models[name], "test", SUBSET_SCENES)
    assert figures["questions"] == SUBSET_SCENES * 36
    for kind_type, measured in MEASURED[name].items():
        assert figures[kind_type] >= measured - MARGIN, (kind_type, figures)


def test_relation_network_reports_pair_weights(models):
    item = sort_of_clevr.scene("test", 0)
    result = vqa.ask(
        "vqa-relation-network", models["vqa-relation-network"], item.image, sort_of_clevr.EXAMPLES[0]
    )
    assert result.pair_weights.shape == (25, 25) and np.isfinite(result.pair_weights).all()
    assert abs(sum(result.probabilities.values()) - 1) < 1e-3 and result.answer in sort_of_clevr.ANSWERS
    pairs = result.top_pairs(3)
    assert (
        pairs[0].weight >= pairs[1].weight >= pairs[2].weight and pairs[0].weight == result.pair_weights.max()
    )
    plain = vqa.ask("vqa-cnn-lstm", models["vqa-cnn-lstm"], item.image, sort_of_clevr.EXAMPLES[0])
    assert plain.pair_weights is None and plain.top_pairs() == []


@pytest.mark.parametrize(
    "text,message", [("", "Type a question"), ("is the purple object round", "Unknown words")]
)
def test_bad_questions_get_clear_errors(models, text, message):
    with pytest.raises(InvalidInput, match=message):
        vqa.ask("vqa-cnn-lstm", models["vqa-cnn-lstm"], sort_of_clevr.scene("test", 0).image, text)


def test_truth_follows_the_templates():
    objects = sort_of_clevr.scene("test", 1).objects
    red = next(item for item in objects if item.colour == "red")
    assert vqa.truth(objects, "What shape is the red object?") == red.shape
    assert vqa.truth(objects, "is the red object red") is None


@pytest.mark.slow
def test_cli_answers_an_image_file_as_json(models, tmp_path):
    item = sort_of_clevr.scene("test", 2)
    big = np.kron(item.image, np.ones((4, 4, 1), np.uint8))  # 300 px: resized back to 75 by the CLI
    path = tmp_path / "scene.png"
    path.write_bytes(encode(big, "PNG"))
    question = "how many objects have the same shape as the blue object?"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "vqa", str(path), question, "--model", "vqa-cnn-lstm", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert set(output) == {"model", "answer", "probabilities"} and output["model"] == "vqa-cnn-lstm"
    assert list(output["probabilities"]) == list(sort_of_clevr.ANSWERS)
    expected = vqa.ask("vqa-cnn-lstm", models["vqa-cnn-lstm"], item.image, question)
    assert output["answer"] == expected.answer
    refused = subprocess.run(
        [sys.executable, "-m", "engine", "vqa", str(path), "what colour is it", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "Unknown words" in refused.stderr and "Traceback" not in refused.stderr


def test_trainers_and_evaluators_are_registered():
    for name in vqa.MODELS:
        assert registry.get_trainer(name) and registry.get_evaluator(name)
        assert registry.get_spec(name).task == "vqa"


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Runs in a temporary folder, and no old cache for --resume to find."""
    from engine.core import runs

    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path / "runs"))
    monkeypatch.setattr(vqa_training, "CHECKPOINTS", tmp_path / "no-cache")
    return tmp_path / "runs"


@pytest.mark.training
def test_one_training_step_runs_and_writes_nothing(runs):
    before = (ROOT / "assets" / "vqa" / "relation_network.npz").read_bytes()
    result = vqa_training.train(
        "vqa-relation-network", epochs=1, max_batches=1, train_scenes=8, validation_scenes=2
    )
    assert len(result["history"]) == 1 and np.isfinite(result["history"][0]["loss"])
    assert (
        result["history"][0]["learning_rate"] == vqa_training.LEARNING_RATE
        and not result["history"][0]["annealed"]
    )
    assert (ROOT / "assets" / "vqa" / "relation_network.npz").read_bytes() == before and not runs.exists()


@pytest.mark.training
def test_resume_from_the_committed_weights_goes_on_from_the_epoch_they_hold(runs):
    name = "vqa-relation-network"
    vqa_training.train(name, epochs=1, max_batches=1, train_scenes=8, validation_scenes=2, resume=True)
    committed = vqa_training.history(name)
    marked = [entry for entry in committed if entry.get("committed")]
    assert len(marked) == 1  # finalizing marks the epoch whose weights it committed
    (run,) = (runs / name).iterdir()
    seeded = json.loads((run / "history.json").read_text())
    assert seeded == committed[: marked[0]["epoch"]] and seeded[-1]["committed"]
    assert (run / "last.npz").read_bytes() == (ROOT / "assets" / "vqa" / "relation_network.npz").read_bytes()


@pytest.mark.training
def test_a_resumed_run_anneals_from_its_peak_and_promotes_the_marked_log(runs, monkeypatch):
    monkeypatch.setattr(vqa_training, "VALIDATION_SCENES", 2)
    monkeypatch.setattr(vqa_training, "RECALIBRATION_IMAGES", 8)
    monkeypatch.setattr(vqa_training, "STEPS_PER_EPOCH", 1)
    monkeypatch.setattr(
        vqa_training.VQATask,
        "evaluate",
        lambda self, weights: {
            "scenes": 0,
            "questions": 0,
            "non-relational": 0.0,
            "relational": 0.0,
            "counting": 0.0,
        },
    )
    name = "vqa-cnn-lstm"
    first = vqa_training.train(name, epochs=2, train_scenes=8, validation_scenes=2)
    assert [entry["learning_rate"] for entry in first["history"]] == [vqa_training.LEARNING_RATE] * 2
    resumed = vqa_training.train(
        name, epochs=4, train_scenes=8, validation_scenes=2, resume=True, peak_learning_rate=5e-4
    )
    assert resumed["run"] == first["run"] and [entry["epoch"] for entry in resumed["history"]] == [1, 2, 3, 4]
    rates = [entry["learning_rate"] for entry in resumed["history"][2:]]
    assert (
        rates == [vqa_training.annealed_learning_rate(epoch, 2, 5e-4) for epoch in range(2)]
        and rates[0] == 5e-4
    )
    run = pathlib.Path(resumed["run"])
    outputs = json.loads((run / "run.json").read_text())["outputs"]
    assert [output["asset"] for output in outputs] == [
        vqa_training.WEIGHTS[name],
        "vqa/cnn_lstm.history.json",
    ]
    assert outputs[0]["how"].startswith(
        f"python -m engine train {name} --epochs 2, then --resume "
        "--peak-learning-rate 0.0005 (epochs 3-4 kept)"
    )
    promoted = json.loads((run / "committed.history.json").read_text())
    assert sum(bool(entry.get("committed")) for entry in promoted) == 1


def test_a_resumed_run_anneals_the_learning_rate_to_zero():
    rates = [vqa_training.annealed_learning_rate(epoch, 120) for epoch in range(120)]
    assert rates[0] == vqa_training.LEARNING_RATE and all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[60] == pytest.approx(vqa_training.LEARNING_RATE / 2) and 0 < rates[-1] < 1e-6
    lower = [vqa_training.annealed_learning_rate(epoch, 120, peak=5e-4) for epoch in range(120)]
    assert lower[0] == 5e-4 and np.allclose(lower, np.array(rates) / 2)


def test_a_peak_learning_rate_needs_a_resumed_run():
    with pytest.raises(InvalidInput, match="--resume"):
        vqa_training.train(
            "vqa-relation-network",
            epochs=1,
            max_batches=1,
            train_scenes=8,
            validation_scenes=2,
            peak_learning_rate=5e-4,
        )


def test_growing_the_relation_network_keeps_its_answers_and_breaks_the_copies_apart(tmp_path, monkeypatch):
    from engine.core import weights_io
    from engine.vqa import growth as vqa_growth
    from engine.vqa import models as vqa_models

    monkeypatch.setattr(vqa_models, "G_UNITS", (8, 8, 8))
    monkeypatch.setattr(vqa_models, "F_UNITS", (6,))
    monkeypatch.setattr(vqa_models, "PIXEL_COORDINATES", False)
    small = vqa_models.build("vqa-relation-network")  # random weights: growing must reproduce any function
    weights_io.save_float16(small, tmp_path / "small.npz", dtype=np.float32)
    assert vqa_growth.stored_architecture(tmp_path / "small.npz") == {
        "g_units": 8,
        "f_units": [6],
        "input_channels": 3,
    }
    images, tokens, _, _ = vqa_evaluation.question_set("validation", 0, 2)
    before = vqa_models.probabilities(small, images, tokens)
    monkeypatch.setattr(vqa_models, "G_UNITS", (20, 20, 20))
    monkeypatch.setattr(vqa_models, "F_UNITS", (10, 12))
    monkeypatch.setattr(vqa_models, "PIXEL_COORDINATES", True)
    exact, noisy = vqa_models.build("vqa-relation-network"), vqa_models.build("vqa-relation-network")
    vqa_growth.grow(exact, tmp_path / "small.npz", np.random.default_rng(0), noise=0.0)
    vqa_growth.grow(noisy, tmp_path / "small.npz", np.random.default_rng(0))
    assert vqa_growth.architecture(vqa_growth.model_arrays(exact)) == {
        "g_units": 20,
        "f_units": [10, 12],
        "input_channels": 5,
    }
    assert np.abs(vqa_models.probabilities(exact, images, tokens) - before).max() < 1e-5
    assert np.abs(vqa_models.probabilities(noisy, images, tokens) - before).max() < 0.05
    kernel = noisy.get_layer("head").get_layer("g2").get_weights()[0]  # (20, 20): 12 copied units
    assert kernel.shape == (20, 20) and len({tuple(np.round(column, 6)) for column in kernel.T}) == 20
    f2 = (
        exact.get_layer("head").get_layer("f2").get_weights()[0]
    )  # new layer: the identity on f1's 6 old units
    assert np.array_equal(f2[:6, :6], np.eye(6)) and not f2[6:, :6].any() and f2[:, 6:].any()
    conv1 = exact.get_layer("visual").get_layer("cnn").get_layer("conv1").get_weights()[0]
    assert conv1.shape[2] == 5 and not conv1[:, :, 3:].any()  # the coordinate channels start unread
    with pytest.raises(ModelUnavailable):  # a smaller network cannot take a larger one's weights
        monkeypatch.setattr(vqa_models, "F_UNITS", (4,))
        vqa_growth.grow(
            vqa_models.build("vqa-relation-network"), tmp_path / "small.npz", np.random.default_rng(0)
        )


def test_the_manifest_says_how_a_run_grew_the_network():
    entry = {
        "g_units": 128,
        "f_units": [256, 256],
        "input_channels": 5,
        "grown_from": {"g_units": 128, "f_units": [128], "input_channels": 3},
    }
    assert vqa_training.growth_text(entry) == (
        " with f grown from 128 to 256 x 256 units and pixel coordinates added to the CNN's input (CoordConv)"
    )
    assert vqa_training.growth_text({"widened_from": 64, "g_units": [128] * 3}) == (
        " with g widened from 64 to 128 units (Net2WiderNet)"
    )
    assert vqa_training.growth_text({"g_units": 128}) == ""


def test_the_log_splits_into_the_runs_that_made_it():
    rate = vqa_training.LEARNING_RATE
    history = (
        [{"epoch": epoch} for epoch in (1, 2)]
        + [
            {"epoch": 3, "annealed": True, "learning_rate": rate},
            {"epoch": 4, "annealed": True, "learning_rate": rate / 2},
        ]
        + [{"epoch": 5, "annealed": True, "learning_rate": rate, "widened_from": 64}]
        + [
            {"epoch": epoch, "annealed": True, "learning_rate": lr, "peak_learning_rate": rate / 2}
            for epoch, lr in ((6, rate / 2), (7, rate / 4), (8, rate / 2))
        ]
    )
    runs = vqa_training.training_runs(history)
    assert [[entry["epoch"] for entry in run] for run in runs] == [[1, 2], [3, 4], [5], [6, 7], [8]]
    assert vqa_training.peak_flag(
        runs[3][0]
    ) == " --peak-learning-rate 0.0005" and not vqa_training.peak_flag(runs[2][0])
    assert vqa_training.schedule_text(runs[3]) == (
        "cosine-annealed from 0.0005 (the next run went on from its last epoch here, at 0.00025)"
    )
    assert vqa_training.schedule_text([{"learning_rate": rate}, {"learning_rate": rate * 1e-4}]) == (
        "cosine-annealed from 0.001 to zero"
    )


def test_the_relation_network_averages_each_answer_over_its_invariant_views(models):
    from engine.vqa import models as vqa_models

    images = np.repeat(sort_of_clevr.scene("test", 1).image[None], 2, axis=0)
    tokens = np.stack(
        [sort_of_clevr.tokenize(sort_of_clevr.EXAMPLES[4]), sort_of_clevr.tokenize(sort_of_clevr.EXAMPLES[1])]
    )  # furthest, left
    model = models["vqa-relation-network"]
    averaged = vqa_models.answer_probabilities(model, images, tokens)
    for row, views in enumerate((sort_of_clevr.VIEWS, sort_of_clevr.INVARIANT_VIEWS["left"])):
        expected = np.mean(
            [
                vqa_models.probabilities(
                    model, sort_of_clevr.view(images[row : row + 1], which), tokens[row : row + 1]
                )[0]
                for which in views
            ],
            axis=0,
        )
        assert np.allclose(averaged[row], expected, atol=1e-5)
    answer = vqa.ask("vqa-relation-network", model, images[0], sort_of_clevr.EXAMPLES[4])
    assert np.allclose(list(answer.probabilities.values()), averaged[0], atol=1e-5)
    plain = models["vqa-cnn-lstm"]  # chosen on validation: no views for the CNN + LSTM
    assert np.allclose(
        vqa_models.answer_probabilities(plain, images, tokens),
        vqa_models.probabilities(plain, images, tokens),
    )


def test_training_asks_each_kind_as_often_as_its_weight():
    shares = vqa_training.question_probabilities(
        {"shape": 1.0, "left": 1.0, "top": 1.0, "closest": 3.0, "furthest": 3.0, "count": 1.0}
    )
    kinds = np.array([question.kind for question in sort_of_clevr.QUESTION_TABLE])
    assert shares.sum() == pytest.approx(1.0)
    assert shares[kinds == "furthest"].sum() == pytest.approx(0.3) and shares[
        kinds == "shape"
    ].sum() == pytest.approx(0.1)
    assert np.allclose(
        vqa_training.question_probabilities({kind: 1.0 for kind in sort_of_clevr.KINDS}), 1 / len(kinds)
    )
