"""The engine's import rules (ARCHITECTURE.md), checked on its import graph: an import-linter equivalent.

The graph is read from the code with `ast`, imports at module level and inside functions alike (a lazy
import is still a dependency); `from engine.x import y` is an edge to engine.x.y when y is a module. The
model table's "package.module:function" strings (engine/core/entries.py) are not imports. Each failure
names the offending edges as "importer -> imported (line)".
"""

import ast
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
FOUNDATION = ("core", "ops", "data")
TASKS = (
    "classification",
    "features",
    "convolutions",
    "capsules",
    "detection",
    "segmentation",
    "video",
    "text",
    "vqa",
    "audio",
)
# Another task may import only these modules of a task: its small public API.
PUBLIC = (
    "engine.classification.classify",
    "engine.features.extractors",
    "engine.detection.api",
    "engine.segmentation.api",
)
TOP = (
    "engine.serving",
    "engine.distributed",
    "engine.cli",
)  # command-line and deployment layers: nothing imports them


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in ENGINE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: pathlib.Path) -> list[tuple[str, int]]:
    """(imported name, line) for every import statement in the module, wherever it is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            found += [
                (f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, node.lineno)
                for alias in node.names
            ]
    return found


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, dict[str, int]]:
    """importer -> {imported engine module: first line}."""
    graph: dict[str, dict[str, int]] = {name: {} for name in MODULES}
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            if target.split(".")[0] == "engine":
                hit = _resolve(target)
                if hit and hit != name:
                    graph[name].setdefault(hit, line)
    return graph


GRAPH = _graph()


def _package(module: str) -> str:
    """engine.detection.trained.yolo -> "detection"; engine.cli -> "cli"."""
    return module.split(".")[1] if module.count(".") else module


def _edges(where=lambda importer, imported: True) -> list[str]:
    return sorted(
        f"{importer} -> {imported} (line {line})"
        for importer, targets in GRAPH.items()
        for imported, line in targets.items()
        if where(importer, imported)
    )


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(10_000)

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in GRAPH[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_code():
    # A lazy import inside a function counts, and `from package import module` is an edge to the module.
    assert "engine.core.registry" in GRAPH["engine.classification.classify"]
    assert "engine.detection.trained.faster_rcnn" in GRAPH["engine.pipelines.instances"]  # inside a function
    assert len(MODULES) > 80


def test_no_import_cycle():
    cycles = _cycles()
    assert cycles == [], "import cycles:\n" + "\n".join(
        " <-> ".join(cycle) + ":\n  " + "\n  ".join(_edges(lambda a, b, c=set(cycle): a in c and b in c))
        for cycle in cycles
    )


def test_core_imports_nothing_above_it():
    bad = _edges(lambda importer, imported: _package(importer) == "core" and _package(imported) != "core")
    assert bad == [], "engine.core must import only engine.core:\n" + "\n".join(bad)


def test_ops_and_data_import_only_core():
    bad = _edges(
        lambda importer, imported: (
            _package(importer) in ("ops", "data") and _package(imported) not in ("core", _package(importer))
        )
    )
    assert bad == [], "engine.ops / engine.data may import only engine.core:\n" + "\n".join(bad)


def test_a_task_imports_the_foundation_and_only_another_task_s_public_api():
    def bad_edge(importer, imported):
        task, other = _package(importer), _package(imported)
        if task not in TASKS or other in FOUNDATION or other == task:
            return False
        return not (other in TASKS and imported in PUBLIC)

    bad = _edges(bad_edge)
    assert bad == [], (
        f"a task imports core, ops, data and another task's public API only ({', '.join(PUBLIC)}); "
        "cross-task pipelines go to engine/pipelines:\n" + "\n".join(bad)
    )


def test_model_and_api_modules_never_import_their_training():
    # The page's inference (api) and the model it builds need no training code: train imports them. Growing a
    # trained network into a larger one (engine/segmentation/unet/grow.py) is training code too.
    bad = _edges(
        lambda importer, imported: (
            importer.rpartition(".")[2] in ("model", "models", "api")
            and imported.rpartition(".")[2] in ("train", "grow")
            and _package(importer) == _package(imported)
        )
    )
    assert bad == [], "a train module imports its model and api, never the reverse:\n" + "\n".join(bad)


def _module_level_imports(tree: ast.Module) -> list[tuple[str, int]]:
    """Imports run when the module is imported: top-level statements, inside if / try blocks too, but not
    under `if TYPE_CHECKING:` and not inside functions or classes' methods."""
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.module or "", node.lineno))
        elif isinstance(node, ast.If):
            guard = ast.unparse(node.test)
            pending += (
                node.orelse if guard in ("TYPE_CHECKING", "typing.TYPE_CHECKING") else node.body + node.orelse
            )
        elif isinstance(node, ast.Try):
            pending += (
                node.body
                + node.orelse
                + node.finalbody
                + [line for handler in node.handlers for line in handler.body]
            )
        elif isinstance(node, ast.ClassDef):
            pending += [
                line for line in node.body if not isinstance(line, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
    return found


def test_no_engine_module_imports_tensorflow_or_keras_at_import_time():
    heavy = ("tensorflow", "keras", "tensorflow_hub", "tf_keras")
    bad = sorted(
        f"{name} -> {target} (line {line})"
        for name, path in MODULES.items()
        for target, line in _module_level_imports(ast.parse(path.read_text(encoding="utf-8")))
        if target.split(".")[0] in heavy
    )
    assert bad == [], (
        "import TensorFlow / Keras inside functions, so importing the engine stays cheap:\n" + "\n".join(bad)
    )


def test_serving_distributed_and_the_cli_are_imported_by_nothing_below_them():
    def bad_edge(importer, imported):
        layer = next((top for top in TOP if imported == top or imported.startswith(top + ".")), None)
        if layer is None or importer in ("engine.cli", "engine.__main__"):
            return False
        return not (importer == layer or importer.startswith(layer + "."))

    bad = _edges(bad_edge)
    assert bad == [], (
        "only engine.cli (and engine.__main__) import serving, distributed and the CLI:\n" + "\n".join(bad)
    )


def test_nothing_in_the_engine_imports_streamlit():
    bad = sorted(
        f"{name} -> {target} (line {line})"
        for name, path in MODULES.items()
        for target, line in _imports(name, path)
        if target.split(".")[0] == "streamlit"
    )
    assert bad == [], "engine/ must not import Streamlit:\n" + "\n".join(bad)


def test_listing_models_imports_no_tensorflow():
    code = (
        "import json, sys\n"
        "from engine.core import registry\n"
        "rows = registry.describe_all()\n"
        "heavy = sorted(name for name in ('tensorflow', 'keras') if name in sys.modules)\n"
        "print(json.dumps({'rows': len(rows), 'heavy': heavy}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] >= 38
    assert result["heavy"] == [], f"registry.describe_all() imported {result['heavy']}"
