"""Named training configs: a model's tunables as one typed, frozen dataclass, and named configs of it.

After TF Model Garden's experiment configs (`official/core/config_definitions.py` and `exp_factory`: a
registry of named experiment configs, each a dataclass, with overrides): a model's train module declares a
frozen dataclass of its tunables whose defaults are today's constants, and registers named configs of it:
"default" (those defaults, what `python -m engine train NAME` uses) and, for weights made in several
cycles, one per cycle. A named config says which config it resumes from, so replaying committed weights is
a sequence of `python -m engine train NAME --config X` commands (`python -m engine configs NAME` prints
it); `--set key=value` overrides one field, typed. The Trainer (engine/core/training.py) writes the
config's name, lineage and full settings into run.json and, on promote, into the manifest line.

This module imports no TensorFlow and no task: `load(model)` imports the model's train module (named by
the model table, engine/core/entries.py), which registers its configs.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import json
import pathlib
import types
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from engine.core import entries
from engine.core.errors import InvalidInput

DEFAULT = "default"


@dataclasses.dataclass(frozen=True)
class TrainerDefaults:
    """The config of a model whose tunables are still its train module's constants: only the epochs are set
    here (None: the trainer's own default, e.g. one per part)."""

    epochs: int | None = None


@dataclasses.dataclass(frozen=True)
class NamedConfig:
    """One named config of `model`: its settings (a frozen dataclass), the config it resumes from (None: a
    first run), a note of what the settings alone do not say, and the `--set` overrides applied to it."""

    model: str
    name: str
    settings: Any
    resumes: str | None = None
    note: str = ""
    overrides: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> dict:
        """The JSON written into run.json and the manifest line."""
        return {
            "model": self.model,
            "name": self.name,
            "resumes": self.resumes,
            "lineage": [config.name for config in lineage(self.model, self.name)],
            "settings": json.loads(json.dumps(dataclasses.asdict(self.settings))),
            **({"overrides": dict(self.overrides)} if self.overrides else {}),
        }

    def command(self) -> str:
        return f"python -m engine train {self.model} --config {self.name}"


_CONFIGS: dict[str, dict[str, NamedConfig]] = {}
_CURRENT: contextvars.ContextVar[NamedConfig | None] = contextvars.ContextVar("config", default=None)


def register(model: str, name: str, settings: Any, resumes: str | None = None, note: str = "") -> NamedConfig:
    """Add a named config (a train module calls this at import; `resumes` must be registered before it)."""
    if not dataclasses.is_dataclass(settings) or not type(settings).__dataclass_params__.frozen:
        raise TypeError(f"{model} config {name}: settings must be a frozen dataclass instance.")
    known = _CONFIGS.setdefault(model, {})
    if resumes is not None and resumes not in known:
        raise ValueError(f"{model} config {name} resumes {resumes!r}, which is not registered before it.")
    known[name] = NamedConfig(model, name, settings, resumes, note)
    return known[name]


def load(model: str) -> dict[str, NamedConfig]:
    """The named configs of `model` (its `python -m engine train` name), importing its train module."""
    if model not in _CONFIGS:
        references = [
            entry.train
            for entry in entries.MODELS
            if entry.train and model in (entry.name, entry.command_name)
        ]
        references += [experiment.train for experiment in entries.EXPERIMENTS if experiment.name == model]
        for reference in references:
            importlib.import_module(reference.partition(":")[0])
    return _CONFIGS.get(model, {})


def names(model: str) -> list[str]:
    return list(load(model))


def get(model: str, name: str | None = None) -> NamedConfig:
    """A named config (default: DEFAULT); unknown names are refused in one line."""
    known = load(model)
    name = DEFAULT if name is None else name
    if name not in known:
        listed = ", ".join(known) or "none (its tunables are module constants)"
        raise InvalidInput(f"{model} has no config {name!r}; its configs: {listed}.")
    return known[name]


def lineage(model: str, name: str) -> list[NamedConfig]:
    """The configs whose runs make `name`'s weights, first run first, `name` last."""
    chain: list[NamedConfig] = []
    current: str | None = name
    while current is not None:
        config = get(model, current)
        if config in chain:
            raise ValueError(f"{model} config {name}: its lineage loops at {current}.")
        chain.append(config)
        current = config.resumes
    return chain[::-1]


def commands(model: str, name: str) -> list[str]:
    """The commands that replay `name`'s weights: one `train --config` per config of its lineage."""
    return [config.command() for config in lineage(model, name)]


def check_resumed(config: NamedConfig, run_folder: pathlib.Path) -> None:
    """Refuse to resume a run that `config` does not go on from: its newest settings-N.json (written by the
    Trainer) must name the config `config` resumes, so a replay runs its lineage in order."""
    if config.resumes is None:
        return
    written = sorted(
        pathlib.Path(run_folder).glob("settings-*.json"),
        key=lambda path: int(path.stem.partition("-")[2] or 0),
    )
    recorded = json.loads(written[-1].read_text()).get("config") if written else None
    if not recorded or (recorded.get("model"), recorded.get("name")) != (config.model, config.resumes):
        last = f"config {recorded['name']}" if recorded else "no named config (a seeded or older run)"
        raise InvalidInput(
            f"{config.model} config {config.name} goes on from a run of config {config.resumes}, but "
            f"the run it would resume ({run_folder}) last trained {last}; train --config "
            f"{config.resumes} first, or name its run with --run."
        )


def resolve(
    model: str, config: NamedConfig | str | None = None, assignments: Iterable[str] = ()
) -> NamedConfig:
    """The config a trainer runs with: a named one (default: DEFAULT) with `--set key=value` overrides."""
    chosen = config if isinstance(config, NamedConfig) else get(model, config)
    return override(chosen, assignments)  # no assignments: `chosen` itself


def override(config: NamedConfig, assignments: Iterable[str]) -> NamedConfig:
    """`config` with each "key=value" applied, the value parsed as the field's type; a wrong key or value is
    refused with one line naming what is allowed."""
    hints = typing.get_type_hints(type(config.settings))
    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key = key.strip()
        if not equals or key not in hints:
            raise InvalidInput(
                f"--set {assignment!r}: {config.model} has no setting {key!r}; its settings: "
                f"{', '.join(hints)} (as key=value)."
            )
        try:
            changes[key] = parse(text.strip(), hints[key])
        except (ValueError, TypeError):
            raise InvalidInput(
                f"--set {key}: {config.model}'s {key} takes {type_text(hints[key])}, not {text.strip()!r}."
            ) from None
    return _apply(config, changes)


def with_values(config: NamedConfig, **values: Any) -> NamedConfig:
    """`config` with the values a trainer was called with (None: not given) set in its settings, those that
    differ from them recorded as overrides (a trainer's own keyword arguments, e.g. --epochs)."""
    return _apply(
        config,
        {
            key: value
            for key, value in values.items()
            if value is not None and getattr(config.settings, key) != value
        },
    )


def _apply(config: NamedConfig, changes: dict[str, Any]) -> NamedConfig:
    if not changes:
        return config
    overrides = {**dict(config.overrides), **changes}
    return dataclasses.replace(
        config, settings=dataclasses.replace(config.settings, **changes), overrides=tuple(overrides.items())
    )


def parse(text: str, kind: Any) -> Any:
    """`text` as a value of type `kind` (bool, int, float, str, None, tuple / list / dict of those as JSON);
    raises ValueError (or TypeError) when it is not one."""
    return _check(json.loads(text) if _is_container(kind) else _scalar(text, kind), kind)


def _is_container(kind: Any) -> bool:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_is_container(arg) for arg in typing.get_args(kind) if arg is not type(None))
    return origin in (tuple, list, dict) or kind in (tuple, list, dict)


