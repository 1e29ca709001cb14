"""The public surface is pinned, and every module imports only what docs/architecture.md allows.

The first tests are narrow checks (public names, stdlib-only pure layers, no wall clock, no UI
libraries on `import wfkit`, where duckdb may be imported, the CLI on the public API). The rest
walk the AST of every module in wfkit/ — lazy imports inside functions included, imports under
`if TYPE_CHECKING:` excluded — into one import graph, and check it against `LAYERS`.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

import wfkit

PACKAGE = Path(wfkit.__file__).parent


def test_public_names_are_pinned() -> None:
    assert sorted(wfkit.__all__) == sorted(
        [
            "ActivityDefinition",
            "ActivityError",
            "ActivityInfo",
            "ApplicationError",
            "ArgumentError",
            "ForkPointError",
            "BackfillReport",
            "ChildWorkflowError",
            "CodeFrame",
            "CompatibilityReport",
            "CompatibilityResult",
            "Clock",
            "ConfigurationError",
            "DefinitionError",
            "Engine",
            "EngineClosedError",
            "EngineHealth",
            "Event",
            "EventType",
            "ExternalWorkflowError",
            "FakeClock",
            "Histories",
            "History",
            "HistoryFormatError",
            "JsonConverter",
            "NondeterminismError",
            "NondeterministicCallError",
            "NotAWfkitDatabaseError",
            "NotAwaitedError",
            "NotInWorkflowError",
            "PayloadConverter",
            "PayloadError",
            "PendingWork",
            "PurgeReport",
            "QueryNotFoundError",
            "Registry",
            "ReplaySession",
            "ReplaySnapshot",
            "ReplayResult",
            "Replayer",
            "RetryPolicy",
            "RunSummary",
            "ScheduleDescription",
            "ScheduleHandle",
            "SchemaVersionError",
            "StoreCorruptError",
            "StoreError",
            "StoreFencedError",
            "StoreLockedError",
            "StoreUnavailableError",
            "SystemClock",
            "TaskStack",
            "TaskQueue",
            "WfkitError",
            "WorkflowAlreadyStartedError",
            "WorkflowDefinition",
            "WorkflowFailedError",
            "WorkflowHandle",
            "WorkflowInfo",
            "WorkflowNotFoundError",
            "__version__",
            "activity",
            "activity_graph",
            "activity_info",
            "cancel_external",
            "continue_as_new",
            "execute_activity",
            "execute_child",
            "execute_local_activity",
            "heartbeat",
            "history_dataframe",
            "import_histories",
            "info",
            "now",
            "open_histories",
            "patched",
            "purge_histories",
            "random",
            "run",
            "set_query_handler",
            "set_update_handler",
            "upsert_memo",
            "upsert_search_attributes",
            "WorkflowUpdateFailedError",
            "side_effect",
            "signal_external",
            "sleep",
            "stop_at",
            "uuid4",
            "wait_condition",
            "wait_signal",
            "workflow",
        ]
    )
    for name in wfkit.__all__:
        assert hasattr(wfkit, name), name


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    """Modules a file imports at run time, lazy ones included (imports under `if TYPE_CHECKING:` are
    for annotations only). Relative imports come back as `wfkit...`: the tests below only look at
    the top-level name of those."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("wfkit." + "." * node.level + (node.module or ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _layer(name: str) -> list[Path]:
    return sorted((PACKAGE / name).rglob("*.py"))


STDLIB_ONLY = ("_history", "_runtime", "_replay")


def test_pure_layers_import_no_third_party_package_and_no_io_layer() -> None:
    for layer in STDLIB_ONLY:
        for path in _layer(layer):
            for module in _imports(path):
                top = module.split(".")[0]
                assert top == "wfkit" or top in sys.stdlib_module_names, f"{path.name} imports {module}"
                assert not module.startswith(("wfkit._store", "wfkit._engine")), f"{path.name} imports {module}"


def test_only_the_store_imports_duckdb_among_the_core_layers() -> None:
    for layer in ("_history", "_runtime", "_replay", "_engine"):
        for path in _layer(layer):
            assert "duckdb" not in _imports(path), path.name


