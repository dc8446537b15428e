"""Export a registered model for TensorFlow Serving.

TF Serving watches a *model base path* and serves the highest numbered version folder in it
(`BASE/1/saved_model.pb`, `BASE/1/variables/`). `export` writes that layout, one of four ways:

- "keras": a model that is one Keras graph, with Keras 3's `Model.export(..., format="tf_saved_model")`,
  whose `serve` signature (also `serving_default`) is what TF Serving's REST API calls
  (`POST /v1/models/NAME:predict`, `{"instances": [...]}` or `{"inputs": {...}}`).
- "module": a trained-here model whose inference is several Keras graphs with steps between them
  (CapsNet routing, the R-CNN family, the six video ways, MTCNN's three nets): one SavedModel whose
  signature runs all of it in TensorFlow ops (engine/serving/modules.py).
- "frozen graph": the TF1 GraphDef (SSDLite person detector) imported with `wrap_function` and saved
  with a `serving_default` signature.
- "tflite": the `.tflite` file copied to `BASE/1/model.tflite`; TF Serving serves it when started with
  `--prefer_tflite_model=true` (an experimental flag: tensorflow_serving/model_servers/main.cc). Its
  TFLite loader (servables/tensorflow/tflite_session.cc) has the builtin ops only, so a file with a
  custom op is refused, and it names the signature inputs after the file's SignatureDef or, without
  one, after the input tensors (text after ':' dropped): `serve_inputs` reports those names.

Every export also writes `assets.extra/labels.txt` (class names) and `assets.extra/signature.txt`
(what the signature takes and returns, and what the client does after); TF Serving ignores that
folder. What cannot be served is refused with the reason (`REFUSED`).
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import time

from engine.core import entries, registry
from engine.core.errors import InvalidInput, ModelUnavailable


@dataclasses.dataclass(frozen=True)
class ExportResult:
    model: str  # registry name
    kind: str  # "keras", "module", "frozen graph" or "tflite"
    path: str  # the version folder written
    inputs: tuple[tuple[str, tuple[int | None, ...], str], ...]  # (name, shape, dtype) of serving_default
    labels: tuple[str, ...]  # class names, index = output position ('' when unknown)
    seconds: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "kind": self.kind,
            "path": self.path,
            "labels": list(self.labels),
            "seconds": round(self.seconds, 2),
            "inputs": [
                {"name": name, "shape": list(shape), "dtype": dtype} for name, shape, dtype in self.inputs
            ],
        }


def keras_model_of(loaded: registry.LoadedModel):
    """The Keras model inside a loaded model and its class names, or None when it is not Keras."""
    import keras

    candidates = [(loaded.model, ())]
    for attribute in (
        "model",
        "network",
        "classifier",
        "backbone",
    ):  # text CNN, trained-here nets, feature model
        inner = getattr(loaded.model, attribute, None)
        if inner is not None:
            candidates.append(
                (inner, tuple(getattr(loaded.model, "labels", ()) if attribute != "backbone" else ()))
            )
    for candidate, labels in candidates:
        if isinstance(candidate, keras.Model):
            return candidate, tuple(labels)
    return None


# Trained-here models whose whole inference is one Keras graph (WaveNet's: the teacher-forced
# network that gives every next-sample distribution; generation loops over it outside the server):
# the table's `export="keras"` entries with project weights.
TRAINED_KERAS = tuple(
    entry.name
    for entry in entries.MODELS
    if entry.export == "keras" and any(kind == "project" for kind, _ in entry.sources)
)

# What TF Serving cannot run, and why (the refusal message and the README say this).
REFUSED = {entry.name: entry.not_servable for entry in entries.MODELS if entry.not_servable}


def export_kind(spec: registry.ModelSpec) -> str | None:
    """'keras', 'module', 'frozen graph' or 'tflite' for a model TF Serving can run, None if refused
    (decided from the table alone; `export` checks a "keras" model really is one Keras graph)."""
    entry = entries.by_name().get(spec.name)
    source = registry.available_source(spec)
    if entry is None or entry.not_servable or source is None:
        return None
    if ":" in entry.export:
        return "module"
    if source.kind == "package" and source.reference.endswith(".tflite"):
        return "tflite"
    if source.kind == "package" and source.reference.endswith(".pb"):
        return "frozen graph"
    if entry.export == "keras":
        return "keras"
    return None


def exportable_names() -> list[str]:
    """Registered models with their weights here that TF Serving can serve (loading nothing)."""
    return [spec.name for spec in registry.all_specs() if export_kind(spec) is not None]


def export(name: str, base_path: pathlib.Path, version: int = 1) -> ExportResult:
    """Write `base_path/version/` for TF Serving: a SavedModel, or `model.tflite` for a TFLite model.

    Raises:
        UnknownModel: no such model.
        InvalidInput: a model TF Serving cannot run (the message says why), a TF Hub model (served
            from its published SavedModel), a version below 1, or the version folder exists already.
        ModelUnavailable: its weights are not here.
    """
    if version < 1:
        raise InvalidInput(f"TF Serving versions are positive integers, not {version}.")
    target = pathlib.Path(base_path) / str(version)
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another --version or remove it.")
    spec = registry.get_spec(name)
    kind = export_kind(spec)
    hub = next((source.reference for source in spec.sources if source.kind == "hub"), None)
    if kind is None and name not in REFUSED and hub:
        raise InvalidInput(
            f"{name} is a TF Hub model: TF Serving serves the SavedModel published at {hub} as it is "
            "(download and unpack it into BASE/1/); there is nothing to export."
        )
    if kind is None and name not in REFUSED and registry.available_source(spec) is None:
        raise ModelUnavailable(f"{name}'s weights are not here: {spec.sources[0].how_to_get(name)}.")
    if kind is None:
        raise InvalidInput(
            f"{name} cannot be served by TF Serving: {REFUSED.get(name, 'it is not a TensorFlow graph')}. "
            "Exportable: " + ", ".join(exportable_names()) + "."
        )
    loaded = registry.load(name)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "tflite":
        labels, doc = _write_tflite(loaded, target)
    elif kind == "frozen graph":
        labels, doc = _write_frozen_graph(loaded, target)
    elif kind == "module":
        labels, doc = _write_module(loaded, target)
    else:
        labels, doc = _write_keras(loaded, target)
    extra = target / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "labels.txt").write_text("\n".join(labels) + ("\n" if labels else ""), encoding="utf-8")
    (extra / "signature.txt").write_text(doc + "\n", encoding="utf-8")
    return ExportResult(name, kind, str(target), serve_inputs(target), labels, time.perf_counter() - started)


def _write_keras(loaded: registry.LoadedModel, target: pathlib.Path) -> tuple[tuple[str, ...], str]:
    found = keras_model_of(loaded)
    if found is None:
        raise InvalidInput(
            f"{loaded.spec.name} is not one Keras graph, so it cannot be exported as a SavedModel "
            "here. Exportable: " + ", ".join(exportable_names()) + "."
        )
    model, labels = found
    model.export(str(target), format="tf_saved_model", verbose=False)
    return labels, (
        "serving_default (= serve): the Keras model's inputs and outputs as they are in-process "
        f"({loaded.spec.labels})."
    )


def _write_module(loaded: registry.LoadedModel, target: pathlib.Path) -> tuple[tuple[str, ...], str]:
    """A tf.Module holding one traced tf.function per endpoint (the first is also `serving_default`)
    and the tf.Variables those functions read. As keras.export.ExportArchive does, the captured
    variables are tracked, not the Keras models: tracking a Keras 3 model saves each variable twice,
    and a session-based loader (TF Serving's; tf.compat.v1 `loader.load`) then restores the copy the
    graph does not read ("Could not find variable ...")."""
    import tensorflow as tf

    from engine.serving import modules as serving_modules

    found = serving_modules.module_export(loaded.spec.name, loaded.model)
    module = tf.Module()
    signatures = {}
    for endpoint, function, signature in found.endpoints:
        traced = tf.function(function, input_signature=signature, autograph=False)
        setattr(module, endpoint, traced)
        signatures[endpoint] = traced.get_concrete_function()
    signatures["serving_default"] = signatures[found.endpoints[0][0]]
    captured = {id(variable): variable for concrete in signatures.values() for variable in concrete.variables}
    module.captured_variables = list(captured.values())
    tf.saved_model.save(module, str(target), signatures=signatures)
    return found.labels, found.doc


def _write_frozen_graph(loaded: registry.LoadedModel, target: pathlib.Path) -> tuple[tuple[str, ...], str]:
    """The SSDLite person detector's pruned GraphDef function behind a `serving_default` signature."""
    import tensorflow as tf

    pruned = (
        loaded.model.function
    )  # engine.detection.objects.SSDLitePerson: image_tensor:0 -> the four outputs
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve(images):
        boxes, scores, classes, count = pruned(images)
        return {
            "detection_boxes": boxes,
            "detection_scores": scores,
            "detection_classes": classes,
            "num_detections": count,
        }

    module.serve = serve
    tf.saved_model.save(module, str(target), signatures={"serving_default": serve})
    return ("person",), (
        "serving_default: images uint8 (B, H, W, 3) RGB, any size (the graph resizes to 300 x 300). "
        "TF Object Detection API outputs: detection_boxes (B, 100, 4) ymin xmin ymax xmax in 0..1, "
        "detection_scores (B, 100), detection_classes (B, 100) float, 1 = person, num_detections "
        "(B,) float: rows past it are padding. The page keeps scores >= its threshold."
    )


def _write_tflite(loaded: registry.LoadedModel, target: pathlib.Path) -> tuple[tuple[str, ...], str]:
    from engine.core import assets

    source = assets.verified_path(loaded.source.reference)
    custom = custom_ops(source)
    if custom:
        raise InvalidInput(
            f"{loaded.spec.name} uses the custom TFLite op(s) {', '.join(custom)}, which TF Serving's "
            "TFLite loader lacks (builtin ops only); run it in-process."
        )
    target.mkdir()
    shutil.copyfile(source, target / "model.tflite")
    labels = getattr(loaded.model, "labels", None) or ()
    labels = (labels,) if isinstance(labels, str) else tuple(labels)
    inputs, outputs = (
        ", ".join(f"{name} {dtype} {list(shape)}" for name, shape, dtype in group)
        for group in tflite_signature(source)
    )
    return labels, (
        f"model.tflite ({source.name}, unchanged): start TF Serving with --prefer_tflite_model=true. "
        f"serving_default (names as TF Serving derives them from the file): inputs {inputs}; outputs "
        f"{outputs}, the raw TFLite outputs (quantized ones stay quantized). Resizing the input and "
        "decoding the outputs (anchors, NMS, argmax) is the client's, as in the engine's "
        f"{type(loaded.model).__name__}."
    )


def custom_ops(path: pathlib.Path) -> list[str]:
    """Names of the non-builtin ops in a TFLite file (custom or Flex): what TF Serving cannot load."""
    from engine.core import runtime

    interpreter = runtime.TFLiteModel(path).interpreter
    builtin = tflite_builtin_op_names()
    return sorted({op["op_name"] for op in interpreter._get_ops_details()} - builtin)


def tflite_builtin_op_names() -> set[str]:
    """TFLite's builtin operator names (CONV_2D, ...), from the flatbuffer schema's BuiltinOperator enum."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return {name for name in vars(schema.BuiltinOperator) if name.isupper()}


def serve_inputs(folder: pathlib.Path) -> tuple[tuple[str, tuple[int | None, ...], str], ...]:
    """(name, shape, dtype) of each input of `serving_default` as a TF Serving client must send them:
    from the SavedModel, or for `model.tflite` the way TF Serving's TfLiteSession names them."""
    folder = pathlib.Path(folder)
    if (folder / "model.tflite").is_file() and not (folder / "saved_model.pb").is_file():
        return tflite_signature(folder / "model.tflite")[0]
    import tensorflow as tf

    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    return tuple(
        (name, tuple(spec.shape.as_list()), spec.dtype.name) for name, spec in sorted(inputs.items())
    )


def tflite_signature(path: pathlib.Path) -> tuple[tuple, tuple]:
    """(inputs, outputs) of a TFLite file's serving_default as TF Serving's TfLiteSession::Create
    names them: after the file's SignatureDef when it has one, else after the tensors up to a ':'.
    Each a sorted tuple of (name, shape, dtype)."""
    from engine.core import runtime

    interpreter = runtime.TFLiteModel(path).interpreter
    if "serving_default" in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner("serving_default")
        named = (runner.get_input_details().items(), runner.get_output_details().items())
    else:
        named = (
            [(detail["name"].split(":", 1)[0], detail) for detail in interpreter.get_input_details()],
            [(detail["name"].split(":", 1)[0], detail) for detail in interpreter.get_output_details()],
        )
    return tuple(
        tuple(
            sorted(
                (name, tuple(int(size) for size in detail["shape"]), detail["dtype"].__name__)
                for name, detail in group
            )
        )
        for group in named
    )


class SessionModel:
    """An exported SavedModel loaded the way TF Serving loads one: into a TF1 graph and session with
    the "serve" tag, variables restored by the SavedModel's saver, and each signature run by the
    tensor names of its SignatureDef (what the server's predict API does). TF Serving itself cannot
    be installed on these machines; the tests use this to check what it would load and answer."""

    def __init__(self, folder: pathlib.Path):
        import tensorflow as tf

        self.graph = tf.Graph()
        with self.graph.as_default():
            self.session = tf.compat.v1.Session(graph=self.graph)
            meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(folder))
        self.signatures = dict(meta_graph.signature_def)

    def predict(self, inputs: dict, signature: str = "serving_default") -> dict:
        """Outputs by name, as NumPy arrays.

        Raises:
            InvalidInput: an unknown signature, or inputs that are not the signature's.
        """
        import numpy as np
        import tensorflow as tf

        definition = self.signatures.get(signature)
        if definition is None:
            raise InvalidInput(
                f"No signature '{signature}'; signatures: {', '.join(sorted(self.signatures))}."
            )
        if set(inputs) != set(definition.inputs):
            raise InvalidInput(
                f"Signature '{signature}' takes {', '.join(sorted(definition.inputs))}, "
                f"not {', '.join(sorted(inputs))}."
            )
        feed = {
            definition.inputs[name].name: np.asarray(
                value, tf.as_dtype(definition.inputs[name].dtype).as_numpy_dtype
            )
            for name, value in inputs.items()
        }
        return self.session.run({name: info.name for name, info in definition.outputs.items()}, feed)
