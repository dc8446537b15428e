"""The model registry: every model the studio can run, and where its weights come from.

After the Model Garden's registry and timm's pretrained configs: each model is one `ModelSpec`
naming its task, input size, labels and an ordered list of weight sources (project weights under
`assets/`, a file inside a pinned registry package, a TF Hub handle or a Keras Applications name).
`load(name)` tries the sources in order and returns the first that works, so the same name runs
offline on the embedded default and online on the hub model. Duplicate names are refused; an
unknown name raises an error listing the known ones.

Task modules register their models when imported; `TASK_MODULES` lists them, and none of them
imports TensorFlow at import time, so listing models is cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from engine.core import assets
from engine.serving import client as serving_client
from engine.core.errors import ModelUnavailable, UnknownModel

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]  # engine/core/registry.py -> the project
PROJECT_ASSETS = PROJECT_ROOT / "assets"
TASK_MODULES = ("engine.classification.classify", "engine.features.extractors", "engine.capsules.api", "engine.segmentation.api", "engine.text.sentiment", "engine.text.train", "engine.detection.api", "engine.detection.trained.entries", "engine.pipelines.instances", "engine.video.api", "engine.vqa.api", "engine.audio.instrument.model", "engine.audio.pitch", "engine.audio.wavenet.model")

SourceKind = Literal["project", "package", "hub", "keras_applications", "served"]  # served: TF Serving (engine/serving/client.py)


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """One place a model's weights can come from."""

    kind: SourceKind
    reference: str  # assets/ file, cached asset name, hub handle, or Keras Applications file name

    def describe(self) -> str:
        if self.kind == "served":
            return f"TF Serving {self.reference}"
        if self.kind == "project":
            return f"project weights assets/{self.reference}"
        if self.kind == "package":
            requirement = assets.asset_spec(self.reference).package.requirement
            return f"offline package file {self.reference} ({requirement})"
        if self.kind == "hub":
            return f"TF Hub {self.reference}"
        return f"Keras Applications weights {self.reference}"

    def how_to_get(self, model_name: str = "NAME") -> str:
        """What the user can do when this source is missing."""
        if self.kind == "project":
            return f"missing from assets/ (retrain it with `python -m engine train {model_name}`)"
        if self.kind == "package":
            return "not fetched (run `python -m engine assets fetch`)"
        return "needs a network connection"

    def status(self) -> str:
        """'present' (usable offline now), 'missing' (fetchable), or 'network' (needs a network)."""
        if self.kind == "project":
            return "present" if (PROJECT_ASSETS / self.reference).is_file() else "missing"
        if self.kind == "package":
            return "present" if assets.is_present(self.reference) else "missing"
        if self.kind == "keras_applications":
            cached = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
            return "present" if (cached / "models" / self.reference).is_file() else "network"
        return "network"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the app needs to know about one model before loading it."""

    name: str  # registry key, e.g. "efficientnet-lite0"
    task: str  # "classification", "segmentation", ...
    title: str  # what the page shows
    input_size: tuple[int, int]  # (height, width) the model expects
    labels: str  # what the outputs mean, e.g. "1000 ImageNet classes"
    sources: tuple[WeightSource, ...]  # tried in order
    builder: Callable[[ModelSpec, WeightSource], Any]  # turns a source into a ready model
    trained_on: str  # data the weights were trained on
    metric: str  # held-out metric as measured, with where it was measured
    paper: str = ""  # reference for the architecture
    inspectable: bool = False  # a Keras vision model the "what the network learned" page can open


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model ready to run, with the source its weights came from."""

    spec: ModelSpec
    source: WeightSource
    model: Any
    load_seconds: float


# Training and evaluation entry points by name (`python -m engine train|eval NAME`). A trainer
# takes (epochs: int | None, on_progress: ProgressCallback) and an evaluator no arguments; both
# return plain data (figures as measured) that the CLI prints as JSON.
TRAINERS: dict[str, Callable[..., dict]] = {}
EVALUATORS: dict[str, Callable[..., dict]] = {}

