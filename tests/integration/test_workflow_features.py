"""Retries, timeouts, timers, signals, queries, cancellation, children, continue-as-new, patched, side effects."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest

import wfkit
from tests.support.helpers import event_types

E = wfkit.EventType
ATTEMPTS: Counter[str] = Counter()


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=4, initial_interval=0.05, backoff_coefficient=2.0))
async def f_flaky(key: str, failures: int) -> str:
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] <= failures:
        raise ConnectionError(f"{key}: attempt {ATTEMPTS[key]} failed")
    return f"{key} ok after {ATTEMPTS[key]}"


@wfkit.workflow
async def f_retrying(key: str, failures: int) -> str:
    return await f_flaky(key, failures)


async def test_retries_record_every_attempt_with_backoff(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_retrying, "r1", 2)
    assert await handle.result() == "r1 ok after 3"
    history = engine.history(run_id=handle.run_id)
    started = [e for e in history if e.event_type is E.ActivityTaskStarted]
    failed = [e for e in history if e.event_type is E.ActivityTaskFailed]
    completed = [e for e in history if e.event_type is E.ActivityTaskCompleted]
    assert [e.attempt for e in started] == [1, 2, 3]
    assert [e.attempt for e in failed] == [1, 2]
    assert [e.attributes["retry_state"] for e in failed] == ["InProgress", "InProgress"]
    assert [e.attributes["next_retry_delay"] for e in failed] == [0.05, 0.1]
    assert failed[0].attributes["failure"]["type"] == "ConnectionError"
    assert "attempt 1 failed" in failed[0].attributes["failure"]["message"]
    assert [e.attempt for e in completed] == [3]
    # The next attempt started no earlier than its backoff delay after the failure.
    assert started[1].event_time - failed[0].event_time >= 0.05 - 0.002
    assert started[2].event_time - failed[1].event_time >= 0.1 - 0.002
    # Only the final outcome reached the workflow: one workflow task after the completion.
    assert event_types(history).count("WorkflowTaskStarted") == 2


async def test_retries_exhausted_raise_activity_error_in_the_workflow(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_retrying, "r2", 10)
    with pytest.raises(wfkit.WorkflowFailedError) as info:
        await handle.result()
    assert info.value.cause_type == "ActivityError"
    last = [e for e in engine.history(run_id=handle.run_id) if e.event_type is E.ActivityTaskFailed][-1]
    assert last.attempt == 4
    assert last.attributes["retry_state"] == "MaximumAttemptsReached"


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.01, non_retryable_error_types=("ValueError",)))
async def f_bad_input(kind: str) -> None:
    ATTEMPTS[f"bad-{kind}"] += 1
    if kind == "app":
        raise wfkit.ApplicationError("schema mismatch", type="SchemaError", non_retryable=True)
    raise ValueError("not a number")


@wfkit.workflow
async def f_catches(kind: str) -> str:
    try:
        await f_bad_input(kind)
    except wfkit.ActivityError as exc:
        return f"caught {exc.cause_type}: {exc.cause_message}"
    return "no error"


@pytest.mark.parametrize(("kind", "expected"), [("value", "caught ValueError: not a number"), ("app", "caught SchemaError: schema mismatch")])
async def test_non_retryable_errors_are_not_retried(engine: wfkit.Engine, kind: str, expected: str) -> None:
    assert await (await engine.start(f_catches, kind)).result() == expected
    assert ATTEMPTS[f"bad-{kind}"] == 1


@wfkit.activity(start_to_close=0.1, retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.01))
async def f_hangs() -> None:
    await asyncio.sleep(30)


@wfkit.activity(heartbeat_timeout=0.15, retry=wfkit.RetryPolicy(max_attempts=1))
def f_stops_heartbeating() -> str:
    for _ in range(3):
        wfkit.heartbeat("alive")
        time.sleep(0.05)
    time.sleep(1.0)
    return "too late"


@wfkit.activity(schedule_to_close=0.2, retry=wfkit.RetryPolicy(max_attempts=0, initial_interval=0.05))
async def f_always_fails() -> None:
    raise RuntimeError("nope")


@wfkit.workflow
async def f_timeouts(which: str) -> str:
    activity = {"start": f_hangs, "heartbeat": f_stops_heartbeating, "schedule": f_always_fails}[which]
    try:
        await activity()
    except wfkit.ActivityError as exc:
        return exc.cause_type or str(exc)
    return "finished"


async def test_start_to_close_timeout_fires_and_is_retried(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_timeouts, "start")
    began = time.monotonic()
    assert await handle.result() == "TimeoutError"
    assert time.monotonic() - began < 5
    timed_out = [e for e in engine.history(run_id=handle.run_id) if e.event_type is E.ActivityTaskTimedOut]
    assert [(e.attempt, e.attributes["timeout_type"], e.attributes["retry_state"]) for e in timed_out] == [
        (1, "StartToClose", "InProgress"),
        (2, "StartToClose", "MaximumAttemptsReached"),
    ]


async def test_heartbeat_timeout_fires_for_a_thread_activity(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_timeouts, "heartbeat")
    began = time.monotonic()
    await handle.result()
    assert time.monotonic() - began < 0.9, "must not wait for the thread to finish"
    timed_out = [e for e in engine.history(run_id=handle.run_id) if e.event_type is E.ActivityTaskTimedOut]
    assert [e.attributes["timeout_type"] for e in timed_out] == ["Heartbeat"]


async def test_schedule_to_close_bounds_all_retries(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_timeouts, "schedule")
    began = time.monotonic()
    await handle.result()
    assert time.monotonic() - began < 2
    last = [e for e in engine.history(run_id=handle.run_id) if e.event_type in (E.ActivityTaskFailed, E.ActivityTaskTimedOut)][-1]
    assert last.attributes["retry_state"] == "Timeout"


@wfkit.workflow
async def f_timer_then_wait_for(seconds: float) -> list[str]:
    out = []
    await asyncio.sleep(seconds)
    out.append("slept")
    try:
        await asyncio.wait_for(wfkit.wait_signal("never"), timeout=seconds)
    except TimeoutError:
        out.append("timed out")
    return out


async def test_durable_timers_and_wait_for_timeouts(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_timer_then_wait_for, 0.05)
    assert await handle.result() == ["slept", "timed out"]
    types = event_types(engine.history(run_id=handle.run_id))
    assert types.count("TimerStarted") == 2
    assert types.count("TimerFired") == 2


@wfkit.workflow
async def f_signals() -> list[object]:
    got: list[object] = []
    wfkit.set_query_handler("got", lambda: list(got))
    got.append(await wfkit.wait_signal("item"))
    got.append(await wfkit.wait_signal("item"))
    try:
        got.append(await wfkit.wait_signal("item", timeout=0.05))
    except TimeoutError:
        got.append("timeout")
    return got


async def test_signals_are_buffered_delivered_in_order_and_can_time_out(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_signals, id="sig")
    await handle.signal("item", {"n": 1})
    await handle.signal("item", [2])
    assert await handle.result() == [{"n": 1}, [2], "timeout"]
    signaled = [e for e in engine.history("sig") if e.event_type is E.WorkflowExecutionSignaled]
    assert [e.attributes["signal_name"] for e in signaled] == ["item", "item"]


async def test_queries_read_state_without_writing_history(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_signals, id="q")
    await handle.signal("item", "first")
    for _ in range(100):
        if await handle.query("got") == ["first"]:
            break
        await asyncio.sleep(0.01)
    length = len(engine.history("q"))
    assert await handle.query("got") == ["first"]
    assert len(engine.history("q")) == length
    with pytest.raises(KeyError, match="no query handler 'nope'"):
        await handle.query("nope")
    await handle.signal("item", "second")
    await handle.result()
    # A closed run is answered by replaying its history.
    assert await handle.query("got") == ["first", "second", "timeout"]


CLEANED: list[str] = []


@wfkit.activity
async def f_slow_step() -> None:
    await asyncio.sleep(30)


@wfkit.activity
async def f_cleanup(note: str) -> None:
    CLEANED.append(note)


@wfkit.workflow
async def f_cancellable() -> str:
    try:
        await f_slow_step()
    except asyncio.CancelledError:
        await f_cleanup("rolled back")
        raise
    return "done"


async def test_cancellation_reaches_the_workflow_which_can_clean_up(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_cancellable)
    await asyncio.sleep(0.05)
    await handle.cancel("user asked")
    with pytest.raises(wfkit.WorkflowFailedError, match="cancelled"):
        await handle.result()
    assert CLEANED == ["rolled back"]
    types = event_types(engine.history(run_id=handle.run_id))
    assert "WorkflowExecutionCancelRequested" in types
    assert "ActivityTaskCancelRequested" in types
    assert types[-1] == "WorkflowExecutionCanceled"


@wfkit.activity
async def f_double(x: int) -> int:
    return 2 * x


@wfkit.workflow
async def f_child(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return await f_double(x)


@wfkit.workflow
async def f_parent(xs: list[int]) -> list[object]:
    results: list[object] = list(await asyncio.gather(*(f_child(x) for x in xs if x >= 0)))
    try:
        await wfkit.execute_child(f_child, -1, id=f"{wfkit.info().workflow_id}/bad")
    except wfkit.ChildWorkflowError as exc:
        results.append(exc.cause_type)
    return results


async def test_child_workflows_run_with_their_own_history(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_parent, [1, 2, 3], id="parent")
    assert await handle.result() == [2, 4, 6, "ValueError"]
    children = engine.sql(
        "select workflow_id, status, parent_workflow_id from workflows where parent_run_id = ? order by workflow_id", [handle.run_id]
    ).fetchall()
    assert children == [
        ("parent/bad", "Failed", "parent"),
        ("parent/f_child-1", "Completed", "parent"),
        ("parent/f_child-2", "Completed", "parent"),
        ("parent/f_child-3", "Completed", "parent"),
    ]
    types = event_types(engine.history("parent"))
    assert types.count("StartChildWorkflowExecutionInitiated") == 4
    assert types.count("ChildWorkflowExecutionStarted") == 4
    assert types.count("ChildWorkflowExecutionCompleted") == 3
    assert types.count("ChildWorkflowExecutionFailed") == 1
    assert wfkit.Replayer(workflows=[f_parent]).replay(engine.history("parent")).result == [2, 4, 6, "ValueError"]


@wfkit.workflow
async def f_countdown(n: int, total: int) -> int:
    total += await f_double(n)
    if n > 0:
        wfkit.continue_as_new(n - 1, total)
    return total


async def test_continue_as_new_starts_fresh_runs_and_result_follows_the_chain(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_countdown, 3, 0, id="countdown")
    assert await handle.result() == 12
    runs = engine.sql("select status, continued_from_run_id is not null from workflows where workflow_id = 'countdown' order by start_time").fetchall()
    assert [r[0] for r in runs] == ["ContinuedAsNew", "ContinuedAsNew", "ContinuedAsNew", "Completed"]
    assert [r[1] for r in runs] == [False, True, True, True]
    assert engine.get_handle("countdown").run_id != handle.run_id


@wfkit.workflow(name="f_versioned")
async def f_versioned_v1(x: int) -> int:
    return await f_double(x)


async def test_patched_keeps_old_histories_replayable_and_new_runs_take_the_new_branch(engine: wfkit.Engine) -> None:
    old = await engine.start(f_versioned_v1, 5)
    assert await old.result() == 10
    old_history = engine.history(run_id=old.run_id)
    registry = wfkit.Registry()

    @wfkit.workflow(name="f_versioned", registry=registry)
    async def f_versioned_v2(x: int) -> int:
        if wfkit.patched("add-one"):
            x += 1
        return await f_double(x)

    assert wfkit.Replayer(workflows=[f_versioned_v2]).replay(old_history).result == 10
    new = await engine.start(f_versioned_v2, 5)
    assert await new.result() == 12
    new_history = engine.history(run_id=new.run_id)
    markers = [e.attributes for e in new_history if e.event_type is E.MarkerRecorded]
    assert markers == [{"marker_name": "patch", "patch_id": "add-one"}]
    assert wfkit.Replayer(workflows=[f_versioned_v2]).replay(new_history).result == 12


SIDE_EFFECT_CALLS: list[int] = []


def f_roll() -> int:
    SIDE_EFFECT_CALLS.append(1)
    return 4


@wfkit.workflow
async def f_side_effect() -> int:
    value = wfkit.side_effect(f_roll)
    return await f_double(value)


async def test_side_effect_is_recorded_once_and_replayed(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_side_effect)
    assert await handle.result() == 8
    assert SIDE_EFFECT_CALLS == [1]
    replayed = wfkit.Replayer(workflows=[f_side_effect]).replay(engine.history(run_id=handle.run_id))
    assert replayed.result == 8
    assert SIDE_EFFECT_CALLS == [1]


async def test_duplicate_workflow_ids_and_reuse_policies(engine: wfkit.Engine) -> None:
    first = await engine.start(f_signals, id="dup")
    with pytest.raises(wfkit.WorkflowAlreadyStartedError, match="'dup' is already running"):
        await engine.start(f_signals, id="dup")
    second = await engine.start(f_signals, id="dup", id_reuse_policy="terminate_if_running")
    with pytest.raises(wfkit.WorkflowFailedError, match="terminated"):
        await first.result()
    await second.terminate("done testing")
    third = await engine.start(f_double_wf, 1, id="dup")  # closed ids may be reused by default
    assert await third.result() == 2
    with pytest.raises(wfkit.WorkflowAlreadyStartedError):
        await engine.start(f_double_wf, 1, id="dup", id_reuse_policy="reject_duplicate")


@wfkit.workflow
async def f_double_wf(x: int) -> int:
    return await f_double(x)


RUNNING = {"now": 0, "peak": 0}
LOCK = threading.Lock()


@wfkit.activity(task_queue="narrow")
def f_narrow_step(i: int) -> int:
    with LOCK:
        RUNNING["now"] += 1
        RUNNING["peak"] = max(RUNNING["peak"], RUNNING["now"])
    time.sleep(0.02)
    with LOCK:
        RUNNING["now"] -= 1
    return i


@wfkit.workflow
async def f_fan_narrow(n: int) -> int:
    return sum(await asyncio.gather(*(f_narrow_step(i) for i in range(n))))


async def test_task_queue_concurrency_limit(db_path: object) -> None:
    async with wfkit.Engine.open(task_queues={"narrow": wfkit.TaskQueue(max_concurrency=2)}) as engine:
        assert await (await engine.start(f_fan_narrow, 10)).result() == 45
    assert RUNNING["peak"] == 2


@wfkit.activity(task_queue="limited")
async def f_rate_limited(i: int) -> float:
    return time.monotonic()


@wfkit.workflow
async def f_fan_rate(n: int) -> list[float]:
    return list(await asyncio.gather(*(f_rate_limited(i) for i in range(n))))


async def test_task_queue_rate_limit() -> None:
    async with wfkit.Engine.open(task_queues={"limited": wfkit.TaskQueue(rate_limit=20)}) as engine:
        stamps = await (await engine.start(f_fan_rate, 6)).result()
    assert max(stamps) - min(stamps) >= 5 / 20 * 0.9


@wfkit.workflow
async def f_asyncio_tools() -> list[object]:
    task = asyncio.get_running_loop().create_task(f_double(1))
    done, pending = await asyncio.wait([task, asyncio.ensure_future(f_double(2))])
    firsts = sorted(t.result() for t in done)
    return [firsts, len(pending), await asyncio.wait_for(f_double(3), timeout=10)]


async def test_tasks_wait_and_wait_for_work_in_workflows(engine: wfkit.Engine) -> None:
    handle = await engine.start(f_asyncio_tools)
    assert await handle.result() == [[2, 4], 0, 6]
    wfkit.Replayer(workflows=[f_asyncio_tools]).replay(engine.history(run_id=handle.run_id))


@wfkit.activity
def f_info() -> list[object]:
    info = wfkit.activity_info()
    return [info.activity_type, info.attempt, info.idempotency_key.endswith(":1"), threading.current_thread().name.startswith("wfkit-activity")]


@wfkit.workflow
async def f_info_wf() -> list[object]:
    return await f_info()


async def test_sync_activities_run_in_threads_with_activity_info(engine: wfkit.Engine) -> None:
    assert await (await engine.start(f_info_wf)).result() == ["f_info", 1, True, True]


@wfkit.workflow
async def f_long_child() -> str:
    await wfkit.sleep(3600)
    return "child done"


@wfkit.workflow
async def f_parent_of_long_child() -> str:
    return await f_long_child()


async def test_closing_a_parent_terminates_its_open_children(engine: wfkit.Engine) -> None:
    parent = await engine.start(f_parent_of_long_child, id="p-long")
    await asyncio.sleep(0.05)
    await parent.cancel()
    with pytest.raises(wfkit.WorkflowFailedError):
        await parent.result()
    child = engine.get_handle("p-long/f_long_child-1")
    with pytest.raises(wfkit.WorkflowFailedError, match="parent workflow p-long closed"):
        await child.result()


@wfkit.workflow
async def f_daily() -> list[str]:
    stamps = [wfkit.now().isoformat()]
    await wfkit.sleep(24 * 3600)
    stamps.append(wfkit.now().isoformat())
    return stamps


async def test_a_fake_clock_skips_a_day_of_timers() -> None:
    clock = wfkit.FakeClock(start=1_800_000_000.0)
    async with wfkit.Engine.open(clock=clock) as engine:
        handle = await engine.start(f_daily)
        await asyncio.sleep(0.05)
        assert handle.describe().status == "Running"
        clock.advance(24 * 3600)
        assert await handle.result() == ["2027-01-15T08:00:00+00:00", "2027-01-16T08:00:00+00:00"]
