"""The debugger stops where workflow code raised, and at line breakpoints, with the frames and locals of that moment."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import ipywidgets as w
import pytest

import wfkit
from wfkit import ui
from wfkit.temporal import load_history, to_temporal_json

E = wfkit.EventType


@wfkit.activity
async def dbgb_extract(day: str) -> list[int]:
    return [4, 2, 0, 1]


@wfkit.workflow
async def dbgb_ratios(day: str) -> float:
    rows = await dbgb_extract(day)
    total = 0.0
    for row in rows:
        ratio = 100 / row
        total += ratio
    return total


def _line(text: str) -> int:
    """The line number of `text` in dbgb_ratios's source (so the test survives edits above it)."""
    lines, first = inspect.getsourcelines(dbgb_ratios.fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


@pytest.fixture
async def failed(engine: wfkit.Engine) -> wfkit.History:
    handle = await engine.start(dbgb_ratios, "2026-11-30", id="ratios")
    with pytest.raises(wfkit.WorkflowFailedError, match="ZeroDivisionError"):
        await handle.result()
    return engine.history("ratios")


def test_run_to_stops_where_the_workflow_code_raised_with_the_locals_of_that_frame(failed: wfkit.History) -> None:
    session = wfkit.ReplaySession(failed, workflows=[dbgb_ratios])
    snap = session.run_to()
    assert snap.event is not None
    assert snap.event.event_type is E.WorkflowTaskStarted
    assert snap.position < len(failed)
    assert snap.exception is not None
    assert snap.exception.type == "ZeroDivisionError"
    where = snap.exception.where
    assert where is not None
    assert where.lineno == _line("ratio = 100 / row")
    assert where.source == "ratio = 100 / row"
    assert where.locals["row"] == "0"
    assert where.locals["total"] == "75.0"
    assert "ZeroDivisionError: division by zero" in snap.exception.traceback
    assert snap.current_line == (where.filename, where.lineno)
    assert "raised ZeroDivisionError" in snap._repr_html_()
    # Without break_on_exception it runs to the end; the exception stays visible there.
    end = wfkit.ReplaySession(failed, workflows=[dbgb_ratios]).run_to(break_on_exception=False)
    assert end.position == len(failed)
    assert end.exception is not None


def test_a_line_breakpoint_stops_at_each_time_the_line_runs(failed: wfkit.History) -> None:
    session = wfkit.ReplaySession(failed, workflows=[dbgb_ratios])
    session.add_breakpoint(line=_line("total += ratio"))
    seen = []
    for _ in range(2):
        snap = session.run_to(break_on_exception=False)
        assert snap.line_hit is not None
        assert snap.line_hit.lineno == _line("total += ratio")
        inner = snap.line_hit.frames[-1]
        assert inner.function.endswith("dbgb_ratios")
        assert inner.source == "total += ratio"
        seen.append((inner.locals["row"], inner.locals["ratio"], inner.locals["total"]))
    assert seen == [("4", "25.0", "0.0"), ("2", "50.0", "25.0")]  # each iteration, before the line runs
    # Two iterations reach the line before row 0 raises; the next run_to goes on to the end.
    assert session.run_to(break_on_exception=False).line_hit is None
    assert session.position == len(failed)
    session.clear_breakpoints()
    assert session.line_breakpoints == []


def test_line_breakpoints_by_file_and_on_imported_temporal_histories(failed: wfkit.History, tmp_path: Path) -> None:
    path = tmp_path / "ratios.json"
    path.write_text(json.dumps(to_temporal_json(failed)))
    imported = load_history(path)
    session = wfkit.ReplaySession(imported, workflows=[dbgb_ratios])
    assert session.run_to().exception is not None  # a Temporal history with the code: the raise point too
    session = wfkit.ReplaySession(imported, workflows=[dbgb_ratios])
    session.add_breakpoint(line=_line("ratio = 100 / row"), file=Path(__file__).name)
    assert session.run_to().line_hit is not None
    with pytest.raises(wfkit.ArgumentError, match="needs file="):
        wfkit.ReplaySession(failed).add_breakpoint(line=3)


def test_the_debugger_widget_breaks_on_exceptions_and_on_clicked_lines(failed: wfkit.History) -> None:
    debugger = ui.Debugger(wfkit.ReplaySession(failed, workflows=[dbgb_ratios]), show_timeline=False, show_graph=False)
    assert debugger.break_on_exception.value is True
    debugger.to_breakpoint.click()
    assert "the workflow code raised ZeroDivisionError" in debugger.status.value
    assert "row" in debugger.locals.value
    assert "75.0" in debugger.locals.value
    marked = [label for label, n in debugger.code.options if n == _line("ratio = 100 / row")]
    assert marked[0].startswith("▶")
    debugger.first.click()
    debugger.code.value = _line("total += ratio")  # a click on a code line sets a breakpoint there
    assert f"line {Path(__file__).name}:{_line('total += ratio')}" in debugger.breakpoints.value
    debugger.to_breakpoint.click()
    assert "stopped at line breakpoint" in debugger.status.value
    assert any("●" in label for label, _ in debugger.code.options)
    debugger.line_input.value = "nonsense"
    debugger.add_line.click()
    assert "expected a line number or file.py:line" in debugger.status.value
    debugger.break_on_exception.value = False
    debugger.toggle_line(_line("total += ratio"))  # clears it
    assert debugger.session.line_breakpoints == []
    debugger.to_breakpoint.click()
    assert debugger.session.position == len(failed)
    assert isinstance(debugger.tabs.children[4], w.VBox)
