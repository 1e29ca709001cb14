"""Forks of a tree of runs: a fan-out parent forked before its failed child re-runs only that child's failed step."""

from __future__ import annotations

import asyncio

import pytest

import wfkit

E = wfkit.EventType
CALLS: list[str] = []
BROKEN = {"p2"}


@wfkit.activity
async def ft_extract(part: str) -> int:
    CALLS.append(f"extract {part}")
    return len(part)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=1))
async def ft_load(part: str, rows: int) -> str:
    CALLS.append(f"load {part}")
    if part in BROKEN:
        await asyncio.sleep(0.2)  # the other partitions finish first
        raise ValueError(f"partition {part} has a bad row")
    return f"{part}:{rows}"


@wfkit.workflow
async def ft_partition(part: str) -> str:
    rows = await ft_extract(part)
    return await ft_load(part, rows)


@wfkit.workflow
async def ft_nightly(parts: list[str]) -> list[str]:
    return list(await asyncio.gather(*(wfkit.execute_child(ft_partition, p, id=f"night/{p}") for p in parts)))


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    BROKEN.clear()
    BROKEN.add("p2")


async def _failed_night(engine: wfkit.Engine) -> wfkit.WorkflowHandle:
    handle = await engine.start(ft_nightly, ["p1", "p2", "p3"], id="night")
    with pytest.raises(wfkit.WorkflowFailedError, match="bad row"):
        await handle.result()
    assert sorted(CALLS) == ["extract p1", "extract p2", "extract p3", "load p1", "load p2", "load p3"]
    CALLS.clear()
    BROKEN.clear()  # the fix
    return handle


async def test_a_fork_before_the_failed_child_reruns_only_its_failed_step(engine: wfkit.Engine) -> None:
    handle = await _failed_night(engine)
    history = engine.history("night")
    failed = next(e for e in history if e.event_type is E.ChildWorkflowExecutionFailed)
    with warnings_as_errors():
        forked = await engine.fork(handle.run_id, at_event=failed.event_id - 1, id="night-fixed")
    assert await asyncio.wait_for(forked.result(), 10) == ["p1:2", "p2:2", "p3:2"]
    assert CALLS == ["load p2"]  # p1 and p3 reused as recorded, p2's extract reused, its load ran again
    fork_history = engine.history("night-fixed")
    children = {e.attributes["workflow_id"]: e.attributes["run_id"] for e in fork_history if e.event_type is E.ChildWorkflowExecutionCompleted}
    assert set(children) == {"night/p1", "night/p2", "night/p3"}
    original_p2 = next(e.attributes["run_id"] for e in history if e.event_type is E.ChildWorkflowExecutionStarted and e.attributes["workflow_id"] == "night/p2")
    assert children["night/p2"] != original_p2  # a fork of its own, linked to the forked parent
    p2 = engine.history(run_id=children["night/p2"])
    assert p2.events[0].attributes["parent_run_id"] == forked.run_id
    assert p2.events[0].attributes["forked_from_run_id"] == original_p2
    described = engine.get_handle("night/p2", children["night/p2"]).describe()
    assert described.parent_workflow_id == "night-fixed"
    assert wfkit.Replayer(workflows=[ft_nightly]).replay(fork_history).closed


async def test_forking_the_failed_child_with_its_parents_completes_the_whole_tree(engine: wfkit.Engine) -> None:
    await _failed_night(engine)
    p2_history = engine.history("night/p2")
    before_load = next(e for e in p2_history if e.event_type is E.ActivityTaskScheduled and e.attributes["activity_type"] == "ft_load")
    task = max(e.event_id for e in p2_history if e.event_type is E.WorkflowTaskScheduled and e.event_id < before_load.event_id)
    root = await engine.fork(p2_history.run_id, at_event=task - 1, parents=True)  # before the task that scheduled the load
    assert await asyncio.wait_for(root.result(), 10) == ["p1:2", "p2:2", "p3:2"]
    assert CALLS == ["load p2"]
    assert root.describe().workflow_type == "ft_nightly"


