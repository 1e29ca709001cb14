"""Workflow concurrency limits: `@wfkit.workflow(max_concurrent=N)` and `engine.start(..., concurrency_key=...)`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import wfkit
from tests.support.helpers import event_types
from wfkit.ui import Monitor

E = wfkit.EventType
RUNNING: list[str] = []
PEAK: dict[str, int] = {}


def _enter(group: str, name: str) -> None:
    RUNNING.append(f"{group}:{name}")
    PEAK[group] = max(PEAK.get(group, 0), sum(1 for r in RUNNING if r.startswith(group + ":")))


@wfkit.activity
async def cl_work(group: str, name: str, seconds: float) -> str:
    _enter(group, name)
    try:
        await asyncio.sleep(seconds)
    finally:
        RUNNING.remove(f"{group}:{name}")
    return name


@wfkit.workflow(max_concurrent=2)
async def cl_limited(name: str, seconds: float = 0.05) -> str:
    return await cl_work("limited", name, seconds)


@wfkit.workflow
async def cl_keyed(name: str, seconds: float = 0.05) -> str:
    return await cl_work("keyed", name, seconds)


@wfkit.workflow(max_concurrent=1)
async def cl_gate(name: str) -> str:
    return await wfkit.wait_signal("go")


@wfkit.workflow(max_concurrent=1)
async def cl_loops(n: int) -> int:
    await cl_work("loops", str(n), 0.01)
    if n > 0:
        wfkit.continue_as_new(n - 1)
    return n


@pytest.fixture(autouse=True)
def _reset() -> None:
    RUNNING.clear()
    PEAK.clear()


async def test_max_concurrent_runs_at_most_n_and_the_rest_in_start_order(tmp_path: Path) -> None:
    async with await wfkit.Engine.open(tmp_path / "limit.duckdb") as engine:
        handles = [await engine.start(cl_limited, f"r{i}", id=f"r{i}") for i in range(6)]
        summaries = [h.describe() for h in handles]
        assert [s.queued is not None for s in summaries] == [False, False, True, True, True, True]
        assert summaries[2].queued == "workflow:cl_limited (2 of 2 running)"
        assert engine.health().queued_runs == 4
        monitor = Monitor(engine)
        labels = [label for label, _ in monitor.table.options]
        monitor.close()
        assert sum(label.startswith("◌ Queued") for label in labels) == 4
        assert "queued for workflow:cl_limited (2 of 2 running)" in labels[0]
        assert [await h.result() for h in handles] == [f"r{i}" for i in range(6)]
        assert PEAK["limited"] == 2
        first_task = [engine.history(run_id=h.run_id).events[1].event_time for h in handles]
        assert first_task == sorted(first_task), "queued runs start in the order they were started"
        started = engine.history(run_id=handles[3].run_id).events[0]
        assert started.attributes["concurrency_keys"] == ["workflow:cl_limited"]
        assert engine.health().queued_runs == 0


async def test_named_keys_limit_runs_of_any_workflow(tmp_path: Path) -> None:
    async with await wfkit.Engine.open(tmp_path / "keys.duckdb", concurrency_limits={"warehouse": 1}) as engine:
        a = await engine.start(cl_keyed, "a", concurrency_key="warehouse")
        b = await engine.start(cl_keyed, "b", concurrency_key="warehouse")
        free = await engine.start(cl_keyed, "free")
        assert b.describe().queued == "warehouse (1 of 1 running)"
        assert free.describe().queued is None, "a run without the key is not held back"
        assert await free.result() == "free"
        assert await a.result() == "a"
        assert await b.result() == "b"
        with pytest.raises(wfkit.ArgumentError, match="concurrency_key='lake' has no limit"):
            await engine.start(cl_keyed, "c", concurrency_key="lake")
        engine.set_concurrency_limit("lake", 3)
        many = [await engine.start(cl_keyed, f"l{i}", 0.1, concurrency_key="lake") for i in range(5)]
        await asyncio.gather(*(h.result() for h in many))
        assert PEAK["keyed"] == 3
        with pytest.raises(wfkit.ArgumentError, match="whole number >= 1"):
            engine.set_concurrency_limit("lake", 0)


async def test_a_queued_run_takes_signals_and_can_be_terminated(tmp_path: Path) -> None:
    async with await wfkit.Engine.open(tmp_path / "signals.duckdb") as engine:
        first = await engine.start(cl_gate, "first")
        second = await engine.start(cl_gate, "second")
        third = await engine.start(cl_gate, "third")
        await second.signal("go", "early")  # recorded while queued; seen once it runs
        assert event_types(engine.history(run_id=second.run_id)) == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled"]
        await third.terminate("not needed")
        await first.signal("go", "one")
        assert await first.result() == "one"
        assert await second.result() == "early"
        assert third.describe().status == "Terminated"


async def test_continue_as_new_keeps_its_slot(tmp_path: Path) -> None:
    async with await wfkit.Engine.open(tmp_path / "can.duckdb") as engine:
        loops = await engine.start(cl_loops, 3, id="loops")
        other = await engine.start(cl_loops, 0, id="other")
        assert other.describe().queued is not None
        assert await engine.get_handle("loops").result() == 0
        assert await other.result() == 0
        assert PEAK["loops"] == 1
        assert loops.run_id != engine.get_handle("loops").run_id


async def test_queued_runs_stay_queued_across_a_restart_and_start_in_order(tmp_path: Path) -> None:
    path = tmp_path / "restart.duckdb"
    async with await wfkit.Engine.open(path) as engine:
        ids = [(await engine.start(cl_gate, f"g{i}", id=f"g{i}")).run_id for i in range(3)]
    async with await wfkit.Engine.open(path) as engine:
        summaries = [engine.get_handle(f"g{i}").describe() for i in range(3)]
        assert [s.queued is None for s in summaries] == [True, False, False]
        assert engine.health().queued_runs == 2
        for i in range(3):
            await engine.get_handle(f"g{i}").signal("go", f"v{i}")
        assert [await engine.get_handle(f"g{i}").result() for i in range(3)] == ["v0", "v1", "v2"]
        tasks = [engine.history(run_id=r).events for r in ids]
        scheduled = [next(e.event_time for e in events if e.event_type is E.WorkflowTaskScheduled) for events in tasks]
        assert scheduled == sorted(scheduled)


def test_max_concurrent_must_be_a_positive_whole_number() -> None:
    with pytest.raises(wfkit.DefinitionError, match="max_concurrent must be a whole number >= 1"):

        @wfkit.workflow(max_concurrent=0)
        async def cl_bad() -> None:
            return None
