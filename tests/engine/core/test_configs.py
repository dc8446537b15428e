"""Named training configs (engine/core/configs.py): defaults equal to the constants, typed --set overrides,
lineages that replay the committed weights, and the config recorded in run.json and the manifest."""

import importlib
import json
import pathlib
import re

import numpy as np
import pytest

from engine.core import configs, entries, manifest, runs
from engine.core.errors import InvalidInput
from engine.segmentation.unet import evaluation as unet_evaluation
from engine.segmentation.unet import model as unet_model
from engine.segmentation.unet import train as unet_training
from engine.vqa import models as vqa_models
from engine.vqa import train as vqa_training
from tests.conftest import run_cli

TRAINED_HERE = [
    entry for entry in entries.MODELS if entry.train and any(kind == "project" for kind, _ in entry.sources)
]


# --- the defaults are today's constants ---------------------------------------------------------------------


def test_the_unet_default_config_is_the_constants():
    default = configs.get("unet").settings
    assert default == unet_training.UNetConfig()
    assert (default.epochs, default.levels, default.train_scenes, default.resume_train_scenes) == (
        unet_training.DEFAULT_EPOCHS,
        len(unet_model.FILTERS) - 1,
        unet_training.TRAIN_SCENES,
        unet_training.RESUME_TRAIN_SCENES,
    )
    assert (
        default.validation_scenes,
        default.batch_size,
        default.learning_rate,
        default.resume_learning_rate,
    ) == (
        unet_training.VALIDATION_SCENES,
        unet_training.BATCH_SIZE,
        unet_training.LEARNING_RATE,
        unet_training.RESUME_LEARNING_RATE,
    )
    assert (
        default.jaccard_weight,
        default.boundary_weight,
        default.oversampled_labels,
        default.validation_shifts,
    ) == (unet_training.JACCARD_WEIGHT, unet_training.BOUNDARY_WEIGHT, unet_training.OVERSAMPLED_LABELS, True)
    assert default.architecture() == (unet_model.FILTERS, unet_model.COARSE_HEADS)


@pytest.mark.parametrize("name", ["vqa-cnn-lstm", "vqa-relation-network"])
def test_the_vqa_default_configs_are_the_constants(name):
    default = configs.get(name).settings
    assert default == vqa_training.VQAConfig(vqa_training.DEFAULT_EPOCHS[name])
    assert (default.learning_rate, default.resume_learning_rate, default.kind_weights) == (
        vqa_training.LEARNING_RATE,
        vqa_training.LEARNING_RATE,
        vqa_training.KIND_WEIGHTS,
    )
    assert (default.train_scenes, default.validation_scenes) == (
        vqa_training.TRAIN_SCENES,
        vqa_training.VALIDATION_SCENES,
    )
    assert (default.g_units, default.f_units, default.pixel_coordinates) == (
        vqa_models.G_UNITS,
        vqa_models.F_UNITS,
        vqa_models.PIXEL_COORDINATES,
    )
    assert (default.encoders_from_cnn_lstm, default.resume_from, default.stop_after_epoch) == (
        True,
        "last",
        None,
    )


@pytest.mark.parametrize("entry", TRAINED_HERE, ids=lambda entry: entry.command_name)
def test_every_model_trained_here_has_a_default_config_with_its_trainers_epochs(entry):
    settings = configs.get(entry.command_name).settings
    if isinstance(settings, configs.TrainerDefaults) and settings.epochs is not None:
        module = importlib.import_module(entry.train.partition(":")[0])
        default = getattr(module, "DEFAULT_EPOCHS", None) or module.TWEETS_EPOCHS
        assert settings.epochs == default  # so `train NAME` without --config trains as before


# --- --set overrides ------------------------------------------------------------------------------------------