_SPECS: dict[str, ModelSpec] = {}
_LOADED: dict[str, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
_TASKS_IMPORTED = False
LOAD_COUNTS: dict[str, int] = {}  # name -> how many times it was built (tests check "once")
LOAD_LOG_ENV_VAR = "CONVNET_STUDIO_LOAD_LOG"  # file that gets a line per build, for tests of a live server


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model; a second model under the same name is a programming error."""
    if spec.name in _SPECS:
        raise ValueError(f"A model named '{spec.name}' is already registered.")
    _SPECS[spec.name] = spec
    return spec


def register_trainer(name: str, trainer: Callable[..., dict]) -> None:
    if name in TRAINERS:
        raise ValueError(f"A trainer named '{name}' is already registered.")
    TRAINERS[name] = trainer


def register_evaluator(name: str, evaluator: Callable[..., dict]) -> None:
    if name in EVALUATORS:
        raise ValueError(f"An evaluator named '{name}' is already registered.")
    EVALUATORS[name] = evaluator


def get_trainer(name: str) -> Callable[..., dict]:
    _import_tasks()
    if name not in TRAINERS:
        raise UnknownModel(f"Nothing to train under '{name}'. Trainable: {', '.join(sorted(TRAINERS)) or 'none'}.")
    return TRAINERS[name]


def get_evaluator(name: str) -> Callable[..., dict]:
    _import_tasks()
    if name not in EVALUATORS:
        raise UnknownModel(f"Nothing to evaluate under '{name}'. Known: {', '.join(sorted(EVALUATORS)) or 'none'}.")
    return EVALUATORS[name]


def _import_tasks() -> None:
    global _TASKS_IMPORTED
    if not _TASKS_IMPORTED:
        for module in TASK_MODULES:
            importlib.import_module(module)
        _TASKS_IMPORTED = True


def all_specs(task: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally of one task, in registration order."""
    _import_tasks()
    return [spec for spec in _SPECS.values() if task is None or spec.task == task]


def get_spec(name: str) -> ModelSpec:
    """The spec of a model; raises `UnknownModel` listing the known names."""
    _import_tasks()
    if name not in _SPECS:
        known = ", ".join(sorted(_SPECS))
        raise UnknownModel(f"Unknown model '{name}'. Known models: {known}.")
    return _SPECS[name]


def available_source(spec: ModelSpec) -> WeightSource | None:
    """The first source usable without a network, if any."""
    return next((source for source in spec.sources if source.status() == "present"), None)


def load(name: str) -> LoadedModel:
    """Build or load a model once per process and return it (thread-safe).

    Sources are tried in order: present offline sources first as listed, then network ones.

    Raises:
        UnknownModel: the name is not registered.
        ModelUnavailable: no source worked; the message lists what was tried.
    """
    spec = get_spec(name)
    with _LOAD_LOCK:  # One lock: concurrent first hits must not build the same model twice.
        if name in _LOADED:
            return _LOADED[name]
        failures = []
        ordered = sorted(spec.sources, key=lambda source: source.status() != "present")
        served = serving_client.served_address(name)  # $CONVNET_STUDIO_SERVING_URL: a REST client instead
        for source in ([WeightSource("served", served)] if served else ordered):
            if source.status() == "missing":
                failures.append(f"{source.describe()}: {source.how_to_get(spec.name)}")
                continue
            started = time.perf_counter()
            try:
                model = (serving_client.build_remote if source.kind == "served" else spec.builder)(spec, source)
            except ModelUnavailable as error:
                failures.append(f"{source.describe()}: {error}")
                continue
            loaded = LoadedModel(spec, source, model, time.perf_counter() - started)
            _LOADED[name] = loaded
            LOAD_COUNTS[name] = LOAD_COUNTS.get(name, 0) + 1
            _log_load(loaded)
            return loaded
    raise ModelUnavailable(f"{spec.title} cannot be loaded. Tried: " + "; ".join(failures))


def _log_load(loaded: LoadedModel) -> None:
    """One line per build in $CONVNET_STUDIO_LOAD_LOG, when set: lets a test count the builds of a
    running server (name, process id, seconds). Set by whoever starts the server, never by a user."""
    path = os.environ.get(LOAD_LOG_ENV_VAR)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{loaded.spec.name}\t{os.getpid()}\t{loaded.load_seconds:.2f}\n")


def loaded_models() -> list[LoadedModel]:
    """Models loaded in this process so far, in load order."""
    return list(_LOADED.values())


def describe_all() -> list[dict]:
    """Plain data for `python -m engine models --json` and the home page."""
    rows = []
    for spec in all_specs():
        source = available_source(spec)
        rows.append({
            "name": spec.name, "task": spec.task, "title": spec.title,
            "input_size": list(spec.input_size), "labels": spec.labels,
            "available": source is not None,
            "source": source.describe() if source else None,
            "sources": [{"kind": s.kind, "reference": s.reference, "status": s.status()}
                        for s in spec.sources],
            "trained_on": spec.trained_on, "metric": spec.metric,
        })
    return rows