BANNED_CALLS = {("time", "time"), ("time", "monotonic"), ("datetime", "now"), ("uuid", "uuid4"), ("random", "random"), ("random", "randint")}


def test_the_runtime_uses_no_wall_clock_global_randomness_or_files() -> None:
    for layer in ("_history", "_runtime", "_replay"):
        for path in _layer(layer):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                    assert (node.func.value.id, node.func.attr) not in BANNED_CALLS, f"{path.name}:{node.lineno}"
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id != "open", f"{path.name}:{node.lineno} opens a file"


def test_import_wfkit_does_not_load_the_ui_libraries() -> None:
    code = "import sys, wfkit; print(sorted(m for m in ('plotly', 'ipywidgets', 'networkx', 'IPython') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_only_the_store_and_the_analytics_layer_import_duckdb() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        if part not in ("_store", "_analytics"):
            assert "duckdb" not in _imports(path), path.relative_to(PACKAGE)


def test_the_cli_uses_only_the_public_api() -> None:
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        private = {m for m in _imports(path) if m.startswith("wfkit.") and not m.startswith("wfkit.cli")} - {"wfkit._demo"}
        assert private == set(), path.relative_to(PACKAGE)


#### The layer table and the import graph ####

LAYERS: dict[str, int] = {
    "wfkit.errors": 0,
    "wfkit._version": 0,
    "wfkit._faults": 0,
    "wfkit._html": 0,
    "wfkit._history": 1,
    "wfkit._runtime": 2,
    "wfkit._definitions": 2,
    "wfkit._activity": 2,
    "wfkit._workflow_api": 2,
    "wfkit._schedules": 2,
    "wfkit._replay": 3,
    "wfkit._store": 4,
    "wfkit._engine": 5,
    "wfkit._inspection": 6,
    "wfkit.plot": 6,
    "wfkit._analytics": 6,
    "wfkit.temporal": 6,
    "wfkit.ui": 6,
    "wfkit._sync": 6,
    "wfkit._hooks": 6,
    "wfkit._demo": 6,
    "wfkit.cli": 6,
    "wfkit.testing": 6,
    "wfkit": 7,
}
"""Layer of every top-level module or package of wfkit, low to high. Mirrors docs/architecture.md:
change both together. A module may import modules of its own layer or of lower layers only, at
module level or lazily inside a function alike. Nothing inside wfkit imports `wfkit` (layer 7,
the package __init__), which may import anything. A top-level entry that does not exist is
allowed; a module that exists and is missing here fails the test."""

FRONT_ENDS = {"wfkit.cli", "wfkit._demo"}
"""Interfaces that use wfkit the way a user does, through `import wfkit` (the CLI may use only the
public API, see test_the_cli_uses_only_the_public_api; the demo defines its workflows with
`@wfkit.workflow` like user code). They are the only modules allowed to import the package
__init__, and the package __init__ never imports them (not even lazily)."""

LAYER_NAMES = {
    0: "base",
    1: "history model",
    2: "workflow runtime",
    3: "replay",
    4: "store",
    5: "engine",
    6: "interfaces",
    7: "the package __init__",
}
ROOT = PACKAGE.parent
TABLE = "LAYERS in tests/unit/test_architecture.py and the table in docs/architecture.md"


@dataclass(frozen=True)
class Import:
    """One import of a wfkit module by a wfkit module."""

    source: str
    target: str
    path: Path
    line: int
    function: str | None
    """The enclosing function of a lazy import; None at module level."""
    dynamic: bool = False
    """`importlib.import_module("wfkit....")` rather than an import statement."""

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def how(self) -> str:
        kind = "importlib.import_module" if self.dynamic else "import"
        return f"{kind} inside {self.function}()" if self.function else f"{kind} at module level"

    def describe(self) -> str:
        return f"{self.where()}: {self.source} {_layer_label(self.source)} imports {self.target} {_layer_label(self.target)} ({self.how()})"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Path]:
    """Every module of wfkit by dotted name (a package under its own name, for its __init__.py)."""
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _component(module: str) -> str:
    """The entry of `LAYERS` a module belongs to: `wfkit._engine._writer` -> `wfkit._engine`."""
    return ".".join(module.split(".")[:2])