def test_overrides_are_parsed_as_their_fields_types():
    chosen = configs.resolve(
        "unet",
        "cycle0",
        [
            "boundary_weight=3",
            "levels=4",
            'oversampled_labels={"sandal": 1}',
            "validation_shifts=false",
            "epochs=2",
        ],
    )
    settings = chosen.settings
    assert settings.boundary_weight == 3.0 and isinstance(settings.boundary_weight, float)
    assert (settings.levels, settings.oversampled_labels, settings.validation_shifts, settings.epochs) == (
        4,
        {"sandal": 1.0},
        False,
        2,
    )
    assert (
        settings.jaccard_weight == configs.get("unet", "cycle0").settings.jaccard_weight
    )  # the rest as named
    described = chosen.describe()
    assert described["name"] == "cycle0" and described["overrides"] == {
        "boundary_weight": 3.0,
        "levels": 4,
        "oversampled_labels": {"sandal": 1.0},
        "validation_shifts": False,
        "epochs": 2,
    }
    rn = configs.resolve(
        "vqa-relation-network", "run5", ["g_units=[64, 64, 64]", "stop_after_epoch=none"]
    ).settings
    assert rn.g_units == (64, 64, 64) and rn.stop_after_epoch is None
    assert (
        configs.resolve("vqa-relation-network", None, ["stop_after_epoch=7"]).settings.stop_after_epoch == 7
    )


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("nope=1", "unet has no setting 'nope'; its settings: epochs, levels,"),
        ("boundary_weight", "unet has no setting 'boundary_weight'"),  # no '='
        ("boundary_weight=abc", "unet's boundary_weight takes float, not 'abc'"),
        ("levels=2.5", "unet's levels takes int, not '2.5'"),
        ("validation_shifts=maybe", "unet's validation_shifts takes bool, not 'maybe'"),
        ("oversampled_labels=[1]", "unet's oversampled_labels takes dict[str, float], not '[1]'"),
        ('oversampled_labels={"sandal": "x"}', "unet's oversampled_labels takes dict[str, float]"),
    ],
)
def test_a_wrong_key_or_type_is_refused_in_one_line(assignment, message):
    with pytest.raises(InvalidInput, match=re.escape(message)) as refused:
        configs.resolve("unet", None, [assignment])
    assert "\n" not in str(refused.value)


def test_the_cli_refuses_a_wrong_setting_or_config_in_one_line():
    for args, message in (
        (("--set", "nope=1"), "error: --set 'nope=1': unet has no setting 'nope'"),
        (("--set", "levels=x"), "error: --set levels: unet's levels takes int, not 'x'."),
        (("--config", "cycle9"), "error: unet has no config 'cycle9'; its configs: default, cycle0"),
    ):
        result = run_cli("train", "unet", *args)
        assert result.returncode == 2 and result.stderr.startswith(message) and result.stderr.count("\n") == 1
    result = run_cli("train", "yolo", "--set", "epochs=ten")
    assert result.returncode == 2 and "yolo's epochs takes int | None, not 'ten'" in result.stderr


# --- lineage ----------------------------------------------------------------------------------------------------


def test_a_named_config_resolves_its_lineage_into_the_commands_that_replay_it():
    chain = configs.lineage("unet", "cycle6")
    assert [config.name for config in chain] == [f"cycle{index}" for index in range(7)]
    assert chain[0].resumes is None and all(
        later.resumes == earlier.name for earlier, later in zip(chain, chain[1:])
    )
    levels = [config.settings.levels for config in chain]
    assert levels == [3, 3, 3, 4, 4, 4, 4]  # grown to 4 levels in cycle 3
    assert [config.settings.epochs for config in chain] == [
        3,
        3,
        1,
        13,
        12,
        8,
        3,
    ]  # 43 epochs, as the history
    assert chain[-1].settings.resume_learning_rate == 3e-4 and chain[0].settings.jaccard_weight == 0
    assert configs.commands("unet", "cycle2") == [
        f"python -m engine train unet --config cycle{index}" for index in range(3)
    ]
    rn = configs.lineage("vqa-relation-network", "run6")
    assert [config.settings.epochs for config in rn] == [480, 600, 736, 936, 1006, 985]
    assert [config.settings.g_units[0] for config in rn] == [64, 64, 128, 128, 128, 128]
    assert [config.settings.f_units for config in rn] == [(128,)] * 3 + [(256, 256)] * 3
    assert [config.settings.resume_from for config in rn[1:]] == ["last", "best", "last", "best", "last"]
    assert rn[4].settings.stop_after_epoch == 924 and rn[5].settings.resume_learning_rate == 3.4e-4


def test_a_config_must_resume_a_registered_one():
    with pytest.raises(ValueError, match="not registered"):
        configs.register("unet", "orphan", unet_training.UNetConfig(), resumes="cycle99")
    assert "orphan" not in configs.names("unet")


