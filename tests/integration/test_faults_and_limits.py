"""Misbehaving code and data: blocking workflow code, hung activities, oversized payloads, fault-point parsing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

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
        blocked = await engine.start(l_blocks, 3.0)
        with pytest.warns(RuntimeWarning, match="blocked for more than 0.5s"):
            await asyncio.sleep(1.2)
        assert await healthy.result() == sum(range(30))
        assert time.monotonic() - began < 2.8, "the healthy run must not wait for the blocked one"
        problems = engine.blocked_runs()
        assert [p.workflow_id for p in problems] == [blocked.workflow_id]
        assert "test_faults_and_limits.py" in problems[0].blocked
        assert "time.sleep(seconds)" in problems[0].blocked
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


async def test_big_payloads_move_out_of_line_and_a_converters_own_limit_still_holds(engine: wfkit.Engine, tmp_path: Path) -> None:
    ok = await engine.start(l_returns_big, 1000)
    assert await ok.result() == 1000
    big = await engine.start(l_returns_big, 5 * 1024 * 1024)  # over the old 4 MB cap: stored as a blob, referenced
    assert await big.result() == 5 * 1024 * 1024
    assert engine.sql("SELECT encoding FROM wfkit_payloads").fetchall() == [("wfkit/json-blob",)]
    # A converter passed explicitly keeps its own limit (JsonConverter's default is 4 MB).
    async with await wfkit.Engine.open(tmp_path / "limited.duckdb", converter=wfkit.JsonConverter()) as limited:
        too_big = await limited.start(l_returns_big, 5 * 1024 * 1024)
        with pytest.raises(wfkit.WorkflowFailedError, match="over the 4 MB payload limit") as info:
            await too_big.result()
        assert "pass its path or name instead" in info.value.cause_message
        attempts = [e for e in limited.history(run_id=too_big.run_id) if e.event_type is E.ActivityTaskStarted]
        assert len(attempts) == 1, "an oversized result is not retried"
        with pytest.raises(wfkit.PayloadError, match="payload limit"):
            await limited.start(l_returns_big, "y" * (5 * 1024 * 1024))  # type: ignore[arg-type]


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


@wfkit.activity
async def l_blob(i: int) -> str:
    return f"{i}:" + "z" * 200_000


@wfkit.workflow
async def l_writes_a_lot(n: int) -> int:
    total = 0
    for i in range(n):
        total += len(await l_blob(i))
    return total


@pytest.fixture
def small_disk(tmp_path: object) -> Iterator[Path]:
    """A real, tiny filesystem (tmpfs, 3 MB) that fills up, so the disk-full path runs for real."""
    mount = Path(str(tmp_path)) / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to mount a tmpfs for the disk-full test: {result.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_stops_new_work_loses_nothing_and_resumes(small_disk: Path) -> None:
    db = small_disk / "full.duckdb"
    async with wfkit.Engine.open(db) as engine:
        done = await engine.start(l_writes_a_lot, 2, id="before")
        assert await done.result() == 400_004
        filling = await engine.start(l_writes_a_lot, 40, id="filling")
        for _ in range(200):
            if engine.storage_error is not None:
                break
            await asyncio.sleep(0.05)
        assert engine.storage_error is not None
        assert "No space left on device" in str(engine.storage_error)
        with pytest.raises(wfkit.StoreUnavailableError, match=r"cannot write to .*full\.duckdb: .*No space left"):
            await engine.start(l_healthy, 1)
        committed = duckdb_count(engine, "before")
        assert committed > 0
        subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
        assert await asyncio.wait_for(filling.result(), timeout=30) == sum(len(f"{i}:") + 200_000 for i in range(40))
        assert engine.storage_error is None
        assert duckdb_count(engine, "before") == committed  # nothing committed was lost
        again = await engine.start(l_healthy, 2)
        assert await again.result() == 1
        events = engine.history("filling")
        assert [e.event_id for e in events] == list(range(1, len(events) + 1))
        started = [e.attempt for e in events if e.event_type is E.ActivityTaskStarted]
        assert started == [1] * 40, "no activity ran twice while the disk was full"


def duckdb_count(engine: wfkit.Engine, workflow_id: str) -> int:
    rows = engine.sql("select count(*) from events join workflows using (run_id) where workflow_id = ?", [workflow_id]).fetchall()
    return int(rows[0][0])
