"""Misbehaving code and data: blocking workflow code, hung activities, oversized payloads, fault-point parsing."""

from __future__ import annotations

import asyncio
import time

import pytest

import wfkit
from wfkit._faults import FaultPlan

E = wfkit.EventType


@wfkit.activity
async def l_quick(x: int) -> int:
    return x


@wfkit.workflow
async def l_blocks(seconds: float) -> int:
    await l_quick(1)
    time.sleep(seconds)  # a bug: blocks instead of awaiting
    return await l_quick(2)


@wfkit.workflow
async def l_healthy(n: int) -> int:
    total = 0
    for k in range(n):
        total += await l_quick(k)
        await wfkit.sleep(0.01)
    return total


async def test_blocking_workflow_code_is_reported_and_the_engine_keeps_running(db_path: object) -> None:
    async with wfkit.Engine.open(deadlock_timeout=0.5) as engine:
        healthy = await engine.start(l_healthy, 30)
        began = time.monotonic()
        with pytest.warns(RuntimeWarning, match="blocked for more than 0.5s"):
            blocked = await engine.start(l_blocks, 3.0)
            await asyncio.sleep(1.2)
        assert await healthy.result() == sum(range(30))
        assert time.monotonic() - began < 2.8, "the healthy run must not wait for the blocked one"
        problems = engine.blocked_runs()
        assert [p["workflow_id"] for p in problems] == [blocked.workflow_id]
        assert "test_faults_and_limits.py" in problems[0]["reason"]
        assert "time.sleep(seconds)" in problems[0]["reason"]
        failed = [e for e in engine.history(run_id=blocked.run_id) if e.event_type is E.WorkflowTaskFailed]
        assert failed[0].attributes["cause"] == "DeadlockDetected"

        @wfkit.workflow(name="l_blocks", registry=engine.registry)
        async def l_blocks_fixed(seconds: float) -> int:
            await l_quick(1)
            await wfkit.sleep(0.01)
            return await l_quick(2)

        assert await blocked.result() == 2  # fixed code retries the failed workflow task


@wfkit.activity(start_to_close=0.2, retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01))
def l_hangs_once(key: str) -> str:
    info = wfkit.activity_info()
    if info.attempt == 1:
        time.sleep(2)  # hangs past its timeout; the engine abandons this thread
    return f"{key} attempt {info.attempt}"


@wfkit.workflow
async def l_uses_hanging(key: str) -> str:
    return await l_hangs_once(key)


async def test_a_hung_activity_is_abandoned_and_retried_without_blocking_others(engine: wfkit.Engine) -> None:
    began = time.monotonic()
    hanging = await engine.start(l_uses_hanging, "h")
    healthy = await engine.start(l_healthy, 5)
    assert await healthy.result() == 10
    assert await hanging.result() == "h attempt 2"
    assert time.monotonic() - began < 1.5
    timeouts = [e for e in engine.history(run_id=hanging.run_id) if e.event_type is E.ActivityTaskTimedOut]
    assert [e.attributes["timeout_type"] for e in timeouts] == ["StartToClose"]


@wfkit.activity
async def l_big(n: int) -> str:
    return "x" * n


@wfkit.workflow
async def l_returns_big(n: int) -> int:
    try:
        return len(await l_big(n))
    except wfkit.ActivityError as exc:
        raise RuntimeError(exc.cause_message) from None


async def test_oversized_payloads_fail_the_call_with_a_hint(engine: wfkit.Engine) -> None:
    ok = await engine.start(l_returns_big, 1000)
    assert await ok.result() == 1000
    too_big = await engine.start(l_returns_big, 5 * 1024 * 1024)
    with pytest.raises(wfkit.WorkflowFailedError, match="over the 4 MB payload limit") as info:
        await too_big.result()
    assert "pass its path or name instead" in info.value.cause_message
    attempts = [e for e in engine.history(run_id=too_big.run_id) if e.event_type is E.ActivityTaskStarted]
    assert len(attempts) == 1, "an oversized result is not retried"
    with pytest.raises(wfkit.PayloadError, match="payload limit"):
        await engine.start(l_returns_big, "y" * (5 * 1024 * 1024))  # type: ignore[arg-type]


def test_fault_plan_parsing() -> None:
    plan = FaultPlan("mid_commit@2:raise, after_commit")
    plan.reach("mid_commit")  # first hit: nothing
    with pytest.raises(OSError, match="injected fault at mid_commit"):
        plan.reach("mid_commit")
    plan.reach("fork")  # not asked for
    with pytest.raises(ValueError, match="unknown fault point 'nope'"):
        FaultPlan("nope")
    with pytest.raises(ValueError, match="unknown action 'explode'"):
        FaultPlan("fork:explode")
