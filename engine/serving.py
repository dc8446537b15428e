"""Export a registered Keras model as a SavedModel for TensorFlow Serving.

TF Serving watches a *model base path* and serves the highest numbered version folder in it
(`BASE/1/saved_model.pb`, `BASE/1/variables/`). `export` writes that layout with Keras 3's
`Model.export(..., format="tf_saved_model")`, whose `serve` signature is what TF Serving's REST
API calls (`POST /v1/models/NAME:predict`, `{"instances": [...]}`), plus the class names in
`assets.extra/labels.txt` (TF Serving ignores that folder; clients read it).

Only models that run in Keras can be exported: the TFLite and frozen-graph models (EfficientNet-
Lite0, DeepLab, SSDLite, BlazeFace...) are refused with the list of exportable names, as are the
trained-here models whose inference is more than one Keras graph (CapsNet's routing parts, the
R-CNN family's proposals and ROI steps, the six video ways): serve those in-process.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

from engine import registry
from engine.errors import InvalidInput


@dataclasses.dataclass(frozen=True)
class ExportResult:
    model: str  # registry name
    path: str  # the version folder written
    inputs: tuple[tuple[str, tuple[int | None, ...], str], ...]  # (name, shape, dtype) of the serve signature
    labels: tuple[str, ...]  # class names, index = output position ('' when unknown)
    seconds: float

    def to_json(self) -> dict:
        return {"model": self.model, "path": self.path, "labels": list(self.labels), "seconds": round(self.seconds, 2),
                "inputs": [{"name": name, "shape": list(shape), "dtype": dtype} for name, shape, dtype in self.inputs]}


def keras_model_of(loaded: registry.LoadedModel):
    """The Keras model inside a loaded model and its class names, or None when it is not Keras."""
    import keras

    candidates = [(loaded.model, ())]
    for attribute in ("model", "network", "classifier", "backbone"):  # text CNN, trained-here nets, feature model
        inner = getattr(loaded.model, attribute, None)
        if inner is not None:
            candidates.append((inner, tuple(getattr(loaded.model, "labels", ()) if attribute != "backbone" else ())))
    for candidate, labels in candidates:
        if isinstance(candidate, keras.Model):
            return candidate, tuple(labels)
    return None


# Trained-here models whose whole inference is one Keras graph (WaveNet's: the teacher-forced
# network that gives every next-sample distribution; generation loops over it outside the server).
TRAINED_KERAS = ("unet", "yolo", "classloc-a0.1", "classloc-a0.5", "classloc-a0.9", "capsnet-baseline",
                 "vqa-cnn-lstm", "vqa-relation-network", "instrument-cnn", "wavenet")


def exportable_names() -> list[str]:
    """Registered models with their weights here that run in Keras: the inspectable vision models,
    the text CNN and TRAINED_KERAS (loading nothing; `export` checks the loaded model itself)."""
    return [spec.name for spec in registry.all_specs() if registry.available_source(spec) is not None
            and (spec.inspectable or spec.task == "sentiment" or spec.name in TRAINED_KERAS)]


def export(name: str, base_path: pathlib.Path, version: int = 1) -> ExportResult:
    """Write `base_path/version/` as a SavedModel that TF Serving can serve.

    Raises:
        UnknownModel: no such model.
        InvalidInput: not a Keras model, a version below 1, or the version folder exists already.
        ModelUnavailable: its weights are not here.
    """
    if version < 1:
        raise InvalidInput(f"TF Serving versions are positive integers, not {version}.")
    target = pathlib.Path(base_path) / str(version)
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another --version or remove it.")
    loaded = registry.load(name)
    found = keras_model_of(loaded)
    if found is None:
        raise InvalidInput(f"{name} is not one Keras graph (it is TFLite or a frozen graph, or several graphs with "
                           "steps between them), so it cannot be exported as a SavedModel here. Exportable: "
                           + ", ".join(exportable_names()) + ".")
    model, labels = found
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(target), format="tf_saved_model", verbose=False)
    extra = target / "assets.extra"
    extra.mkdir()
    (extra / "labels.txt").write_text("\n".join(labels) + ("\n" if labels else ""), encoding="utf-8")
    return ExportResult(name, str(target), serve_inputs(target), labels, time.perf_counter() - started)


def serve_inputs(folder: pathlib.Path) -> tuple[tuple[str, tuple[int | None, ...], str], ...]:
    """(name, shape, dtype) of each input of the SavedModel's `serving_default` signature, as a
    TF Serving client must send them."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    return tuple((name, tuple(spec.shape.as_list()), spec.dtype.name) for name, spec in sorted(inputs.items()))