def _layer_of(module: str) -> int | None:
    return LAYERS.get(_component(module))


def _layer_label(module: str) -> str:
    layer = _layer_of(module)
    return "(not in the layer table)" if layer is None else f"(layer {layer}, {LAYER_NAMES[layer]})"


class _ImportCollector(ast.NodeVisitor):
    """Collects every wfkit import of one module, at any depth; skips `if TYPE_CHECKING:` bodies."""

    def __init__(self, name: str, path: Path, known: dict[str, Path]) -> None:
        self.name, self.path, self.known = name, path, known
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.functions: list[str] = []
        self.found: list[Import] = []
        self.calls_import_module = False
        self.strings: list[tuple[str, int]] = []

    def _add(self, target: str, line: int, dynamic: bool = False) -> None:
        if (target == "wfkit" or target.startswith("wfkit.")) and target != self.name:
            function = ".".join(self.functions) if self.functions else None
            imp = Import(self.name, target, self.path, line, function, dynamic)
            if imp not in self.found:  # `from x import a, b` is one import of x
                self.found.append(imp)

    def _nearest_module(self, dotted: str) -> str:
        """`wfkit._history._events.Event` -> `wfkit._history._events`: the longest prefix that is a module."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in self.known:
                return ".".join(parts[:end])
        return dotted  # a wfkit module that does not exist: reported as not in the table, or at import time

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(self._nearest_module(alias.name), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            # `from wfkit import x` imports the package `wfkit` unless x is a submodule of it.
            self._add(submodule if submodule in self.known else self._nearest_module(base), node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr == "import_module") or (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")):
            self.calls_import_module = True
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value.startswith("wfkit.") and node.value in self.known:
            self.strings.append((node.value, node.lineno))


@functools.cache
def _all_imports() -> tuple[Import, ...]:
    """Every wfkit-to-wfkit import in the package, in file and line order."""
    known = _modules()
    found: list[Import] = []
    for name, path in known.items():
        collector = _ImportCollector(name, path, known)
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        found += collector.found
        if collector.calls_import_module:
            # A module name spelled out in a module that imports by name (`_LAZY = {...: "wfkit.x"}`).
            found += [Import(name, target, path, line, None, dynamic=True) for target, line in dict.fromkeys(collector.strings) if target != name]
    return tuple(found)


@functools.cache
def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(_modules())
    for imp in _all_imports():
        if not graph.has_edge(imp.source, imp.target):
            graph.add_edge(imp.source, imp.target, imports=[])
        graph.edges[imp.source, imp.target]["imports"].append(imp)
    return graph


def _cycle_report(graph: nx.DiGraph, label: str) -> list[str]:
    """One cycle per strongly connected component, each step with the import lines that make it."""
    reports = []
    for component in sorted(nx.strongly_connected_components(graph), key=sorted):
        if len(component) < 2:
            continue
        cycle = nx.find_cycle(graph.subgraph(component), source=min(component))  # the same cycle on every run
        path = " -> ".join([cycle[0][0], *(dst for _, dst in cycle)])
        steps = [f"      {src} -> {dst}: " + "; ".join(i.where() + f" ({i.how()})" for i in graph.edges[src, dst]["imports"]) for src, dst in cycle]
        others = sorted(component - {src for src, _ in cycle})
        tail = [f"      (same circle also takes in: {', '.join(others)})"] if others else []
        reports.append("\n".join([f"  {label} circle: {path}", *steps, *tail]))
    return reports


def test_every_module_is_in_the_layer_table() -> None:
    missing = sorted({_component(m) for m in _modules()} - LAYERS.keys())
    unknown_targets = sorted(
        {f"{i.where()}: {i.source} imports {i.target}" for i in _all_imports() if _layer_of(i.target) is None and _component(i.target) not in missing}
    )
    assert not missing, f"modules not in the layer table: {', '.join(missing)} — add each to {TABLE}"
    assert not unknown_targets, "imports of wfkit modules that are not in the layer table (nor in wfkit/):\n" + "\n".join(unknown_targets)


def test_no_module_imports_a_higher_layer() -> None:
    """Lower or same layer only, lazy imports included; and nothing below the package __init__ imports it."""
    violations = []
    for imp in _all_imports():
        source, target = _layer_of(imp.source), _layer_of(imp.target)
        if source is None or target is None or (_component(imp.source) == _component(imp.target) != "wfkit"):
            continue  # unknown modules fail test_every_module_is_in_the_layer_table
        if imp.target == "wfkit" and _component(imp.source) in FRONT_ENDS:
            continue
        if imp.source == "wfkit" and imp.target in FRONT_ENDS:
            violations.append(f"{imp.describe()}: the package __init__ never imports a front end ({', '.join(sorted(FRONT_ENDS))})")
        elif imp.target == "wfkit":
            violations.append(f"{imp.describe()}: nothing inside wfkit may import the package __init__; import from the module that defines the name")
        elif target > source:
            violations.append(f"{imp.describe()}: upward import")
    assert not violations, (
        f"{len(violations)} upward imports (see the layer table in docs/architecture.md; an interface that needs a hook in a lower layer registers it there):\n"
        + "\n".join(violations)
    )


def test_no_import_circles_between_modules() -> None:
    graph = _graph().copy()
    graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    reports = _cycle_report(graph, "module")
    assert not reports, f"{len(reports)} import circles between modules:\n" + "\n".join(reports)


def test_no_import_circles_between_top_level_modules() -> None:
    """Circles through several files (`_definitions` -> `_runtime._x` -> `_definitions._y`) count too."""
    graph = nx.DiGraph()
    for imp in _all_imports():
        src, dst = _component(imp.source), _component(imp.target)
        if src != dst:
            if not graph.has_edge(src, dst):
                graph.add_edge(src, dst, imports=[])
            graph.edges[src, dst]["imports"].append(imp)
    reports = _cycle_report(graph, "top-level")
    assert not reports, f"{len(reports)} import circles between top-level modules and packages:\n" + "\n".join(reports)


def test_the_engine_never_imports_the_replay_layer() -> None:
    direct = [imp.describe() for imp in _all_imports() if _component(imp.source) == "wfkit._engine" and _component(imp.target) == "wfkit._replay"]
    assert not direct, "the engine imports the replay layer:\n" + "\n".join(direct)


def test_the_engine_does_not_reach_the_replay_layer_through_lower_layers() -> None:
    """Through the store, say. Upward paths already fail the layer test, so only layers 0-5 count here."""
    graph = _graph()
    below = nx.DiGraph(graph.subgraph(m for m in graph if (_layer_of(m) or 99) <= LAYERS["wfkit._engine"]))
    below.remove_edges_from([(a, b) for a, b in below.edges if _component(a) == "wfkit._engine" and _component(b) == "wfkit._replay"])  # the test above
    engine = sorted(m for m in below if _component(m) == "wfkit._engine")
    replay = sorted(m for m in below if _component(m) == "wfkit._replay")
    paths = [" -> ".join(nx.shortest_path(below, e, r)) for e in engine for r in replay if nx.has_path(below, e, r)]
    assert not paths, "the engine loads the replay layer through other modules:\n" + "\n".join(paths)


def test_plot_and_ui_never_import_the_store_or_duckdb() -> None:
    bad = [imp.describe() for imp in _all_imports() if _component(imp.source) in ("wfkit.plot", "wfkit.ui") and _component(imp.target) == "wfkit._store"]
    for name, path in _modules().items():
        if _component(name) in ("wfkit.plot", "wfkit.ui") and any(m == "duckdb" or m.startswith("duckdb.") for m in _imports(path)):
            bad.append(f"{path.relative_to(ROOT)}: {name} imports duckdb")
    assert not bad, "the plots and widgets read histories through the public API, never the store:\n" + "\n".join(bad)
