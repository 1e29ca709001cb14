"""Redefining a workflow while runs of it are open: each run is replayed on the new code and reported.

A compatible edit switches the runs to the new code; an incompatible one names the first divergent
command (recorded vs new, with the new code's file:line) and the run waits, blocked, not failed,
until a compatible definition is registered.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wfkit

E = wfkit.EventType


@wfkit.activity
async def c_step(name: str) -> str:
    return name


@wfkit.activity
async def c_other(name: str) -> str:
    return name


def line_of(fn: Callable[..., Any], text: str) -> str:
    """ "test_compatibility.py:<n>", the first line of `fn`'s source containing `text`."""
    lines, first = inspect.getsourcelines(fn)
    return f"{Path(__file__).name}:{first + next(i for i, line in enumerate(lines) if text in line)}"


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def scheduled(engine: wfkit.Engine, workflow_id: str) -> list[wfkit.Event]:
    return [e for e in engine.history(workflow_id) if e.event_type is E.ActivityTaskScheduled]


async def test_a_compatible_edit_is_reported_compatible_and_the_run_completes_on_the_new_code(db_path: Path) -> None:
    registry = wfkit.Registry()

    @wfkit.workflow(name="c_ok", registry=registry)
    async def v1() -> list[str]:
        a = await c_step("a")
        await wfkit.wait_signal("next")
        return [a, "v1"]

    async with wfkit.Engine.open(db_path, registry=registry) as engine:
        handle = await engine.start(v1, id="ok-1")
        await wait_until(lambda: len(scheduled(engine, "ok-1")) == 1 and not engine.health().pending_rows)

        @wfkit.workflow(name="c_ok", registry=registry)  # the cell re-run: a value computed after the last command
        async def v2() -> list[str]:
            a = await c_step("a")
            await wfkit.wait_signal("next")
            wfkit.info()  # a new line that issues no command
            return [a, "v2"]

        report = engine.last_compatibility_report  # no warning was raised (warnings are errors in this suite)
        assert report is not None
        assert report.compatible
        assert [(r.workflow_id, r.compatible, r.event_id, r.location) for r in report] == [("ok-1", True, None, None)]
        assert engine.check_compatibility("c_ok") == report
        await handle.signal("next")
        assert await handle.result() == ["a", "v2"]


async def test_an_incompatible_edit_names_the_divergence_and_its_line_and_the_run_waits_for_compatible_code(db_path: Path) -> None:
    registry = wfkit.Registry()

    @wfkit.workflow(name="c_edit", registry=registry)
    async def v1() -> list[str]:
        a = await c_step("a")
        await wfkit.wait_signal("next")
        return [a, "v1"]

    async with wfkit.Engine.open(db_path, registry=registry) as engine:
        handle = await engine.start(v1, id="edit-1")
        await wait_until(lambda: len(scheduled(engine, "edit-1")) == 1)
        recorded_id = scheduled(engine, "edit-1")[0].event_id

        async def v2() -> list[str]:
            b = await c_other("b-first")  # a different activity where history recorded c_step
            await wfkit.wait_signal("next")
            return [b, "v2"]

        with pytest.warns(RuntimeWarning, match=r"edit-1 .* is incompatible .* ActivityTaskScheduled\(c_other\) at test_compatibility.py:\d+") as caught:
            wfkit.workflow(name="c_edit", registry=registry)(v2)
        assert len(caught) == 1
        report = engine.last_compatibility_report
        assert report is not None
        assert not report.compatible
        [result] = report
        assert result.workflow_id == "edit-1"
        assert result.run_id == handle.run_id
        assert result.workflow_type == "c_edit"
        assert result.event_id == recorded_id
        assert (result.recorded, result.new) == ("ActivityTaskScheduled(c_step)", "ActivityTaskScheduled(c_other)")
        assert result.location == line_of(v2, "c_other(")
        assert result.location in result.message
        assert "waits for a compatible definition" in result.message
        assert "incompatible" in str(report)
        assert result.location in str(report)

        # The run waits, blocked, not failed: a signal is recorded but no workflow task runs.
        assert [r.workflow_id for r in engine.blocked_runs()] == ["edit-1"]
        await handle.signal("next")
        await asyncio.sleep(0.1)
        assert handle.describe().status == "Running"
        types = {e.event_type for e in engine.history("edit-1")}
        assert E.WorkflowExecutionSignaled in types
        assert E.WorkflowTaskFailed not in types
        assert E.WorkflowExecutionFailed not in types

        @wfkit.workflow(name="c_edit", registry=registry)  # compatible again: the run continues on it
        async def v3() -> list[str]:
            a = await c_step("a")
            await wfkit.wait_signal("next")
            return [a, "v3"]

        assert await handle.result() == ["a", "v3"]
        assert engine.blocked_runs() == []
    async with wfkit.Engine.open(db_path, registry=registry) as engine:  # the history replays on the code that finished it
        assert engine.get_handle("edit-1").describe().status == "Completed"


