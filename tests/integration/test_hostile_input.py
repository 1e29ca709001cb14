"""Hostile input: a database file, an export, payload text or CLI arguments from someone else never run code.

A file someone sent you is data. These tests craft one whose workflow and activity types name a
sentinel module, whose payloads hold pickles (of an object that imports that module when
unpickled), `__import__` strings, jsonpickle-style class references, HTML and terminal escape
sequences, and then open it with the engine, `wfkit.open_histories`, the plots, the replay
debugger and the CLI: the sentinel module is never imported (it would write a marker file), and
the text shows as text everywhere. Files that carry SQL code (a view in place of a wfkit table,
a macro named like a built-in function) are refused. SQL helpers bind values and take
identifiers only from their own tables; odd CLI arguments give one-line errors; Parquet imports
are fuzzed (Temporal JSON is fuzzed in tests/temporal/test_temporal_histories.py).

docs/security.md lists what wfkit trusts and what it does not, with the test behind each claim.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wfkit
from tests.support.helpers import run_on_new_loop
from wfkit.cli import main as cli_main

E = wfkit.EventType
SENTINEL = "wfkit_hostile_sentinel"
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert('xss')</script>"
TERMINAL = "\x1b]52;c;cHduZWQ=\x1b\\\x1b[2J"
"""Terminal escape sequences: write the clipboard (OSC 52), clear the screen."""


class _ImportsTheSentinel:
    """Unpickling this imports the sentinel module (pickle calls importlib.import_module)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return importlib.import_module, (SENTINEL,)


PICKLED = base64.b64encode(pickle.dumps(_ImportsTheSentinel())).decode()
HOSTILE_VALUES: list[Any] = [
    f"__import__('{SENTINEL}').evil()",
    {"py/object": f"{SENTINEL}.Evil", "py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["touch pwned"]}]},
    {"__class__": f"{SENTINEL}.Evil", "__module__": SENTINEL, "pickle": PICKLED},
    f"{IMG}{SCRIPT}{TERMINAL}",
]


#### The victim's own code, and a file made from it and then tampered with ####


ACTIVITY_CALLS: list[Any] = []


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.01))
async def h_echo(note: Any) -> Any:
    ACTIVITY_CALLS.append(note)
    if wfkit.activity_info().attempt == 1:
        raise ValueError(f"bad note {IMG} {SCRIPT} {TERMINAL}")
    return note