def test_a_named_cycle_goes_on_only_from_a_run_of_the_config_it_resumes(tmp_path):
    cycle1, cycle2 = configs.get("unet", "cycle1"), configs.get("unet", "cycle2")
    with pytest.raises(InvalidInput, match="last trained no named config"):  # a seeded run, or none
        configs.check_resumed(cycle1, tmp_path)
    for first_epoch, config in ((0, "cycle0"), (3, "cycle1")):
        (tmp_path / f"settings-{first_epoch}.json").write_text(
            json.dumps({"first_epoch": first_epoch, "config": configs.get("unet", config).describe()})
        )
    configs.check_resumed(cycle2, tmp_path)  # the newest settings file names cycle1
    with pytest.raises(
        InvalidInput, match="goes on from a run of config cycle0, but .* last trained config cycle1"
    ):
        configs.check_resumed(cycle1, tmp_path)
    configs.check_resumed(configs.get("unet", "cycle0"), tmp_path)  # a first run resumes nothing


def test_configs_prints_the_commands_that_replay_the_committed_weights():
    result = run_cli("configs", "unet", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["config"] == "cycle6" and printed["committed"] == {unet_model.WEIGHTS: "cycle6"}
    assert printed["commands"] == configs.commands("unet", "cycle6")
    listed = run_cli("train", "vqa-relation-network", "--list-configs")
    assert (
        listed.returncode == 0
        and "python -m engine train vqa-relation-network --config run6" in listed.stdout
    )


# --- recorded in run.json and the manifest --------------------------------------------------------------------


@pytest.mark.parametrize("entry", TRAINED_HERE, ids=lambda entry: entry.command_name)
def test_every_committed_weight_trained_here_names_a_config_that_exists(entry):
    lines = manifest.entries()
    for kind, file in entry.sources:
        if kind != "project":
            continue
        recorded = lines[file]["config"]
        assert recorded["model"] == entry.command_name
        named = configs.get(entry.command_name, recorded["name"])  # refused if it does not exist
        assert recorded == named.describe()  # the same lineage and settings as the code's
        assert lines[file]["how"] and lines[file]["metric"]  # the older fields stay


@pytest.mark.training
def test_a_smoke_run_records_its_non_default_config_in_run_json_and_the_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.RUNS_ENV_VAR, str(tmp_path / "runs"))
    monkeypatch.setattr(unet_training.UNetTask, "legacy_checkpoints", tmp_path / "no-cache")
    monkeypatch.setattr(
        unet_training.UNetTask,
        "evaluate",
        lambda self, weights: unet_evaluation.evaluate_model(unet_model.build(weights), 2),
    )
    assets = tmp_path / "assets"
    monkeypatch.setattr(manifest, "PROJECT_ASSETS", assets)
    monkeypatch.setattr(manifest, "MANIFEST_PATH", assets / "MANIFEST.jsonl")
    chosen = configs.resolve(
        "unet", "cycle0", [f"train_scenes={unet_training.BATCH_SIZE}", "validation_scenes=2"]
    )
    result = unet_training.train(config=chosen)
    run = pathlib.Path(result["run"])
    recorded = json.loads((run / "run.json").read_text())["config"]
    assert recorded["name"] == "cycle0" and recorded["lineage"] == ["cycle0"]
    assert recorded["settings"]["levels"] == 3 and recorded["settings"]["jaccard_weight"] == 0.0
    assert recorded["overrides"] == {"train_scenes": unet_training.BATCH_SIZE, "validation_scenes": 2}
    assert json.loads((run / "settings-0.json").read_text())["config"] == recorded
    assert len(result["history"]) == 3 and result["history"][0]["levels"] == 3  # cycle0's 3 epochs, 3 levels
    assert result["history"][0]["test_time_shifts"] == 0 and np.isfinite(result["history"][-1]["loss"])
    promoted = runs.promote("unet", run.name)
    assert promoted["manifest"][0]["config"] == recorded
    assert manifest.entries()[unet_model.WEIGHTS]["config"]["name"] == "cycle0"
    with pytest.raises(InvalidInput, match="config cycle2 goes on from a run of config cycle1"):
        unet_training.train(
            config=configs.resolve("unet", "cycle2", ["resume_train_scenes=8", "validation_scenes=2"])
        )
    resumed = unet_training.train(
        config=configs.resolve(
            "unet",
            "cycle1",
            [f"resume_train_scenes={unet_training.BATCH_SIZE}", "validation_scenes=2", "epochs=1"],
        )
    )  # resumes cycle0's run
    assert resumed["run"] == result["run"] and [entry["cycle"] for entry in resumed["history"]] == [
        0,
        0,
        0,
        1,
    ]
    assert resumed["history"][-1]["jaccard_weight"] == 1.0 and resumed["history"][-1]["levels"] == 3
    assert json.loads((run / "run.json").read_text())["config"]["lineage"] == ["cycle0", "cycle1"]