async def test_check_compatibility_takes_a_name_or_a_definition_it_does_not_install(db_path: Path) -> None:
    registry = wfkit.Registry()

    @wfkit.workflow(name="c_named", registry=registry)
    async def v1() -> str:
        a = await c_step("a")
        await wfkit.wait_signal("next")
        return a

    async with wfkit.Engine.open(db_path, registry=registry) as engine:
        first = await engine.start(v1, id="named-1")
        await engine.start(v1, id="named-2")
        await wait_until(lambda: all(len(scheduled(engine, w)) == 1 for w in ("named-1", "named-2")))
        by_name = engine.check_compatibility("c_named")
        assert sorted(r.workflow_id for r in by_name) == ["named-1", "named-2"]
        assert by_name.compatible

        @wfkit.workflow(name="c_named", registry=wfkit.Registry())  # a draft, kept out of the engine's registry
        async def draft() -> str:
            await wfkit.wait_signal("next")  # waits where history recorded an activity
            return "draft"

        report = engine.check_compatibility(draft)
        assert [(r.compatible, r.recorded, r.new) for r in report] == [(False, "ActivityTaskScheduled(c_step)", "no command")] * 2
        assert {r.location for r in report} == {line_of(draft.fn, "wait_signal")}  # where the new code waits instead
        assert report.incompatible == list(report)
        assert engine.registry.workflow("c_named") is v1
        assert engine.last_compatibility_report is None
        with pytest.raises(wfkit.WorkflowNotFoundError, match="no workflow named 'nope'"):
            engine.check_compatibility("nope")
        await first.signal("next")
        assert await first.result() == "a"  # the draft changed nothing
        assert [r.workflow_id for r in engine.check_compatibility("c_named")] == ["named-2"]


async def test_the_report_table_escapes_html_in_workflow_ids(db_path: Path) -> None:
    registry = wfkit.Registry()

    @wfkit.workflow(name="c_html", registry=registry)
    async def v1() -> str:
        a = await c_step("a")
        await wfkit.wait_signal("next")
        return a

    @wfkit.workflow(name="c_html", registry=wfkit.Registry())
    async def other() -> str:
        return await c_other("<b>")

    async with wfkit.Engine.open(db_path, registry=registry) as engine:
        handle = await engine.start(v1, id="<script>alert(1)</script>")
        await wait_until(lambda: len(scheduled(engine, handle.workflow_id)) == 1)
        report = engine.check_compatibility(other)
        html = report._repr_html_()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "incompatible" in html
        assert line_of(other.fn, "c_other(") in html
        assert "<script>alert(1)</script>" in str(report)  # plain text for terminals
        assert "no open runs" in wfkit.CompatibilityReport()._repr_html_()
        await handle.signal("next")
        assert await handle.result() == "a"


GATE = threading.Event()


async def test_a_redefinition_while_a_workflow_task_runs_switches_the_run_once_that_task_is_recorded(db_path: Path) -> None:
    GATE.clear()
    registry = wfkit.Registry()

    @wfkit.workflow(name="c_busy", registry=registry)
    async def v1() -> str:
        await wfkit.wait_signal("go")
        GATE.wait(5)  # the code holds its activation thread while the cell is re-run
        return await c_step("v1")

    async with wfkit.Engine.open(db_path, registry=registry, deadlock_timeout=10) as engine:
        handle = await engine.start(v1, id="busy-1")
        signal = asyncio.ensure_future(handle.signal("go"))
        await wait_until(
            lambda: [e.event_type for e in engine.history("busy-1")][-3:] == [E.WorkflowExecutionSignaled, E.WorkflowTaskScheduled, E.WorkflowTaskStarted]
        )

        @wfkit.workflow(name="c_busy", registry=registry)
        async def v2() -> str:
            await wfkit.wait_signal("go")
            return await c_step("v2")

        assert engine.last_compatibility_report is None  # checked once the task in flight is recorded
        GATE.set()
        await signal
        assert await handle.result() == "v1"  # the activity the old code scheduled, its result seen by the new code
        report = engine.last_compatibility_report
        assert report is not None
        assert [(r.workflow_id, r.compatible) for r in report] == [("busy-1", True)]
        types = [e.event_type for e in engine.history("busy-1")]
        assert types.count(E.WorkflowTaskStarted) == types.count(E.WorkflowTaskCompleted)  # no task left behind


@wfkit.workflow
async def c_long(steps: int) -> int:
    for i in range(steps):
        await c_step(str(i))
    await wfkit.wait_signal("next")
    return steps


async def test_checking_50_open_runs_of_1000_events_takes_well_under_a_second(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        original = await engine.start(c_long, 166, id="long-0")
        await wait_until(lambda: len(engine.history("long-0")) >= 1000, timeout=60)
        for n in range(1, 50):
            await engine.fork(original.run_id, id=f"long-{n}")
        start = time.perf_counter()
        report = engine.check_compatibility(c_long)
        elapsed = time.perf_counter() - start
        assert len(report) == 50
        assert report.compatible
        assert min(len(engine.history(r.workflow_id)) for r in report) >= 1000
        print(f"compatibility check of 50 runs x {len(engine.history('long-0'))} events: {elapsed * 1000:.0f} ms")
        assert elapsed < 1.0
