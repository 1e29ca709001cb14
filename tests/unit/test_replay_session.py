"""The replay debugger core: stepping, snapshots, breakpoints, divergence, fork, the activity graph."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

import wfkit

E = wfkit.EventType


@wfkit.activity
async def d_extract(source: str) -> list[dict[str, object]]:
    return [{"id": k, "source": source} for k in range(3)]


@wfkit.activity
def d_transform(rows: list[dict[str, object]]) -> dict[str, int]:
    return {"rows": len(rows)}


@wfkit.activity
async def d_load(summary: dict[str, int]) -> str:
    return f"loaded {summary['rows']}"


@wfkit.workflow
async def d_etl(sources: list[str]) -> str:
    batches = await asyncio.gather(*(d_extract(s) for s in sources))
    rows = [r for batch in batches for r in batch]
    await wfkit.sleep(0.01)
    count = await d_transform(rows)
    return await d_load(count)


@pytest.fixture
async def etl_history(engine: wfkit.Engine) -> wfkit.History:
    handle = await engine.start(d_etl, ["a", "b", "c", "d"], id="dbg")
    await handle.result()
    return engine.history("dbg")


def test_stepping_forward_reproduces_every_recorded_command(etl_history: wfkit.History) -> None:
    session = wfkit.ReplaySession(etl_history, workflows=[d_etl])
    snaps = [session.step() for _ in etl_history]
    assert [s.position for s in snaps] == [e.event_id for e in etl_history]
    assert all(s.error is None for s in snaps)
    assert snaps[-1].finished
    assert session.step().position == len(etl_history)  # stays at the end
    commands = wfkit.Replayer(workflows=[d_etl]).replay(etl_history).commands
    recorded = [e for e in etl_history if e.event_type in (E.ActivityTaskScheduled, E.TimerStarted, E.WorkflowExecutionCompleted)]
    assert len(commands) == len(recorded)


def test_stack_and_locals_after_extract_show_the_rows(etl_history: wfkit.History) -> None:
    session = wfkit.ReplaySession(etl_history, workflows=[d_etl])
    snap = session.run_to(wfkit.stop_at.timer())
    assert snap.event is not None
    assert snap.event.event_type is E.TimerStarted
    main = snap.tasks[0]
    assert main.is_main
    user_frames = [f for f in main.frames if not f.internal]
    assert [f.function for f in user_frames] == ["d_etl"]
    frame = user_frames[0]
    assert frame.source == "await wfkit.sleep(0.01)"
    assert "'source': 'a'" in frame.locals["rows"]
    assert frame.locals["sources"] == "['a', 'b', 'c', 'd']"
    assert main.awaiting.startswith("timer #1")
    assert [p.kind for p in snap.pending] == ["timer"]
    assert [source for source, _ in snap.received] == ["activity:d_extract"] * 4


def test_gather_tasks_show_their_own_stacks(etl_history: wfkit.History) -> None:
    session = wfkit.ReplaySession(etl_history, workflows=[d_etl])
    snap = session.run_to(wfkit.stop_at.activity("d_extract"))
    assert snap.tasks[0].awaiting == "gather of 4 (4 pending)"
    assert [t.awaiting for t in snap.tasks[1:]] == [f"activity d_extract #{i}" for i in range(1, 5)]


def test_step_back_then_step_gives_identical_snapshots(etl_history: wfkit.History) -> None:
    session = wfkit.ReplaySession(etl_history, workflows=[d_etl])
    session.seek(20)
    here = session.snapshot()
    session.step_back()
    again = session.step()
    assert again == here


@wfkit.activity
async def d_tiny(k: int) -> int:
    return k


@wfkit.workflow
async def d_many(n: int) -> int:
    total = 0
    for k in range(n):
        total += await d_tiny(k)
    return total


async def test_seek_agrees_with_stepping_on_every_event(engine: wfkit.Engine) -> None:
    await (await engine.start(d_many, 33, id="many")).result()
    history = engine.history("many")
    assert len(history) >= 200
    stepped = wfkit.ReplaySession(history, workflows=[d_many])
    forward = [stepped.step() for _ in history]
    seeker = wfkit.ReplaySession(history, workflows=[d_many])
    for event_id in reversed(range(1, len(history) + 1)):
        assert seeker.seek(event_id) == forward[event_id - 1]


def test_breakpoints_and_run_to(etl_history: wfkit.History) -> None:
    session = wfkit.ReplaySession(etl_history, workflows=[d_etl])
    session.add_breakpoint(activity="d_transform", event_type="ActivityTaskCompleted")
    snap = session.run_to()
    assert snap.event is not None
    assert (snap.event.event_type, snap.event.attributes["activity_type"]) == (E.ActivityTaskCompleted, "d_transform")
    session.clear_breakpoints()
    assert session.run_to(wfkit.stop_at.end()).position == len(etl_history)
    session.seek(0)
    load = session.run_to(wfkit.stop_at.activity("d_load"))
    assert load.event is not None
    assert load.event.attributes["activity_type"] == "d_load"
    session.seek(0)
    assert session.run_to(wfkit.stop_at.failure()).position == len(etl_history)  # no failure: runs to the end


def test_a_history_without_code_steps_through_events(etl_history: wfkit.History) -> None:
    session = wfkit.ReplaySession(etl_history)
    snap = session.run_to(wfkit.stop_at.timer())
    assert not snap.has_code
    assert snap.tasks == ()
    assert [p.kind for p in snap.pending] == ["timer"]
    assert session.run_to(wfkit.stop_at.end()).finished


def test_changed_code_stops_at_the_divergence(etl_history: wfkit.History) -> None:
    @wfkit.workflow(name="d_etl", registry=wfkit.Registry())
    async def d_etl_v2(sources: list[str]) -> str:
        batches = await asyncio.gather(*(d_extract(s) for s in sources))
        rows = [r for batch in batches for r in batch]
        count = await d_transform(rows)  # the sleep was removed
        return await d_load(count)

    session = wfkit.ReplaySession(etl_history, workflows=[d_etl_v2])
    final = session.run_to(wfkit.stop_at.end())
    timer = next(e for e in etl_history if e.event_type is E.TimerStarted)
    assert final.error_event_id == timer.event_id
    assert final.position == timer.event_id
    assert final.error is not None
    assert "TimerStarted" in final.error
    assert "ActivityTaskScheduled(d_transform)" in final.error
    assert session.step().position == timer.event_id  # cannot go past it
    # The state at the divergence shows where the new code went.
    assert any(f.function.endswith("d_etl_v2") and "d_transform" in f.source for t in final.tasks for f in t.frames)


class Nasty:
    def __repr__(self) -> str:
        raise RuntimeError("boom")


@wfkit.workflow
async def d_holds_odd_locals() -> int:
    thing = Nasty()
    long_text = "x" * 10_000
    await d_tiny(len(long_text))
    return id(thing) % 2


async def test_snapshot_locals_survive_bad_reprs_and_are_cut(engine: wfkit.Engine) -> None:
    handle = await engine.start(d_holds_odd_locals, id="odd")
    await handle.result()
    session = wfkit.ReplaySession(engine.history("odd"), workflows=[d_holds_odd_locals], repr_limit=50)
    snap = session.run_to(wfkit.stop_at.activity("d_tiny"))
    frame = next(f for f in snap.tasks[0].frames if not f.internal)
    assert frame.locals["thing"].startswith("<Nasty")
    assert len(frame.locals["long_text"]) <= 50


def test_replayer_accepts_lists_dataframes_and_json(etl_history: wfkit.History) -> None:
    replayer = wfkit.Replayer(workflows=[d_etl])
    expected = "loaded 12"
    assert replayer.replay(etl_history).result == expected
    assert replayer.replay(wfkit.History.coerce(list(etl_history.events))).result == expected
    assert replayer.replay(wfkit.History.coerce(etl_history.to_json())).result == expected
    frame = wfkit.history_dataframe(etl_history)
    assert list(frame["event_id"]) == [e.event_id for e in etl_history]
    assert replayer.replay(wfkit.History.coerce(frame)).result == expected


async def test_replayer_accepts_the_events_table(engine: wfkit.Engine, etl_history: wfkit.History) -> None:
    rows = engine.sql("select * from events where run_id = ? order by event_id", [etl_history.run_id]).df()
    assert wfkit.Replayer(workflows=[d_etl]).replay(wfkit.History.coerce(rows)).result == "loaded 12"


def test_activity_graph_of_fan_out_fan_in(etl_history: wfkit.History) -> None:
    graph = wfkit.activity_graph(etl_history)
    extracts = [n for n, d in graph.nodes(data=True) if d["label"] == "d_extract"]
    (transform,) = [n for n, d in graph.nodes(data=True) if d["label"] == "d_transform"]
    (load,) = [n for n, d in graph.nodes(data=True) if d["label"] == "d_load"]
    (timer,) = [n for n, d in graph.nodes(data=True) if d["kind"] == "timer"]
    assert len(extracts) == 4
    assert all(graph.in_degree(n) == 0 for n in extracts)
    assert sorted(graph.predecessors(timer)) == sorted(extracts)  # fan-in: all four results before the timer
    assert list(graph.predecessors(transform)) == [timer]
    assert list(graph.predecessors(load)) == [transform]
    assert graph.edges[transform, load]["data"] is True  # load's argument is transform's result
    assert all(graph.nodes[n]["outcome"] == "completed" for n in [*extracts, transform, load])


FORK_LOG: list[str] = []


@wfkit.activity
async def k_extract(source: str) -> list[int]:
    FORK_LOG.append(f"extract {source}")
    return [1, 2, 3]


@wfkit.activity(name="k_transform", retry=wfkit.RetryPolicy(max_attempts=1))
async def k_transform_buggy(rows: list[int]) -> int:
    FORK_LOG.append("transform v1")
    raise ZeroDivisionError("bug in transform")


@wfkit.workflow
async def k_etl(source: str) -> int:
    rows = await k_extract(source)
    return await k_transform_buggy(rows)


async def test_fork_before_a_failed_step_reuses_results_and_completes_with_fixed_code(engine: wfkit.Engine, tmp_path: Path) -> None:
    FORK_LOG.clear()
    handle = await engine.start(k_etl, "s3://bucket", id="forkme")
    with pytest.raises(wfkit.WorkflowFailedError, match="bug in transform"):
        await handle.result()
    history = engine.history("forkme")
    scheduled = next(e for e in history if e.event_type is E.ActivityTaskScheduled and e.attributes["activity_type"] == "k_transform")

    @wfkit.activity(name="k_transform")  # the fix, as when a notebook cell is re-run
    async def k_transform_fixed(rows: list[int]) -> int:
        FORK_LOG.append("transform v2")
        return sum(rows)

    forked = await engine.fork(handle.run_id, at_event=scheduled.event_id)
    assert await forked.result() == 6
    assert FORK_LOG == ["extract s3://bucket", "transform v1", "transform v2"]
    row = engine.sql("select workflow_id, forked_from_run_id, status from workflows where run_id = ?", [forked.run_id]).fetchall()
    assert row == [("forkme", handle.run_id, "Completed")]
    assert engine.history(run_id=handle.run_id) == history  # the original is unchanged
    wfkit.activity(name="k_transform", retry=wfkit.RetryPolicy(max_attempts=1))(k_transform_buggy.fn)


async def test_fork_inside_a_workflow_task_is_refused_naming_the_nearest_resume_points(engine: wfkit.Engine) -> None:
    handle = await engine.start(d_etl, ["x"], id="fork-mid")
    await handle.result()
    history = engine.history("fork-mid")
    inside = next(e for e in history if e.event_type is E.WorkflowTaskCompleted and e.event_id > 10)
    task_scheduled = inside.event_id - 2  # WorkflowTaskScheduled, Started, Completed
    with pytest.raises(
        wfkit.ForkPointError,
        match=f"at event {inside.event_id}: it is inside a workflow task; fork at event {task_scheduled - 1} or event {inside.event_id + 1}",
    ) as refused:
        await engine.fork(handle.run_id, at_event=inside.event_id)
    assert (refused.value.before, refused.value.after) == (task_scheduled - 1, inside.event_id + 1)
    assert len(engine.sql("select * from workflows where workflow_id = 'fork-mid'").fetchall()) == 1  # nothing recorded
    forked = await engine.fork(handle.run_id, at_event=refused.value.before)
    assert await forked.result() == "loaded 3"
    copied = engine.history(run_id=forked.run_id)
    assert history[task_scheduled - 1].event_type is E.WorkflowTaskScheduled
    assert copied.events[1 : task_scheduled - 1] == history.events[1 : task_scheduled - 1]  # events 2 .. before that task
    assert copied[task_scheduled - 1].event_time > history[task_scheduled - 1].event_time  # recorded anew


@wfkit.workflow
async def d_kid(n: int) -> int:
    return len(await d_extract(f"kid-{n}"))


@wfkit.workflow
async def d_parent(n: int) -> int:
    first = len(await d_extract("parent"))
    return first + await d_kid(n) + len(await d_extract("after"))


async def test_a_fork_cut_while_a_child_ran_forks_the_child_with_it(engine: wfkit.Engine) -> None:
    # Found by the chaos harness (tests/support/chaos.py): a fork cut between a child's start and its end
    # once copied a child that belongs to the original run, so the fork waited for it forever. Now the
    # child is forked too, linked to the forked parent.
    handle = await engine.start(d_parent, 1, id="fork-child")
    assert await handle.result() == 9
    history = engine.history("fork-child")
    initiated = next(e for e in history if e.event_type is E.StartChildWorkflowExecutionInitiated)
    started = next(e for e in history if e.event_type is E.ChildWorkflowExecutionStarted)
    for cut in (initiated.event_id, started.event_id):
        forked = await engine.fork(handle.run_id, at_event=cut, id=f"fork-child-{cut}")
        assert await asyncio.wait_for(forked.result(), 5) == 9
        fork_history = engine.history(run_id=forked.run_id)
        assert len(fork_history) > cut
        kids = [e for e in fork_history if e.event_type is E.ChildWorkflowExecutionCompleted]
        assert len(kids) == 1
        assert kids[0].attributes["run_id"] != started.attributes["run_id"]  # a child of its own
        child = engine.history(run_id=kids[0].attributes["run_id"])
        assert child.events[0].attributes["parent_run_id"] == forked.run_id
        assert child.events[0].attributes["forked_from_run_id"] == started.attributes["run_id"]


async def test_reset_terminates_an_open_original(engine: wfkit.Engine) -> None:
    @wfkit.workflow(name="d_waiter", registry=engine.registry)
    async def d_waiter() -> str:
        await d_tiny(1)
        return str(await wfkit.wait_signal("go"))

    handle = await engine.start(d_waiter, id="reset-me")
    await asyncio.sleep(0.05)
    with pytest.raises(wfkit.WorkflowAlreadyStartedError):
        await engine.fork(handle.run_id)
    new = await engine.reset(handle.run_id)
    with pytest.raises(wfkit.WorkflowFailedError, match="terminated"):
        await handle.result()
    await new.signal("go", "again")
    assert await new.result() == "again"


def test_snapshots_are_plain_dataclasses(etl_history: wfkit.History) -> None:
    snap = wfkit.ReplaySession(etl_history, workflows=[d_etl]).seek(12)
    assert dataclasses.is_dataclass(snap)
    assert dataclasses.is_dataclass(snap.tasks[0].frames[0])
