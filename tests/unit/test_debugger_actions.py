"""The debugger's actions over a live engine ("fork from here", "save as test"), the what-if colour on the
timeline, and the compare view (widget and HTML report)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import ipywidgets as w
import pytest

import wfkit
from wfkit import EventType as E
from wfkit import ui
from wfkit.plot import timeline
from wfkit.plot._timeline import OUTCOME_COLORS

CALLS: list[str] = []
BROKEN = {"transform": True}


@wfkit.activity
async def da_extract(day: str) -> list[int]:
    CALLS.append("extract")
    return [3, 4, 5]


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=1))
async def da_transform(rows: list[int]) -> dict[str, object]:
    CALLS.append("transform")
    if BROKEN["transform"]:
        raise ValueError("bad row")
    return {"rows": len(rows), "note": "<script>alert(1)</script>" if sum(rows) < 0 else "ok"}


@wfkit.activity
async def da_load(summary: dict[str, object]) -> str:
    CALLS.append("load")
    return f"loaded {summary['rows']}"


@wfkit.workflow
async def da_etl(day: str) -> str:
    rows = await da_extract(day)
    summary = await da_transform(rows)
    return await da_load(summary)


async def _failed_run(engine: wfkit.Engine, workflow_id: str) -> wfkit.WorkflowHandle:
    BROKEN["transform"] = True
    handle = await engine.start(da_etl, "2026-12-01", id=workflow_id)
    with pytest.raises(wfkit.WorkflowFailedError):
        await handle.result()
    BROKEN["transform"] = False
    CALLS.clear()
    return handle


async def test_fork_from_here_forks_at_the_event_shown_and_reuses_what_came_before(engine: wfkit.Engine) -> None:
    handle = await _failed_run(engine, "da-fork")
    widget = ui.debugger(engine, "da-fork")
    assert isinstance(widget, ui.Debugger)
    assert not widget.fork_here.disabled
    history = engine.history("da-fork")
    scheduled = next(e for e in history if e.event_type is E.ActivityTaskScheduled and e.attributes["activity_type"] == "da_transform")
    widget.go(scheduled.event_id)
    task = widget.fork()
    assert task is not None
    await asyncio.wait_for(task, 10)
    assert f"forked at event {scheduled.event_id} as run" in widget.message.value
    [fork] = widget.forks
    assert await asyncio.wait_for(fork.result(), 10) == "loaded 3"
    assert CALLS == ["transform", "load"]  # extract was reused
    assert engine.history(run_id=fork.run_id).events[0].attributes["forked_from_run_id"] == handle.run_id


async def test_fork_from_here_inside_a_workflow_task_forks_before_that_task(engine: wfkit.Engine) -> None:
    await _failed_run(engine, "da-inside")
    widget = ui.debugger(engine, "da-inside")
    assert isinstance(widget, ui.Debugger)
    inside = next(e for e in engine.history("da-inside") if e.event_type is E.WorkflowTaskCompleted and e.event_id > 5)
    widget.go(inside.event_id)
    task = widget.fork()
    assert task is not None
    await asyncio.wait_for(task, 10)
    before = inside.event_id - 3  # the event before that task's WorkflowTaskScheduled
    assert f"forked at event {before}, the resume point before event {inside.event_id}" in widget.message.value
    [fork] = widget.forks
    assert await asyncio.wait_for(fork.result(), 10) == "loaded 3"


async def test_save_as_test_writes_a_regression_test(engine: wfkit.Engine, tmp_path: Path) -> None:
    await _failed_run(engine, "da-save")
    widget = ui.debugger(engine, "da-save")
    assert isinstance(widget, ui.Debugger)
    widget.test_dir.value = str(tmp_path / "regressions")
    widget.save_as_test.click()
    assert "saved as test" in widget.message.value
    [module] = (tmp_path / "regressions").glob("test_*.py")
    assert "replay_test" in module.read_text()
    widget.test_dir.value = "/proc/not-writable"
    widget.save_as_test.click()
    assert "color:#b71c1c" in widget.message.value


async def test_a_debugger_over_a_history_alone_has_no_actions(engine: wfkit.Engine) -> None:
    await _failed_run(engine, "da-alone")
    widget = ui.debugger(engine.history("da-alone"), workflows=[da_etl])
    assert isinstance(widget, ui.Debugger)
    assert widget.fork_here.disabled
    assert widget.fork() is None


async def test_what_if_edits_have_their_own_colour_and_compare_shows_them_escaped(engine: wfkit.Engine, tmp_path: Path) -> None:
    BROKEN["transform"] = False
    original = await engine.start(da_etl, "2026-12-01", id="da-wi")
    await original.result()
    fork = await engine.fork(original.run_id, results={"da_extract": [-1, -2]}, id="da-wi-fork")
    await asyncio.wait_for(fork.result(), 10)
    figure = timeline(engine.history("da-wi-fork"))
    [edited] = [t for t in figure.data if t.name == "edited (what-if)"]
    assert edited.marker.color == OUTCOME_COLORS["edited"]
    assert "what-if: edited; recorded [3, 4, 5]" in edited.hovertext[0]
    assert not [t for t in timeline(engine.history("da-wi")).data if t.name == "edited (what-if)"]

    view = ui.compare(engine, "da-wi", "da-wi-fork")
    assert isinstance(view, w.VBox)
    table = view.children[0].value
    assert "1 reused" not in table  # the edited step is the only one before the cut
    assert ">edited<" in table
    assert ">ran<" in table
    assert "<script>alert" not in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "1 edited</span> · <span style='color:#1565c0'>2 ran</span>; 3 result(s) differ" in table

    page = engine.histories.compare_report("da-wi", "da-wi-fork", tmp_path / "compare.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert" not in page
    assert ">edited<" in page
    assert [r["in_b"] for r in engine.histories.compare_rows("da-wi", "da-wi-fork")] == ["edited", "ran", "ran"]
    assert engine.compare("da-wi", "da-wi-fork").fetchall() == engine.histories.compare("da-wi", "da-wi-fork").fetchall()


async def test_compare_of_an_unknown_run_shows_a_message(engine: wfkit.Engine) -> None:
    view = ui.compare(engine, "nope", "nope-2")
    assert isinstance(view, w.HTML)
    assert "wfkit compare" in view.value
