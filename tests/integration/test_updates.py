"""Workflow updates: handlers, validators, recorded outcomes, update-with-start, replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import wfkit

LOADS: list[str] = []


@wfkit.activity
async def up_load(table: str) -> int:
    LOADS.append(table)
    if table == "broken":
        raise ValueError("table broken has no rows")
    return len(table)


@wfkit.workflow
async def up_loader(expected: int) -> list[str]:
    loaded: list[str] = []

    async def add_table(name: str) -> int:
        await up_load(name)
        loaded.append(name)
        return len(loaded)

    def not_loaded_yet(name: str) -> None:
        if name in loaded:
            raise ValueError(f"{name} is already loaded")

    wfkit.set_update_handler("add_table", add_table, validator=not_loaded_yet)
    wfkit.set_update_handler("count", lambda: len(loaded))  # a plain function works too
    await wfkit.wait_condition(lambda: len(loaded) >= expected)
    return loaded


def _types(history: wfkit.History) -> list[str]:
    return [e.event_type.value for e in history]


@pytest.fixture(autouse=True)
def _clear_loads() -> None:
    LOADS.clear()


async def test_an_update_runs_its_handler_and_returns_its_result(engine: wfkit.Engine) -> None:
    handle = await engine.start(up_loader, 2, id="up-basic")
    assert await handle.update("add_table", "orders") == 1
    assert await handle.update("count") == 1
    assert await handle.update("add_table", "customers") == 2
    assert await handle.result() == ["orders", "customers"]
    history = engine.history("up-basic")
    types = _types(history)
    assert types.count("WorkflowExecutionUpdateAccepted") == 3
    assert types.count("WorkflowExecutionUpdateCompleted") == 3
    accepted = [e for e in history if e.event_type is wfkit.EventType.WorkflowExecutionUpdateAccepted]
    assert [e.attributes["update_name"] for e in accepted] == ["add_table", "count", "add_table"]
    completed = engine.sql("SELECT attributes->>'$.result.data' FROM events WHERE event_type = 'WorkflowExecutionUpdateCompleted' ORDER BY event_id").fetchall()
    assert completed == [("1",), ("1",), ("2",)]
    # The same code replays the history exactly, and steps to its end in the debugger.
    replayed = wfkit.Replayer(workflows=[up_loader]).replay(history)
    assert replayed.closed
    assert replayed.result == ["orders", "customers"]
    session = wfkit.ReplaySession(history, workflows=[up_loader])
    session.seek(len(history))
    assert session.snapshot().error is None


async def test_a_rejected_update_leaves_nothing_in_the_history(engine: wfkit.Engine) -> None:
    handle = await engine.start(up_loader, 5, id="up-reject")
    await handle.update("add_table", "orders")
    before = len(engine.history("up-reject"))
    with pytest.raises(wfkit.WorkflowUpdateFailedError, match="was rejected: ValueError: orders is already loaded") as rejected:
        await handle.update("add_table", "orders")
    assert rejected.value.rejected
    with pytest.raises(wfkit.WorkflowUpdateFailedError, match=r"no update handler 'nope' \(registered: add_table, count\)"):
        await handle.update("nope")
    assert len(engine.history("up-reject")) == before
    assert LOADS == ["orders"]


async def test_a_failing_handler_fails_the_update_not_the_workflow(engine: wfkit.Engine) -> None:
    handle = await engine.start(up_loader, 1, id="up-fail")
    with pytest.raises(wfkit.WorkflowUpdateFailedError, match="failed: ActivityError: activity up_load failed") as failed:
        await handle.update("add_table", "broken")
    assert not failed.value.rejected
    assert handle.describe().status == "Running"
    assert await handle.update("add_table", "orders") == 1
    assert await handle.result() == ["orders"]
    failure = engine.sql(
        "SELECT attributes->>'$.failure.type' FROM events WHERE event_type = 'WorkflowExecutionUpdateCompleted' ORDER BY event_id LIMIT 1"
    ).fetchall()
    assert failure == [("ActivityError",)]


async def test_an_update_id_is_answered_once_even_after_the_run_closed(engine: wfkit.Engine) -> None:
    handle = await engine.start(up_loader, 2, id="up-id")
    assert await handle.update("add_table", "orders", id="load-orders") == 1
    assert await handle.update("add_table", "orders", id="load-orders") == 1  # a re-run cell: the recorded outcome
    assert await handle.update("add_table", "customers", id="load-customers") == 2
    await handle.result()
    assert await handle.update("add_table", "customers", id="load-customers") == 2
    assert LOADS == ["orders", "customers"]
    with pytest.raises(wfkit.WorkflowNotFoundError, match="not running"):
        await handle.update("add_table", "more")


async def test_update_with_start_starts_the_run_and_delivers_the_update_in_its_first_task(engine: wfkit.Engine) -> None:
    handle, count = await engine.update_with_start(up_loader, 2, id="up-start", update="add_table", update_args=["orders"])
    assert count == 1
    again, count = await engine.update_with_start(up_loader, 2, id="up-start", update="add_table", update_args=["customers"])
    assert again.run_id == handle.run_id  # the open run got the update
    assert count == 2
    assert await handle.result() == ["orders", "customers"]
    types = _types(engine.history("up-start"))
    assert types[:5] == ["WorkflowExecutionStarted", "WorkflowExecutionUpdateAdmitted", "WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]
    assert types[5] == "WorkflowExecutionUpdateAccepted"
    assert wfkit.Replayer(workflows=[up_loader]).replay(engine.history("up-start")).closed


@wfkit.workflow(max_concurrent=1)
async def up_one_at_a_time(name: str) -> list[str]:
    got: list[str] = []

    def add(value: str) -> int:
        got.append(value)
        return len(got)

    wfkit.set_update_handler("add", add)
    await wfkit.wait_condition(lambda: len(got) >= 1)
    return got


async def test_an_admitted_update_is_delivered_after_a_restart(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as first:
        blocker, _ = await first.update_with_start(up_one_at_a_time, "a", id="up-blocker", update="add", update_args=["x"], update_id="b1")
        await blocker.result()
        holder = await first.start(up_one_at_a_time, "b", id="up-holder")  # holds the only slot
        # Queued behind the holder: started and admitted in one transaction, but no workflow task yet.
        waiting = asyncio.ensure_future(first.update_with_start(up_one_at_a_time, "c", id="up-restart", update="add", update_args=["orders"]))
        for _ in range(200):
            if first.sql("SELECT count(*) FROM events WHERE event_type = 'WorkflowExecutionUpdateAdmitted'").fetchall() == [(2,)]:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the update was not admitted")
        assert first.get_handle("up-restart").describe().queued
    with pytest.raises(wfkit.EngineClosedError):
        await waiting
    async with wfkit.Engine.open(db_path) as second:
        await second.get_handle(holder.workflow_id).update("add", "free the slot")
        assert await second.get_handle("up-restart").result() == ["orders"]
        types = _types(second.history("up-restart"))
    assert types.count("WorkflowExecutionUpdateAccepted") == 1
    assert types.count("WorkflowExecutionUpdateCompleted") == 1


@wfkit.workflow
async def up_short() -> str:
    async def slow() -> str:
        await wfkit.wait_signal("never")
        return "late"

    wfkit.set_update_handler("slow", slow)
    await wfkit.wait_signal("stop")
    return "done"


async def test_an_update_still_running_when_the_run_closes_fails_with_a_clear_error(engine: wfkit.Engine) -> None:
    handle = await engine.start(up_short, id="up-close")
    pending = asyncio.ensure_future(handle.update("slow"))
    for _ in range(200):
        if "WorkflowExecutionUpdateAccepted" in _types(engine.history("up-close")):
            break
        await asyncio.sleep(0.01)
    await handle.signal("stop")
    assert await handle.result() == "done"
    with pytest.raises(wfkit.WorkflowUpdateFailedError, match=r"the run closed \(WorkflowExecutionCompleted\) before the update completed"):
        await asyncio.wait_for(pending, 5)


async def test_update_arguments_that_cannot_be_stored_fail_before_anything_is_sent(engine: wfkit.Engine) -> None:
    handle = await engine.start(up_loader, 1, id="up-bad-arg")
    before = len(engine.history("up-bad-arg"))
    bad: Any = object()
    with pytest.raises(wfkit.PayloadError, match="update 'add_table': argument 1"):
        await handle.update("add_table", bad)
    assert len(engine.history("up-bad-arg")) == before
