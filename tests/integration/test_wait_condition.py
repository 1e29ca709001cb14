"""`wfkit.wait_condition`: wait until workflow state satisfies a predicate, replayed exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import wfkit


@wfkit.workflow
async def wc_collect(target: int) -> dict[str, object]:
    rows: list[int] = []

    async def collect() -> None:
        while True:
            rows.append(await wfkit.wait_signal("row"))

    collector = asyncio.ensure_future(collect())
    await wfkit.wait_condition(lambda: sum(rows) >= target)
    collector.cancel()
    try:
        await wfkit.wait_condition(lambda: False, timeout=30)
        late = "never"
    except TimeoutError as exc:
        late = str(exc)
    return {"rows": rows, "late": late}


async def test_wait_condition_wakes_when_its_state_holds_and_times_out_on_a_durable_timer(db_path: Path) -> None:
    clock = wfkit.FakeClock()
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        handle = await engine.start(wc_collect, 10, id="wc-1")
        for value in (3, 4):
            await handle.signal("row", value)
        await asyncio.sleep(0.05)
        assert handle.describe().status == "Running"  # 7 < 10: still waiting
        await handle.signal("row", 5)
        for _ in range(100):  # the condition holds; the run now waits on the 30 s timeout
            if any(e.event_type is wfkit.EventType.TimerStarted for e in engine.history("wc-1")):
                break
            await asyncio.sleep(0.01)
        clock.advance(30)
        assert await asyncio.wait_for(handle.result(), 5) == {"rows": [3, 4, 5], "late": "condition not met within 30s"}
        history = engine.history("wc-1")
    assert [e.event_type.value for e in history].count("TimerFired") == 1
    # The same history replays exactly with the same code, and steps in the debugger to the end.
    assert wfkit.Replayer(workflows=[wc_collect]).replay(history).closed
    session = wfkit.ReplaySession(history, workflows=[wc_collect])
    session.seek(len(history))
    assert session.snapshot().error is None
    assert session.position == len(history)


async def test_a_condition_already_true_returns_at_once_and_records_nothing(db_path: Path) -> None:
    @wfkit.workflow
    async def wc_true() -> str:
        await wfkit.wait_condition(lambda: True)
        return "done"

    async with wfkit.Engine.open(db_path) as engine:
        assert await (await engine.start(wc_true, id="wc-true")).result() == "done"
        types = [e.event_type.value for e in engine.history("wc-true")]
    assert "TimerStarted" not in types