@wfkit.workflow
async def h_victim(note: Any) -> Any:
    echoed = await h_echo(note)
    signal = await wfkit.wait_signal("go", timeout=5)
    await wfkit.sleep(0.001)
    return [echoed, signal, IMG]


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module that, if anything ever imported it, would write a marker file; importable here and in subprocesses."""
    folder = tmp_path / "sentinel"
    folder.mkdir()
    marker = folder / "IMPORTED"
    (folder / f"{SENTINEL}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n"
        "class Evil:\n    def __init__(self, *args, **kwargs):\n        pass\n"
        "def evil(*args, **kwargs):\n    return Evil()\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    importlib.invalidate_caches()
    yield marker
    assert_not_imported(marker)


def assert_not_imported(marker: Path) -> None:
    assert SENTINEL not in sys.modules, f"{SENTINEL} was imported"
    assert not marker.exists(), f"{SENTINEL} was imported ({marker} exists)"


def _clone(con: duckdb.DuckDBPyConnection, run_id: str, workflow_id: str, workflow_type: str, mutate: Callable[[str, dict[str, Any]], dict[str, Any]]) -> str:
    """Copy a run under a new run id, changing its attributes with `mutate(event_type, attributes)`."""
    new = uuid.uuid4().hex
    rows = con.execute(
        "SELECT event_id, event_time, event_type, activity_id, timer_id, child_id, activity_type, attempt, attributes FROM events WHERE run_id = ?", [run_id]
    ).fetchall()
    for event_id, event_time, event_type, activity_id, timer_id, child_id, activity_type, attempt, attributes in rows:
        attrs = mutate(event_type, json.loads(attributes))
        if event_type == "WorkflowExecutionStarted":
            attrs |= {"workflow_type": workflow_type, "workflow_id": workflow_id}
        con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [new, event_id, event_time, event_type, activity_id, timer_id, child_id, attrs.get("activity_type", activity_type), attempt, json.dumps(attrs)],
        )
    con.execute(
        "INSERT INTO workflows SELECT * REPLACE (? AS run_id, ? AS workflow_id, ? AS workflow_type) FROM workflows WHERE run_id = ?",
        [new, workflow_id, workflow_type, run_id],
    )
    return new


def _poison(event_type: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """Names that point at the sentinel module, payloads that are pickles, text that is markup and escape codes."""
    pickle_payload = {"encoding": "python/pickle", "data": PICKLED}
    if "activity_type" in attrs:
        attrs["activity_type"] = f"{SENTINEL}.load {IMG}{TERMINAL}"
    if event_type == "WorkflowExecutionStarted":
        attrs["input"] = [pickle_payload, {"encoding": "binary/pickle", "data": PICKLED}] + [{"encoding": "json/plain", "data": v} for v in HOSTILE_VALUES]
    elif event_type == "ActivityTaskScheduled":
        attrs["input"] = [pickle_payload]
    elif event_type == "ActivityTaskCompleted":
        attrs["result"] = pickle_payload
    elif event_type == "WorkflowExecutionSignaled":
        attrs["signal_name"] = f"{SCRIPT}{TERMINAL}"
        attrs["input"] = {"encoding": "json/plain", "data": HOSTILE_VALUES}
    elif event_type == "ActivityTaskFailed":
        attrs["failure"] = {"type": f"{SENTINEL}.Boom{IMG}", "message": f"{SCRIPT}{TERMINAL}", "stack": f"__import__('{SENTINEL}')", "non_retryable": False}
    elif event_type == "WorkflowExecutionCompleted":
        attrs["result"] = {"encoding": "json/plain", "data": HOSTILE_VALUES}
    return attrs


async def _make_hostile_file(path: Path) -> dict[str, str]:
    """A real run of `h_victim` with markup in its payloads, then copies of it tampered with by hand."""
    async with wfkit.Engine.open(path) as engine:
        handle = await engine.start(h_victim, {"note": IMG, "more": SCRIPT}, id=f"victim {IMG}")
        await asyncio.sleep(0.05)
        await handle.signal("go", f"{IMG}{TERMINAL}")
        await handle.result()
    con = duckdb.connect(str(path))
    try:
        runs = {
            "victim": handle.run_id,
            "evil": _clone(con, handle.run_id, f"{SCRIPT}{TERMINAL}", f"{SENTINEL}:evil", _poison),
            # Same type as the victim's code: replaying it runs the victim's code on poisoned data.
            "poisoned": _clone(con, handle.run_id, f"poisoned {IMG}", "h_victim", _poison),
        }
        # An open run of a type no one registered, waiting for a signal: the engine must wait for its code, not import it.
        started = _clone(con, handle.run_id, f"open {IMG}", f"{SENTINEL}.Open", _poison)
        con.execute("DELETE FROM events WHERE run_id = ? AND event_id > 4", [started])
        con.execute("UPDATE workflows SET status = 'Running', result = NULL, close_time = NULL, history_length = NULL WHERE run_id = ?", [started])
        runs["open"] = started
    finally:
        con.close()
    return runs


@pytest.fixture
def hostile(tmp_path: Path, sentinel: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "from someone else.duckdb"
    runs = run_on_new_loop(_make_hostile_file(path))
    return path, runs


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a nested structure (a figure's JSON, a widget tree's values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def assert_inert(texts: list[str], *, where: str) -> None:
    """No markup from the file survives as markup."""
    joined = "\n".join(texts)
    for raw in (IMG, "<script>alert(", "onerror=alert(1)>"):
        assert raw not in joined, f"{where}: {raw!r} appears unescaped"


#### Opening, listing, reading, replaying ####


async def test_opening_and_reading_a_hostile_file_runs_no_code_from_it(hostile: tuple[Path, dict[str, str]], sentinel: Path) -> None:
    path, runs = hostile
    ACTIVITY_CALLS.clear()
    async with wfkit.Engine.open(path) as engine:
        waiting = engine.waiting_for_code()
        assert [w.workflow_type for w in waiting] == [f"{SENTINEL}.Open"]  # left untouched, waiting for code
        assert len(engine.runs().fetchall()) == 4
        for run_id in runs.values():
            history = engine.history(run_id=run_id)
            wfkit.history_dataframe(history)
            wfkit.activity_graph(history)
            str(history), history._repr_html_(), history.to_json()
        engine.histories.stats().fetchall(), engine.histories.failures().fetchall(), engine.histories.slowest().fetchall()
        engine.histories.compare(runs["victim"], runs["evil"]).fetchall()
        with pytest.raises(wfkit.WorkflowNotFoundError, match="not registered"):
            await engine.get_handle("x", run_id=runs["evil"]).query("status")
    assert_not_imported(sentinel)

    with wfkit.open_histories(path) as histories:
        assert len(histories.runs().fetchall()) == 4
        histories.stats().fetchall(), histories.failures().fetchall()
        for run_id in runs.values():
            history = histories.history(run_id)
            # Stepping uses only the code passed in: for the poisoned copy of the victim, the victim's own code.
            session = wfkit.ReplaySession(history, workflows=[h_victim])
            for position in range(len(history) + 1):
                snapshot = session.seek(position)
                snapshot._repr_html_()
            wfkit.ReplaySession(history, workflows=[]).seek(len(history))
            with contextlib.suppress(wfkit.WfkitError):
                wfkit.Replayer(workflows=[h_victim]).replay(history)
    assert_not_imported(sentinel)

    assert ACTIVITY_CALLS == []  # reading, replaying and stepping never run activities; only open runs of registered types resume
    # The victim's code decodes the poisoned payloads: an unknown encoding is an error, never an unpickling.
    converter = wfkit.JsonConverter()
    with pytest.raises(wfkit.PayloadError, match="python/pickle"):
        converter.from_payload({"encoding": "python/pickle", "data": PICKLED})
    assert converter.from_payload({"encoding": "json/plain", "data": HOSTILE_VALUES[1]}) == HOSTILE_VALUES[1]  # a dict stays a dict
    assert_not_imported(sentinel)


def test_a_file_carrying_sql_code_is_refused(tmp_path: Path, sentinel: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    good = tmp_path / "good.duckdb"

    async def make() -> None:
        async with wfkit.Engine.open(good) as engine:
            await (await engine.start(h_victim, "x", id="w")).signal("go", 1)
            await engine.get_handle("w").result()

    run_on_new_loop(make())
    leak = f"error('SQL FROM THE FILE RAN: ' || content) FROM read_text('{secret}')"

    def variant(name: str, *statements: str) -> Path:
        path = tmp_path / f"{name}.duckdb"
        shutil.copy(good, path)
        con = duckdb.connect(str(path))
        for statement in statements:
            con.execute(statement)
        con.close()
        return path

    macro = variant("macro", f"CREATE MACRO epoch_us(x) AS (SELECT {leak})")
    view = variant("view", "ALTER TABLE events RENAME TO events_data", f"CREATE VIEW events AS SELECT * FROM events_data WHERE (SELECT {leak}) IS NULL")
    views = variant("views", f"CREATE OR REPLACE VIEW runs AS SELECT {leak}", f"CREATE OR REPLACE VIEW activity_stats AS SELECT {leak}")

    async def open_engine(path: Path) -> list[Any]:
        async with wfkit.Engine.open(path) as engine:
            return [engine.histories.stats().fetchall(), engine.sql("SELECT count(*) FROM runs").fetchall()]

    for path, name in ((macro, "epoch_us"), (view, "events is a view")):
        with pytest.raises(wfkit.NotAWfkitDatabaseError, match=name):
            run_on_new_loop(open_engine(path))
        run_on_new_loop(open_engine(good))  # the refused file was released: nothing holds it open ...
        with duckdb.connect(str(path)):  # ... so another process, or this one, can open it
            pass
    with pytest.raises(wfkit.NotAWfkitDatabaseError, match="events is a view"):
        wfkit.open_histories(view)
    with wfkit.open_histories(macro) as histories:  # an attached file's macros are never called
        assert histories.history("w").workflow_type == "h_victim"
    # Changed analytic views are not used: wfkit's own definitions hide them.
    assert run_on_new_loop(open_engine(views))[1] == [(1,)]
    with wfkit.open_histories(views) as histories:
        assert histories.sql("SELECT count(*) FROM runs").fetchall() == [(1,)]
    result = CliRunner().invoke(cli_main, ["ls", "--db", str(view)])
    assert result.exit_code == 1
    assert "events is a view" in _one_error_line(result.stderr)
    assert "TOP SECRET" not in result.output + result.stderr
    # What wfkit relies on DuckDB for: a table cannot run a query of its own when rows are written or read.
    with duckdb.connect() as con:
        con.execute(f"CREATE MACRO sneaky(x) AS (SELECT {leak})")
        for ddl in (
            f"CREATE TABLE t (a INT, b VARCHAR DEFAULT ((SELECT {leak})))",
            "CREATE TABLE t (a INT, b VARCHAR DEFAULT (sneaky(1)))",
            "CREATE TABLE t (a INT, b VARCHAR GENERATED ALWAYS AS (sneaky(a)))",
            "CREATE TABLE t (a INT CHECK (sneaky(a) IS NOT NULL))",
        ):
            with pytest.raises(duckdb.Error, match="subquer"):
                con.execute(ddl)


def test_a_damaged_open_run_is_a_clear_error_and_the_file_is_released(tmp_path: Path) -> None:
    good = tmp_path / "good.duckdb"

    async def make() -> str:
        async with wfkit.Engine.open(good) as engine:
            handle = await engine.start(h_victim, "x", id="open")
            await asyncio.sleep(0.1)  # its activity is done; it waits for a signal, and stays open in the file
            return handle.run_id

    run_id = run_on_new_loop(make())
    damages = {
        "cannot be read: 'Bogus' is not a valid EventType": "UPDATE events SET event_type = 'Bogus' WHERE event_id = 3",
        "cannot be read: its attributes are not a JSON object": "UPDATE events SET attributes = '[1, 2]' WHERE event_id = 3",
        "cannot be resumed: ValueError('history gap": "DELETE FROM events WHERE event_id = 3",
        "cannot be resumed: KeyError('activity_id')": "UPDATE events SET attributes = '{}' WHERE event_type = 'ActivityTaskScheduled'",
    }
    for number, (message, damage) in enumerate(damages.items()):
        path = tmp_path / f"damaged-{number}.duckdb"
        shutil.copy(good, path)
        with duckdb.connect(str(path)) as con:
            con.execute(damage)

        async def open_it(path: Path = path) -> None:
            async with wfkit.Engine.open(path):
                pass

        with pytest.raises(wfkit.StoreCorruptError, match=f"{run_id}.*{message[:40]}".replace("(", r"\(").replace("[", r"\[")):
            run_on_new_loop(open_it())
        with wfkit.open_histories(path) as histories:  # released: this process can open it again
            assert len(histories.runs().fetchall()) == 1
            with contextlib.suppress(wfkit.StoreCorruptError):
                histories.history(run_id)


#### What the file's text looks like: plots, debugger, report, CLI ####


def test_plots_show_hostile_text_as_text(hostile: tuple[Path, dict[str, str]]) -> None:
    from wfkit import plot

    path, runs = hostile
    with wfkit.open_histories(path) as histories:
        histories_ = [histories.history(run_id) for run_id in runs.values()]
    for history in histories_:
        for figure in (plot.timeline(history), plot.graph(history), plot.timeline(history, workflow_tasks=True)):
            texts = list(_strings(figure.to_plotly_json()))
            assert_inert(texts, where=f"plot of {history.workflow_id!r}")
    for figure in (plot.duration_distribution(histories_), plot.failures_by_type(histories_)):
        assert_inert(list(_strings(figure.to_plotly_json())), where="summary charts")
    hovers = "\n".join(_strings(plot.timeline(histories_[1]).to_plotly_json()))
    assert "&lt;img src=x onerror=alert(1)&gt;" in hovers
    assert "&lt;script&gt;" in hovers


def test_the_debugger_shows_hostile_text_as_text(hostile: tuple[Path, dict[str, str]]) -> None:
    import ipywidgets as w

    from wfkit import ui

    path, runs = hostile
    with wfkit.open_histories(path) as histories:
        loaded = {name: histories.history(run_id) for name, run_id in runs.items()}
    seen: list[str] = []
    for name, history in loaded.items():
        widget = ui.debugger(history, workflows=[h_victim])
        assert isinstance(widget, ui.Debugger), name
        for position in range(len(history) + 1):
            widget.go(position)
            panels = [widget.status, widget.stack, widget.locals, widget.pending, widget.event, widget.breakpoints]
            values = [panel.value for panel in panels]
            assert_inert(values, where=f"debugger panels of {name} at event {position}")
            seen += values
        for choice in widget.break_on.options:
            if str(choice).startswith("activity "):
                widget.break_on.value = choice
                widget._add_breakpoint()
        assert_inert([widget.breakpoints.value], where=f"breakpoints of {name}")
        figures = [fig.to_plotly_json() for fig in (widget.timeline, widget.graph) if fig is not None]
        assert_inert(list(_strings(figures)), where=f"debugger figures of {name}")
        assert all(isinstance(c, w.Widget) for c in widget.children)
    shown = "\n".join(seen)
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown
    assert "&lt;script&gt;" in shown
    assert "pickle" in shown  # the poisoned payloads are shown (as data), never decoded


def test_the_html_report_shows_hostile_text_as_text(hostile: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, runs = hostile
    with wfkit.open_histories(path) as histories:
        for name, run_id in runs.items():
            page = Path(histories.report(run_id, tmp_path / f"{name}.html")).read_text()
            assert_inert([page], where=f"report of {name}")
            assert page.count("<script") == 2, name  # plotly.js and the figures; none from the file
            assert "&lt;img src=x onerror=alert(1)&gt;" in page or "\\u003cimg src=x onerror=alert(1)\\u003e" in page


def _one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


def test_the_cli_prints_hostile_text_as_inert_text(hostile: tuple[Path, dict[str, str]], tmp_path: Path, sentinel: Path) -> None:
    path, runs = hostile
    runner = CliRunner()
    outputs = []
    for args in (
        ["ls"],
        ["ls", "--status", "running"],
        ["stats"],
        ["show", runs["evil"]],
        ["show", runs["poisoned"]],
        ["show", runs["open"]],
        ["show", runs["evil"], "--json"],
        ["sql", "SELECT workflow_id, workflow_type, result FROM workflows"],
        ["sql", "SELECT workflow_id, result FROM workflows", "--json"],
        ["report", runs["evil"], "-o", str(tmp_path / "cli report.html")],
    ):
        result = runner.invoke(cli_main, [*args, "--db", str(path)], catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        outputs.append(result.output)
        for control in ("\x1b", "\x07", "\x9b"):
            assert control not in result.output + result.stderr, f"wfkit {' '.join(args)} printed a terminal control character {control!r}"
    shown = "\n".join(outputs)
    assert f"{SENTINEL}:evil" in shown  # names are shown, never imported
    assert "python/pickle" in shown
    page = (tmp_path / "cli report.html").read_text()
    assert_inert([page], where="wfkit report")
    # The installed entry point, from a directory where the sentinel module is importable.
    script = Path(sys.executable).parent / "wfkit"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from wfkit.cli import main; main()"]
    for args in (["ls"], ["show", runs["evil"]], ["stats"]):
        done = subprocess.run([*command, *args, "--db", str(path)], capture_output=True, text=True, timeout=60, cwd=sentinel.parent)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout
    assert_not_imported(sentinel)


#### SQL helpers ####


def test_sql_helpers_bind_values_and_take_identifiers_only_from_their_own_tables(hostile: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, runs = hostile
    injection = "x' OR '1'='1'; DROP TABLE events; --"

    def events(h: Any) -> int:
        return int(h.sql("SELECT count(*) FROM events").fetchall()[0][0])

    with wfkit.open_histories(path) as h:
        before = events(h)
        with pytest.raises(ValueError, match="stats"):
            h.stats(by="activity; DROP TABLE events")
        with pytest.raises(ValueError, match="slowest"):
            h.slowest(kind="runs UNION SELECT * FROM events")
        with pytest.raises(ValueError, match="positive integer"):
            h.slowest(n="1; DROP TABLE events")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="limit"):
            h.runs(limit="1; DROP TABLE events")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ISO 8601"):
            h.failures(since=injection)
        with pytest.raises(ValueError, match="export format"):
            h.export(tmp_path / "out", format="parquet) TO '/tmp/x' (FORMAT csv")
        assert h.slowest(type=injection).fetchall() == []
        assert h.runs(status=injection, workflow_type=injection).fetchall() == []
        for ident in (injection, "' OR ''='", "%", runs["victim"][:6] + "%"):
            with pytest.raises(wfkit.WorkflowNotFoundError):
                h.resolve(ident)
        assert h.sql("SELECT ?", [injection]).fetchall() == [(injection,)]
        assert events(h) == before
    # File and directory names are never spliced into SQL as identifiers or unquoted text.
    odd = tmp_path / "x'; DROP TABLE events; --.duckdb"
    shutil.copy(path, odd)
    with wfkit.open_histories(odd) as h:
        assert all(alias.isidentifier() for alias in h.databases)
        export_dir = tmp_path / "it's an export; --"
        h.export(export_dir)
    with wfkit.open_histories(export_dir) as h:
        assert events(h) == before
    counts = wfkit.import_histories(export_dir, db=tmp_path / "copy's.duckdb")
    assert counts["events"] == before

    async def engine_sql() -> Any:
        async with wfkit.Engine.open(tmp_path / "copy's.duckdb") as engine:
            return engine.sql("SELECT count(*) FROM events WHERE run_id = ?", [injection]).fetchall()

    assert run_on_new_loop(engine_sql()) == [(0,)]


#### Odd CLI arguments ####


def test_odd_cli_arguments_and_paths_give_one_line_errors(hostile: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, runs = hostile
    runner = CliRunner()

    def error(*args: str | Path, code: int = 1) -> str:
        result = runner.invoke(cli_main, [str(a) for a in args])
        assert result.exit_code == code, (args, result.output, result.stderr, result.exception)
        if code == 2:  # click's usage errors: the usage, a hint, and one error line; no traceback
            assert "Traceback" not in result.stderr
            errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1, result.stderr
            return errors[0]
        return _one_error_line(result.stderr)

    spaced = tmp_path / "a folder with spaces" / "my runs.duckdb"
    spaced.parent.mkdir()
    shutil.copy(path, spaced)
    assert runner.invoke(cli_main, ["ls", "--db", str(spaced)]).exit_code == 0
    assert "no such database" in error("ls", "--db", tmp_path / "a folder with spaces" / "missing runs.duckdb")
    assert "is a directory" in error("ls", "--db", spaced.parent, code=2)
    (tmp_path / "empty.duckdb").write_bytes(b"")
    error("stats", "--db", tmp_path / "empty.duckdb")
    (tmp_path / "junk.duckdb").write_bytes(os.urandom(9000))
    error("show", "x", "--db", tmp_path / "junk.duckdb")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE sales (x INT)").close()
    assert "not a wfkit one" in error("ls", "--db", other)
    assert "no run or workflow" in error("show", "'; DROP TABLE events; --\nsecond line", "--db", path)
    assert "no run or workflow" in error("show", TERMINAL, "--db", path)
    error("report", runs["victim"], "-o", tmp_path / "no such folder" / "r.html", "--db", path)
    assert "is a directory" in error("report", runs["victim"], "-o", tmp_path, "--db", path, code=2)
    error("import", tmp_path / "missing export", "--db", tmp_path / "x.duckdb", code=2)
    error("import", spaced.parent, "--db", tmp_path / "x.duckdb")
    (tmp_path / "a file").write_text("x")
    assert "is a file" in error("export", tmp_path / "a file", "--db", path, code=2)
    error("ls", "--limit", "-5", "--db", path, code=2)
    # Error messages quote what they were given: no terminal control characters reach the terminal.
    result = runner.invoke(cli_main, ["show", TERMINAL, "--db", str(path)])
    assert "\x1b" not in result.stderr


#### Parquet imports, fuzzed ####


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-export")

    async def make() -> None:
        async with wfkit.Engine.open(root / "source.duckdb") as engine:
            for k in range(2):
                handle = await engine.start(h_victim, {"k": k}, id=f"fuzz-{k}")
                await asyncio.sleep(0.03)
                await handle.signal("go", k)
                await handle.result()
            await engine.start(h_victim, "open", id="fuzz-open")  # an open run, exported as Running
            await asyncio.sleep(0.05)

    run_on_new_loop(make())
    with wfkit.open_histories(root / "source.duckdb") as h:
        h.export(root / "export")
    return root / "export"


COLUMNS = ["run_id", "event_id", "event_time", "event_type", "activity_id", "attempt", "attributes"]
VALUES = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.sampled_from(["", "Bogus", "WorkflowExecutionStarted", "ActivityTaskCompleted", "{}", "[]", "null", "{", '{"input": 5}', "1970-01-01", "x" * 300]),
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _import_outcome(source: Path, db: Path) -> None:
    """A correct import (every imported history reads back) or a clear wfkit error; nothing else."""
    try:
        wfkit.import_histories(source, db=db)
    except (wfkit.WfkitError, FileNotFoundError):
        return
    with wfkit.open_histories(db) as h:
        for (run_id,) in h.sql("SELECT run_id FROM workflows").fetchall():
            history = h.history(run_id)
            assert history.events[0].event_type is E.WorkflowExecutionStarted
            assert [e.event_id for e in history] == list(range(1, len(history) + 1))
            assert all(isinstance(e.attributes, dict) for e in history)
        h.stats().fetchall(), h.runs().fetchall(), h.failures().fetchall()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_parquet_import_with_changed_values(export_dir: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    target = work / "export"
    shutil.copytree(export_dir, target)
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE e AS SELECT * FROM read_parquet(?)", [str(target / "events.parquet")])
        n = con.execute("SELECT count(*) FROM e").fetchall()[0][0]
        con.execute("ALTER TABLE e ALTER attributes TYPE VARCHAR")
        for _ in range(data.draw(st.integers(1, 4), label="changes")):
            column = data.draw(st.sampled_from(COLUMNS), label="column")
            row = data.draw(st.integers(1, n), label="row")
            value = data.draw(VALUES, label="value")
            with contextlib.suppress(duckdb.Error):  # a value the column cannot hold: that change is skipped
                con.execute(f"UPDATE e SET {column} = ? WHERE rowid = (SELECT rowid FROM e ORDER BY run_id, event_id LIMIT 1 OFFSET ?)", [value, row - 1])
        if data.draw(st.booleans(), label="retype a column"):
            column = data.draw(st.sampled_from(COLUMNS), label="retyped")
            with contextlib.suppress(duckdb.Error):
                con.execute(f"ALTER TABLE e ALTER {column} TYPE VARCHAR")
        if data.draw(st.booleans(), label="drop a column"):
            con.execute(f"ALTER TABLE e DROP COLUMN {data.draw(st.sampled_from(COLUMNS), label='dropped')}")
        con.execute("COPY e TO ? (FORMAT parquet)", [str(target / "events.parquet")])
    finally:
        con.close()
    _import_outcome(target, work / "imported.duckdb")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_parquet_import_with_damaged_bytes(export_dir: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    target = work / "export"
    shutil.copytree(export_dir, target)
    name = data.draw(st.sampled_from(["events.parquet", "workflows.parquet", "wfkit-export.json"]), label="file")
    raw = bytearray((target / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 8), label="bytes")):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans(), label="truncate"):
        del raw[data.draw(st.integers(0, len(raw) - 1)) :]
    (target / name).write_bytes(bytes(raw))
    _import_outcome(target, work / "imported.duckdb")


def test_import_refuses_what_it_cannot_read_back(export_dir: Path, tmp_path: Path) -> None:
    """Found by the fuzzing above: each of these imported and then broke every later read."""
    cases = {
        "unknown event type": "UPDATE e SET event_type = 'Bogus' WHERE event_id = 2",
        "attributes that are not an object": "UPDATE e SET attributes = '[1, 2]' WHERE event_id = 3",
        "no run id": "UPDATE e SET run_id = NULL WHERE event_id = 2",
        "no event time": "UPDATE e SET event_time = NULL WHERE event_id = 2",
    }
    seen = collections.Counter[str]()
    for label, change in cases.items():
        target = tmp_path / label.replace(" ", "-")
        shutil.copytree(export_dir, target)
        con = duckdb.connect()
        con.execute("CREATE TABLE e AS SELECT * FROM read_parquet(?)", [str(target / "events.parquet")])
        con.execute(change)
        con.execute("COPY e TO ? (FORMAT parquet)", [str(target / "events.parquet")])
        con.close()
        with pytest.raises(wfkit.HistoryFormatError, match="nothing was imported") as raised:
            wfkit.import_histories(target, db=tmp_path / f"{target.name}.duckdb")
        seen[label] += 1
        assert "\n" not in str(raised.value)
    assert len(seen) == len(cases)
