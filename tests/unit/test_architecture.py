"""The public surface is pinned, and the layers only import what ARCHITECTURE.md allows."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import wfkit

PACKAGE = Path(wfkit.__file__).parent


def test_public_names_are_pinned() -> None:
    assert sorted(wfkit.__all__) == sorted(
        [
            "ActivityDefinition",
            "ActivityError",
            "ActivityInfo",
            "ApplicationError",
            "ChildWorkflowError",
            "CodeFrame",
            "Clock",
            "Engine",
            "EngineClosedError",
            "Event",
            "EventType",
            "FakeClock",
            "Histories",
            "History",
            "HistoryFormatError",
            "JsonConverter",
            "NondeterminismError",
            "NotAWfkitDatabaseError",
            "NotInWorkflowError",
            "PayloadConverter",
            "PayloadError",
            "PendingWork",
            "Registry",
            "ReplaySession",
            "ReplaySnapshot",
            "ReplayResult",
            "Replayer",
            "RetryPolicy",
            "SchemaVersionError",
            "StoreCorruptError",
            "StoreError",
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
            "continue_as_new",
            "execute_activity",
            "execute_child",
            "heartbeat",
            "history_dataframe",
            "import_histories",
            "info",
            "now",
            "open_histories",
            "patched",
            "random",
            "run",
            "set_query_handler",
            "side_effect",
            "sleep",
            "stop_at",
            "uuid4",
            "wait_signal",
            "workflow",
        ]
    )
    for name in wfkit.__all__:
        assert hasattr(wfkit, name), name


def _imports(path: Path) -> set[str]:
    """Modules a file imports at run time (imports under `if TYPE_CHECKING:` are for annotations only)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
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


def test_the_engine_never_imports_the_replay_layer() -> None:
    for path in _layer("_engine"):
        assert not any(m.startswith("wfkit._replay") for m in _imports(path)), path.name


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
    private = {m for m in _imports(PACKAGE / "cli.py") if m.startswith("wfkit.")} - {"wfkit._demo"}
    assert private == set()
