"""The model registry: every model the studio can run, and where its weights come from.

After the Model Garden's registry and timm's pretrained configs: each model is one `ModelSpec`
naming its task, input size, labels and an ordered list of weight sources (project weights under
`assets/`, a file inside a pinned registry package, a TF Hub handle or a Keras Applications name).
`load(name)` tries the sources in order and returns the first that works, so the same name runs
offline on the embedded default and online on the hub model. An unknown name raises an error
listing the known ones.

The specs are made from the model table (engine/core/entries.py), plain data whose builders,
trainers and evaluators are "package.module:function" strings imported only when called: listing
models imports no task module and no TensorFlow, and this module imports nothing above engine.core.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import pathlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from engine.core import assets, entries, manifest
from engine.core.errors import ModelUnavailable, UnknownModel

PROJECT_ROOT = manifest.PROJECT_ROOT
PROJECT_ASSETS = manifest.PROJECT_ASSETS
# TF Serving (engine/serving/client.py): where a model with a `remote` entry is served, when a server is set.
SERVED_ADDRESS = "engine.serving.client:served_address"
SERVED_BUILDER = "engine.serving.client:build_remote"

SourceKind = Literal["project", "package", "hub", "keras_applications", "served"]  # served: TF Serving


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


@dataclasses.dataclass(frozen=True)
class Lazy:
    """A function named by a "package.module:function" reference, imported on the first call."""

    reference: str

    def __call__(self, *args, **kwargs):
        return entries.resolve(self.reference)(*args, **kwargs)


@dataclasses.dataclass(frozen=True)
class Trainer:
    """`python -m engine train NAME`: (epochs=None, on_progress=None, **options) -> figures as measured.

    Options left at None are not passed, so the training function's own defaults apply; its
    signature (`inspect.signature(trainer)`) tells the CLI whether it can --resume.
    """

    reference: str
    options: tuple[tuple[str, Any], ...] = ()  # fixed keywords: which of a module's models

    def __call__(self, **given) -> dict:
        chosen = {key: value for key, value in given.items() if value is not None}
        return entries.resolve(self.reference)(**dict(self.options), **chosen)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(entries.resolve(self.reference))


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """`python -m engine eval NAME`: () -> figures as measured now."""

    name: str  # the model loaded for an evaluate_model function
    reference: str
    options: tuple[tuple[str, Any], ...] = ()
    of_loaded_model: bool = False  # call the function with load(name).model instead of the options

    def __call__(self) -> dict:
        function = entries.resolve(self.reference)
        return function(load(self.name).model) if self.of_loaded_model else function(**dict(self.options))


def _trainers() -> dict[str, Trainer]:
    found = {
        entry.command_name: Trainer(entry.train, tuple(entry.train_options.items()))
        for entry in entries.MODELS
        if entry.train
    }
    found.update({experiment.name: Trainer(experiment.train) for experiment in entries.EXPERIMENTS})
    return found


def _evaluators() -> dict[str, Evaluator]:
    found = {}
    for entry in entries.MODELS:
        if entry.evaluate_model:
            found[entry.command_name] = Evaluator(entry.name, entry.evaluate_model, of_loaded_model=True)
        elif entry.evaluate:
            found[entry.command_name] = Evaluator(
                entry.name, entry.evaluate, tuple(entry.evaluate_options.items())
            )
    return found


# Training and evaluation entry points by name (`python -m engine train|eval NAME`), from the table; both
# return plain data (figures as measured) that the CLI prints as JSON.
TRAINERS: dict[str, Trainer] = _trainers()
EVALUATORS: dict[str, Evaluator] = _evaluators()

_SPECS: dict[str, ModelSpec] = {}
_SPECS_LOCK = threading.Lock()
_LOADED: dict[str, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
LOAD_COUNTS: dict[str, int] = {}  # name -> how many times it was built (tests check "once")
LOAD_LOG_ENV_VAR = "CONVNET_STUDIO_LOAD_LOG"  # file that gets a line per build, for tests of a live server


def _metric(entry: entries.Entry) -> str:
    """The entry's own figure, its summary function's, or the manifest line of its project weights."""
    if entry.metric:
        return entry.metric
    if entry.metric_from:
        return entries.resolve(entry.metric_from)()
    project = next((reference for kind, reference in entry.sources if kind == "project"), None)
    return manifest.recorded_metric(project) if project else "not measured here"


def spec_of(entry: entries.Entry) -> ModelSpec:
    """The ModelSpec of a table entry (reads its metric now)."""
    return ModelSpec(
        name=entry.name,
        task=entry.task,
        title=entry.title,
        input_size=tuple(entry.input_size),
        labels=entry.labels,
        sources=tuple(WeightSource(kind, reference) for kind, reference in entry.sources),
        builder=Lazy(entry.build),
        trained_on=entry.trained_on,
        metric=_metric(entry),
        paper=entry.paper,
        inspectable=entry.inspectable,
    )


def specs_from(models: Iterable[entries.Entry]) -> dict[str, ModelSpec]:
    """name -> spec, in table order; a second model under the same name is a programming error."""
    specs: dict[str, ModelSpec] = {}
    for entry in models:
        if entry.name in specs:
            raise ValueError(f"A model named '{entry.name}' is already registered.")
        specs[entry.name] = spec_of(entry)
    return specs


def _specs() -> dict[str, ModelSpec]:
    """The table's specs, made on first use (the manifest is read then, not at import)."""
    if not _SPECS:
        with _SPECS_LOCK:
            if not _SPECS:
                _SPECS.update(specs_from(entries.MODELS))
    return _SPECS


