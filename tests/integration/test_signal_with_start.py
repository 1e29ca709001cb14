"""Signal-with-start: `engine.start(..., start_signal=(name, payload))`."""

from __future__ import annotations

from pathlib import Path

import pytest

import wfkit

E = wfkit.EventType


@wfkit.workflow
async def sws_orders() -> list[str]:
    got = [await wfkit.wait_signal("order")]
    got.append(await wfkit.wait_signal("order", timeout=60))
    return got


async def test_the_start_signal_is_recorded_with_the_start_and_seen_by_the_first_activation(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        handle = await engine.start(sws_orders, id="sws-1", start_signal=("order", "a-1"))
        again = await engine.start(sws_orders, id="sws-1", start_signal=("order", "a-2"))  # running: it gets the signal
        assert again.run_id == handle.run_id
        assert await handle.result() == ["a-1", "a-2"]
        history = engine.history("sws-1")
    types = [e.event_type for e in history]
    assert types[:3] == [E.WorkflowExecutionStarted, E.WorkflowExecutionSignaled, E.WorkflowTaskScheduled]
    first_task = next(e for e in history if e.event_type is E.WorkflowTaskCompleted)
    assert first_task.event_id > 2  # one activation saw the start and the signal together
    assert wfkit.Replayer(workflows=[sws_orders]).replay(history).closed
    session = wfkit.ReplaySession(history, workflows=[sws_orders])  # the debugger steps through it to the end and back
    session.seek(len(history))
    assert session.snapshot().error is None
    assert session.snapshot().finished
    session.seek(2)
    assert session.snapshot().error is None


async def test_a_bad_start_signal_is_refused_before_anything_is_recorded(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        with pytest.raises(wfkit.ArgumentError, match=r"start_signal must be a \(name, payload\) tuple"):
            await engine.start(sws_orders, id="sws-bad", start_signal="order")  # type: ignore[arg-type]
        with pytest.raises(wfkit.PayloadError, match="signal 'order'"):
            await engine.start(sws_orders, id="sws-bad", start_signal=("order", object()))
        assert engine.sql("SELECT count(*) FROM workflows").fetchall() == [(0,)]