def _scalar(text: str, kind: Any) -> Any:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in typing.get_args(kind):
            return None
        for arg in typing.get_args(kind):
            if arg is not type(None):
                with contextlib.suppress(ValueError, TypeError):
                    return _scalar(text, arg)
        raise ValueError(text)
    if kind is bool:
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return lowered in ("true", "1", "yes")
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    if kind is str:
        return text
    raise TypeError(f"{kind} is not a type --set can parse")


def _check(value: Any, kind: Any) -> Any:
    """`value` (from JSON) as `kind`, lists becoming tuples where a tuple is declared."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                with contextlib.suppress(ValueError, TypeError):
                    return _check(value, arg)
        raise ValueError(value)
    if origin in (tuple, list) or kind in (tuple, list):
        if not isinstance(value, list):
            raise ValueError(value)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_check(item, args[0]) for item in value]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ValueError(value)
            items = [_check(item, arg) for item, arg in zip(value, args)]
        else:
            items = [_check(item, args[0]) if args else item for item in value]
        return tuple(items) if (origin or kind) is tuple else items
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise ValueError(value)
        key_kind, value_kind = args or (Any, Any)
        return {_check(key, key_kind): _check(item, value_kind) for key, item in value.items()}
    if kind is Any:
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (int, bool, str) and type(value) is kind:
        return value
    if kind is float or kind in (int, bool, str):
        raise ValueError(value)
    return value


def type_text(kind: Any) -> str:
    """How `--set` names a type in its messages: float, tuple[int, ...], dict[str, float], int | None."""
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")


@contextlib.contextmanager
def using(config: NamedConfig | None) -> Iterator[None]:
    """Within this block, `current()` is `config`: the CLI sets it around a trainer that takes no `config`
    argument, so the Trainer still records the config it was started with."""
    token = _CURRENT.set(config)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current(model: str | None = None) -> NamedConfig | None:
    """The config `using` set (of `model` when given), else None."""
    config = _CURRENT.get()
    return config if config is not None and (model is None or config.model == model) else None