def get_trainer(name: str) -> Trainer:
    if name not in TRAINERS:
        raise UnknownModel(
            f"Nothing to train under '{name}'. Trainable: {', '.join(sorted(TRAINERS)) or 'none'}."
        )
    return TRAINERS[name]


def get_evaluator(name: str) -> Evaluator:
    if name not in EVALUATORS:
        raise UnknownModel(
            f"Nothing to evaluate under '{name}'. Known: {', '.join(sorted(EVALUATORS)) or 'none'}."
        )
    return EVALUATORS[name]


def all_specs(task: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally of one task, in table order."""
    return [spec for spec in _specs().values() if task is None or spec.task == task]


def get_spec(name: str) -> ModelSpec:
    """The spec of a model; raises `UnknownModel` listing the known names."""
    specs = _specs()
    if name not in specs:
        known = ", ".join(sorted(specs))
        raise UnknownModel(f"Unknown model '{name}'. Known models: {known}.")
    return specs[name]


def available_source(spec: ModelSpec) -> WeightSource | None:
    """The first source usable without a network, if any."""
    return next((source for source in spec.sources if source.status() == "present"), None)


def _served_source(name: str) -> WeightSource | None:
    """A TF Serving source when the table names a remote client for `name` and a server is configured."""
    entry = entries.by_name().get(name)
    if entry is None or not entry.remote:
        return None
    address = entries.resolve(SERVED_ADDRESS)(name)  # $CONVNET_STUDIO_SERVING_URL, or None (in-process)
    return WeightSource("served", address) if address else None


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
        served = _served_source(name)  # a REST client of TF Serving instead of the weights
        for source in [served] if served else ordered:
            if source.status() == "missing":
                failures.append(f"{source.describe()}: {source.how_to_get(spec.name)}")
                continue
            started = time.perf_counter()
            try:
                builder = entries.resolve(SERVED_BUILDER) if source.kind == "served" else spec.builder
                model = builder(spec, source)
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
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "title": spec.title,
                "input_size": list(spec.input_size),
                "labels": spec.labels,
                "available": source is not None,
                "source": source.describe() if source else None,
                "sources": [
                    {"kind": s.kind, "reference": s.reference, "status": s.status()} for s in spec.sources
                ],
                "trained_on": spec.trained_on,
                "metric": spec.metric,
            }
        )
    return rows