async def test_forking_a_child_alone_still_gives_a_detached_run(engine: wfkit.Engine) -> None:
    await _failed_night(engine)
    p2 = engine.history("night/p2")
    alone = await engine.fork(p2.run_id, at_event=5, id="p2-alone")
    assert await asyncio.wait_for(alone.result(), 10) == "p2:2"
    assert engine.history("p2-alone").events[0].attributes["parent_run_id"] is None


class warnings_as_errors:
    """The fork at the event before the child's failure is a resume point: no 'moving the cut' warning."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


@wfkit.activity
async def wi_extract(day: str) -> list[int]:
    CALLS.append("extract")
    return [3, 4, 5]


@wfkit.activity
async def wi_transform(rows: list[int]) -> dict[str, int]:
    CALLS.append("transform")
    return {"rows": len(rows), "total": sum(rows)}


@wfkit.activity
async def wi_load(summary: dict[str, int]) -> str:
    CALLS.append("load")
    return f"loaded {summary['rows']} rows, total {summary['total']}"


@wfkit.workflow
async def wi_etl(day: str) -> str:
    rows = await wi_extract(day)
    summary = await wi_transform(rows)
    return await wi_load(summary)


async def test_a_what_if_fork_with_an_edited_result_recomputes_what_follows(engine: wfkit.Engine) -> None:
    original = await engine.start(wi_etl, "2026-11-30", id="wi")
    assert await original.result() == "loaded 3 rows, total 12"
    CALLS.clear()
    fork = await engine.fork(original.run_id, results={"wi_extract": [10, -1]}, id="wi-what-if")
    assert await asyncio.wait_for(fork.result(), 10) == "loaded 2 rows, total 9"
    assert CALLS == ["transform", "load"]  # extract's edited result was reused, the rest ran for real
    history = engine.history("wi-what-if")
    [edited] = [e for e in history if e.attributes.get("what_if")]
    assert edited.event_type is E.ActivityTaskCompleted
    assert edited.attributes["what_if"]["result"]["data"] == [3, 4, 5]
    assert history.events[0].attributes["what_if_events"] == [edited.event_id]
    rows = engine.histories.compare(original.run_id, fork.run_id).fetchall()
    columns = engine.histories.compare(original.run_id, fork.run_id).columns
    by_step = {r[columns.index("activity_type")]: dict(zip(columns, r, strict=True)) for r in rows}
    assert by_step["wi_extract"]["in_b"] == "edited"
    assert by_step["wi_transform"]["in_b"] == "ran"
    assert by_step["wi_load"]["in_b"] == "ran"
    assert "result" in by_step["wi_extract"]["differences"]
    assert "result" in by_step["wi_transform"]["differences"]
    assert by_step["wi_transform"]["result_diff"] == "rows: 3 -> 2, total: 12 -> 9"
    assert by_step["wi_extract"]["result_diff"] == "3 items -> 2 items"


async def test_a_what_if_fork_can_make_a_step_fail_and_refuses_bad_selectors(engine: wfkit.Engine) -> None:
    original = await engine.start(wi_etl, "2026-11-30", id="wi-raise")
    await original.result()
    CALLS.clear()
    fork = await engine.fork(original.run_id, raise_={"wi_transform": ValueError("what if transform broke?")}, id="wi-raise-fork")
    with pytest.raises(wfkit.WorkflowFailedError, match="what if transform broke"):
        await asyncio.wait_for(fork.result(), 10)
    assert CALLS == []  # nothing after the failed step ran
    with pytest.raises(wfkit.ArgumentError, match="has no activity 'nope'"):
        await engine.fork(original.run_id, results={"nope": 1}, id="x")
    with pytest.raises(wfkit.ArgumentError, match="is WorkflowTaskStarted, not an activity step"):
        await engine.fork(original.run_id, results={3: 1}, id="x")
    with pytest.raises(wfkit.ArgumentError, match="before the edited step"):
        await engine.fork(original.run_id, results={"wi_load": "x"}, at_event=2, id="x")
