"""The in-workflow API: thin functions over the runtime of the workflow that is running."""

from __future__ import annotations

import datetime
import random as _random
import uuid as _uuid
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from wfkit._definitions import ActivityDefinition, RetryPolicy, WorkflowDefinition
from wfkit._runtime._context import WorkflowInfo, _Runtime
from wfkit.errors import ArgumentError

__all__ = [
    "cancel_external",
    "continue_as_new",
    "execute_activity",
    "execute_child",
    "execute_local_activity",
    "info",
    "now",
    "patched",
    "random",
    "set_query_handler",
    "set_update_handler",
    "upsert_memo",
    "upsert_search_attributes",
    "side_effect",
    "signal_external",
    "sleep",
    "uuid4",
    "wait_condition",
    "wait_signal",
]

T = TypeVar("T")


async def sleep(seconds: float) -> None:
    """Wait durably: a timer recorded in history that survives restarts (`asyncio.sleep` does the same)."""
    await _Runtime.current("sleep").workflow_sleep(seconds)


def now() -> datetime.datetime:
    """The workflow's current time (UTC): the time of the event being processed, the same on replay."""
    return _Runtime.current("now").workflow_now()


def random() -> _random.Random:
    """A `random.Random` seeded per run, so replay draws the same numbers."""
    return _Runtime.current("random").workflow_random()


def uuid4() -> _uuid.UUID:
    """A random UUID that is the same on replay."""
    return _Runtime.current("uuid4").workflow_uuid4()


def info() -> WorkflowInfo:
    """Ids, type and lineage of the running workflow."""
    return _Runtime.current("info").workflow_info()


async def wait_signal(name: str, timeout: float | None = None) -> Any:
    """Wait for the next signal called `name` and return its payload.

    Signals that arrived earlier are buffered and returned in order. With `timeout`
    (seconds, a durable timer) raises `TimeoutError` if none arrives in time.
    """
    return await _Runtime.current("wait_signal").workflow_wait_signal(name, timeout)


async def wait_condition(fn: Callable[[], bool], timeout: float | None = None) -> None:
    """Wait until `fn()` is true, re-checked whenever the workflow's state may have changed.

    `fn` must only read workflow state (it runs at the same points on replay). With `timeout`
    (seconds, a durable timer) raises `TimeoutError` if the condition does not hold in time.

    ```python
    @wfkit.workflow
    async def batch_until_full() -> int:
        rows: list[int] = []

        async def collect() -> None:
            while True:
                rows.append(await wfkit.wait_signal("row"))

        collector = asyncio.ensure_future(collect())
        await wfkit.wait_condition(lambda: len(rows) >= 100, timeout=3600)
        collector.cancel()
        return len(rows)
    ```
    """
    await _Runtime.current("wait_condition").workflow_wait_condition(fn, timeout)


def set_query_handler(name: str, handler: Callable[..., Any]) -> None:
    """Answer `handle.query(name, *args)` with `handler(*args)`; it must only read workflow state."""
    _Runtime.current("set_query_handler").workflow_set_query_handler(name, handler)


def set_update_handler(name: str, handler: Callable[..., Any], *, validator: Callable[..., Any] | None = None) -> None:
    """Answer `await handle.update(name, *args)` with `handler(*args)` (a plain or `async def` function).

    An update changes the workflow and returns a value to its caller: the handler may await
    activities, timers and signals like workflow code, and its result (or error) is what
    `handle.update` returns (or raises). `validator(*args)`, if given, runs first and must only
    read state; if it raises, the update is rejected: the caller gets `WorkflowUpdateFailedError`
    and history records nothing, as in Temporal. An accepted update is recorded as
    `WorkflowExecutionUpdateAccepted`, its outcome as `WorkflowExecutionUpdateCompleted`.

    ```python
    @wfkit.workflow
    async def nightly(partitions: int) -> dict[str, int]:
        rows: dict[str, int] = {}

        async def reload(day: str) -> int:       # a data fix: reload one day, while the run goes on
            rows[day] = await load_partition(day)  # an activity
            return rows[day]

        def known_day(day: str) -> None:
            if day not in rows:
                raise ValueError(f"{day} was never loaded by this run")

        wfkit.set_update_handler("reload", reload, validator=known_day)
        ...

    fixed_rows = await handle.update("reload", "2026-11-30")
    ```
    """
    _Runtime.current("set_update_handler").workflow_set_update_handler(name, handler, validator)


def upsert_search_attributes(values: dict[str, Any]) -> None:
    """Set search attributes of this run (merged into those it has), recorded as `UpsertWorkflowSearchAttributes`.

    Values are str, numbers, bools, dates/datetimes or lists of those. They are queryable at once:
    `engine.list(search_attributes={"stage": "loaded"})`, the `runs` view's `search_attributes` JSON,
    `wfkit ls --where stage=loaded`, and `wfkit.info().search_attributes` inside the run.
    """
    _Runtime.current("upsert_search_attributes").workflow_upsert("search_attributes", values)


def upsert_memo(values: dict[str, Any]) -> None:
    """Set memo fields of this run (any JSON values, not indexed), recorded as `WorkflowPropertiesModified`."""
    _Runtime.current("upsert_memo").workflow_upsert("memo", values)


def patched(patch_id: str) -> bool:
    """Version workflow code: True for runs that reach this point with the new code, False when replaying older runs.

    Example:
        ```python
        if wfkit.patched("dedupe-before-load"):
            rows = await dedupe(rows)
        ```
    """
    return _Runtime.current("patched").workflow_patched(patch_id)


def side_effect(fn: Callable[[], T], hint: Any = Any) -> T:
    """Run a small non-deterministic function once and record its value; replay returns the recorded value."""
    return _Runtime.current("side_effect").workflow_side_effect(fn, hint)  # type: ignore[no-any-return]


def continue_as_new(*args: Any) -> NoReturn:
    """End this run and start a fresh one of the same workflow id with `args` (keeps histories short)."""
    _Runtime.current("continue_as_new").workflow_continue_as_new(args)
    raise AssertionError("unreachable")  # pragma: no cover


async def execute_activity(
    activity: ActivityDefinition[Any, T],
    *args: Any,
    retry: RetryPolicy | None = None,
    start_to_close: float | None = None,
    schedule_to_close: float | None = None,
    heartbeat_timeout: float | None = None,
    task_queue: str | None = None,
) -> T:
    """Run an activity with per-call options (calling the activity directly uses its decorator's options)."""
    runtime = _Runtime.current("execute_activity")
    overrides: dict[str, Any] = {}
    for key, value in (
        ("retry", retry),
        ("start_to_close", start_to_close),
        ("schedule_to_close", schedule_to_close),
        ("heartbeat_timeout", heartbeat_timeout),
        ("task_queue", task_queue),
    ):
        if value is not None:
            overrides[key] = value
    positional = activity.bind(args, {})
    return await runtime.workflow_execute_activity(activity, positional, activity.options(**overrides))  # type: ignore[no-any-return]


async def execute_local_activity(
    activity: ActivityDefinition[Any, T],
    *args: Any,
    retry: RetryPolicy | None = None,
    start_to_close: float | None = None,
    schedule_to_close: float | None = None,
) -> T:
    """Run a short activity as a *local activity*: in the engine, without a task queue, recorded as one marker.

    The engine runs it at once (no queue, no limits) and retries it as `retry` says (the
    activity's decorator policy by default); history records only the final outcome, as one
    `MarkerRecorded` event named "LocalActivity" holding its id, type, attempts, times and
    result or failure, as Temporal records a local activity. There is no `ActivityTaskScheduled`,
    `Started` or `Completed`, so a workflow with many small steps keeps a short history. Replay
    and a restart take the outcome from the marker and never run it again; a restart before
    the marker is recorded runs it again. A final failure raises `ActivityError`, as
    `execute_activity` does. Use it for short work (a lookup, a validation): heartbeats and
    task queues are not available.

    ```python
    @wfkit.workflow
    async def ingest(day: str) -> int:
        schema = await wfkit.execute_local_activity(read_schema, day, start_to_close=5)
        return await load_partition(day, schema)      # an ordinary activity
    ```
    """
    runtime = _Runtime.current("execute_local_activity")
    overrides: dict[str, Any] = {}
    for key, value in (("retry", retry), ("start_to_close", start_to_close), ("schedule_to_close", schedule_to_close)):
        if value is not None:
            overrides[key] = value
    positional = activity.bind(args, {})
    options = activity.options(**overrides)
    for key in ("task_queue", "heartbeat_timeout"):  # a local activity runs in the engine, unqueued and without heartbeats
        options.pop(key, None)
    return await runtime.workflow_execute_local_activity(activity, positional, options)  # type: ignore[no-any-return]


async def execute_child(workflow: WorkflowDefinition[Any, T], *args: Any, id: str | None = None) -> T:  # noqa: A002
    """Run a child workflow with a chosen workflow id (awaiting the workflow function directly picks one)."""
    runtime = _Runtime.current("execute_child")
    positional = workflow.bind(args, {})
    return await runtime.workflow_execute_child(workflow, positional, id)  # type: ignore[no-any-return]


async def signal_external(workflow_id: str, name: str, *args: Any, run_id: str | None = None) -> None:
    """Signal another workflow: its `wfkit.wait_signal(name)` returns the argument (None without one).

    Returns once the signal is delivered, durably, as in Temporal: the history records
    `SignalExternalWorkflowExecutionInitiated`, then `ExternalWorkflowExecutionSignaled`, and the
    target's `WorkflowExecutionSignaled` names this run as its sender. A restart in between delivers
    it exactly once. `run_id` picks one run of `workflow_id` (default: its open run).

    Raises:
        ExternalWorkflowError: no open run has that workflow id (`SignalExternalWorkflowExecutionFailed`).
        ArgumentError: more than one argument (a wfkit signal carries one value: pass a list or dict).

    ```python
    @wfkit.workflow
    async def loader(day: str) -> int:
        rows = await load_partition(day)
        await wfkit.signal_external("nightly-report", "partition_loaded", {"day": day, "rows": rows})
        return rows
    ```
    """
    if len(args) > 1:
        raise ArgumentError(f"signal_external({workflow_id!r}, {name!r}, ...) takes one signal argument, got {len(args)}: pass a list or a dict")
    await _Runtime.current("signal_external").workflow_signal_external(workflow_id, run_id, name, args)


async def cancel_external(workflow_id: str, run_id: str | None = None) -> None:
    """Ask another workflow to cancel, as `handle.cancel()` does: `CancelledError` is raised inside it.

    Returns once the request is delivered: the history records
    `RequestCancelExternalWorkflowExecutionInitiated`, then `ExternalWorkflowExecutionCancelRequested`,
    and the target gets `WorkflowExecutionCancelRequested`. `run_id` picks one run (default: its open run).

    Raises:
        ExternalWorkflowError: no open run has that workflow id (`RequestCancelExternalWorkflowExecutionFailed`).
    """
    await _Runtime.current("cancel_external").workflow_cancel_external(workflow_id, run_id)
