"""The engine: runs workflows on the caller's asyncio loop and records every step in DuckDB.

How a step flows: something happens (an activity ends, a timer fires, a signal arrives) and
its event is appended to the open batch and the run is marked dirty. The writer task then
activates every dirty run (its workflow code runs on its own deterministic loop and returns
commands, which become more events in the same batch), commits the batch in one DuckDB
transaction on a dedicated thread (group commit), and only then carries out the effects
(start activities, arm timers, wake waiting handles). A crash therefore leaves every
activation either wholly recorded or not at all.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import random
import uuid
import warnings
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from wfkit._definitions import ActivityDefinition, Registry, WorkflowDefinition, default_registry
from wfkit._engine._activation import ActivationThread, _Activation
from wfkit._engine._activities import ActivityRunner, TaskQueue
from wfkit._engine._clock import Cancellable, Clock, SystemClock
from wfkit._engine._handle import WorkflowHandle
from wfkit._faults import fault
from wfkit._history._commands import (
    Activation,
    CancelTimer,
    CancelWorkflow,
    Command,
    CompleteWorkflow,
    ContinueAsNew,
    FailWorkflow,
    RecordMarker,
    RequestCancelActivity,
    ScheduleActivity,
    StartChildWorkflow,
    StartTimer,
)
from wfkit._history._events import CLOSING_EVENTS, Event, EventType
from wfkit._history._failure import failure_from_exception
from wfkit._history._history import History
from wfkit._history._payload import JsonConverter, PayloadConverter
from wfkit._history._state import RunState, command_to_event, event_to_job, fork_point
from wfkit._runtime._context import WorkflowInfo
from wfkit._runtime._driver import replay_into
from wfkit._runtime._instance import WorkflowInstance
from wfkit._store._store import RunClose, RunRow, Store
from wfkit.errors import (
    EngineClosedError,
    NondeterminismError,
    PayloadError,
    StoreCorruptError,
    StoreUnavailableError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
)

if TYPE_CHECKING:
    import duckdb

__all__ = ["Engine", "IdReusePolicy"]

logger = logging.getLogger("wfkit.engine")
E = EventType

IdReusePolicy = Literal["allow_duplicate", "reject_duplicate", "terminate_if_running"]

#: Batches of at most this many rows commit on the event loop itself; bigger ones on the DuckDB thread.
INLINE_COMMIT_ROWS = 12

_STATUS = {
    E.WorkflowExecutionCompleted: "Completed",
    E.WorkflowExecutionFailed: "Failed",
    E.WorkflowExecutionCanceled: "Canceled",
    E.WorkflowExecutionTerminated: "Terminated",
    E.WorkflowExecutionContinuedAsNew: "ContinuedAsNew",
}


class _Run:
    """An open run held in memory: its history so far, its open work and its workflow instance."""

    __slots__ = (
        "blocked", "dirty", "events", "instance", "parent_child_id", "parent_run_id", "parent_workflow_id",
        "run_id", "seed", "state", "task_queue", "waiting_for_code", "workflow_id", "workflow_type",
    )  # fmt: skip

    def __init__(self, run_id: str, workflow_id: str, workflow_type: str, task_queue: str, seed: int) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.task_queue = task_queue
        self.seed = seed
        self.parent_run_id: str | None = None
        self.parent_workflow_id: str | None = None
        self.parent_child_id: int | None = None
        self.state = RunState()
        self.events: list[Event] = []
        self.instance: WorkflowInstance | None = None
        self.blocked: str | None = None
        self.waiting_for_code = False
        self.dirty = False


@dataclass(slots=True)
class _Batch:
    """What the next transaction writes, and what happens once it is durable."""

    events: list[tuple[str, Event]] = field(default_factory=list)
    new_runs: list[RunRow] = field(default_factory=list)
    closed: list[RunClose] = field(default_factory=list)
    effects: list[tuple[_Run | None, Callable[[], None]]] = field(default_factory=list)
    runs: dict[str, _Run] = field(default_factory=dict)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.events or self.new_runs or self.closed or self.effects or self.waiters)


class _EngineOpener:
    """`await Engine.open(...)` or `async with Engine.open(...) as engine`."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._engine: Engine | None = None

    def __await__(self) -> Generator[Any, None, Engine]:
        return self._factory().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> Engine:
        self._engine = await self._factory()
        return self._engine

    async def __aexit__(self, *exc_info: object) -> None:
        if self._engine is not None:
            await self._engine.close()


class Engine:
    """Runs workflows durably against one DuckDB file.

    Open it with `await wfkit.Engine.open("etl.duckdb")` (or `async with`); runs that were
    open in that file resume at once. All methods must be called on the loop the engine
    was opened on.
    """

    def __init__(
        self,
        store: Store,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        converter: PayloadConverter | None = None,
        task_queues: dict[str, TaskQueue] | None = None,
        default_task_queue: TaskQueue | None = None,
        max_activity_threads: int = 32,
        deadlock_timeout: float = 2.0,
    ) -> None:
        self.store = store
        self.registry = registry or default_registry
        self.clock: Clock = clock or SystemClock()
        self.converter: PayloadConverter = converter or JsonConverter()
        self.activities = ActivityRunner(self, task_queues or {}, default_task_queue or TaskQueue(), max_activity_threads)
        self._runs: dict[str, _Run] = {}
        self._open_by_workflow_id: dict[str, _Run] = {}
        self._close_waiters: dict[str, list[asyncio.Future[Event]]] = collections.defaultdict(list)
        self._closing_runs: dict[str, _Run] = {}
        """Runs whose closing event is recorded but not yet committed."""
        self._timers: dict[tuple[str, int], Cancellable] = {}
        self._batch = _Batch()
        self._dirty: list[_Run] = []
        self._woken = False
        self._wake_waiter: asyncio.Future[None] | None = None
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfkit-commit")
        self._activations = ActivationThread(deadlock_timeout)
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self.commit_error: BaseException | None = None
        """The last error a commit raised (None once a later commit succeeds)."""
        self.storage_error: BaseException | None = None
        """Set while the database cannot be written (disk full): no new work is accepted until a retry commits."""
        self._stall_delay = 0.0
        self._retry_at = 0.0

    #### Opening and closing ####

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        converter: PayloadConverter | None = None,
        task_queues: dict[str, TaskQueue] | None = None,
        default_task_queue: TaskQueue | None = None,
        max_activity_threads: int = 32,
        deadlock_timeout: float = 2.0,
    ) -> _EngineOpener:
        """Open an engine on a DuckDB file (None: in memory) and resume the runs left open in it.

        Args:
            path: the database file; created if missing.
            registry: where workflow and activity code is found by name (default: the decorators' registry).
            clock: time source (tests pass a `FakeClock`).
            converter: payload converter (default: JSON).
            task_queues: limits per named task queue.
            default_task_queue: limits for queues not named in `task_queues`.
            max_activity_threads: threads for plain-`def` activities.
            deadlock_timeout: seconds workflow code may run without yielding before its workflow task fails.

        Raises:
            StoreLockedError: another process holds the file.
            StoreCorruptError, NotAWfkitDatabaseError, SchemaVersionError: the file cannot be used.
        """

        async def make() -> Engine:
            # One DuckDB thread: the engine runs many small transactions, whose per-statement cost
            # (thread coordination) is a fifth lower with one thread; analytic queries over a
            # million events take the same time either way on a small machine (docs/performance.md).
            store = await asyncio.get_running_loop().run_in_executor(None, functools.partial(Store.open, path, threads=1))
            try:
                engine = cls(
                    store,
                    registry=registry,
                    clock=clock,
                    converter=converter,
                    task_queues=task_queues,
                    default_task_queue=default_task_queue,
                    max_activity_threads=max_activity_threads,
                    deadlock_timeout=deadlock_timeout,
                )
            except BaseException:
                store.close()
                raise
            try:
                await engine._start()
            except BaseException:
                # Resuming the file's runs failed (a damaged or hostile file): release the file, or this
                # process would hold it until it exits.
                with contextlib.suppress(Exception):
                    await engine.close()
                raise
            return engine

        return _EngineOpener(make)

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> None:
        self.registry.subscribe(self)
        self._recover()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="wfkit-writer")
        await self._flush()

    async def close(self) -> None:
        """Commit what is pending, stop running attempts and close the database.

        Open runs stay open in the file and resume at the next `Engine.open`.
        """
        if self._closed:
            return
        try:
            await self._flush()
        finally:
            self._closing = True
            self._closed = True
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            self.activities.close()
            self._activations.close()
            if self._writer is not None:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
            for waiters in self._close_waiters.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(EngineClosedError("the engine was closed while waiting for this run"))
            await asyncio.get_running_loop().run_in_executor(self._db_thread, self.store.close)
            self._db_thread.shutdown(wait=False)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("this engine is closed; open a new one with wfkit.Engine.open(...)")

    def _check_writable(self) -> None:
        self._check_open()
        if self.storage_error is not None:
            raise StoreUnavailableError(
                f"cannot write to {self.store.path or 'memory'}: {_first_line(self.storage_error)}; nothing recorded is lost, "
                "and the engine resumes by itself once writes succeed (free some disk space)"
            )

    #### Public API ####

    async def start(
        self,
        workflow: WorkflowDefinition[Any, Any] | str,
        *args: Any,
        id: str | None = None,  # noqa: A002 - the natural name, as in Temporal
        task_queue: str | None = None,
        id_reuse_policy: IdReusePolicy = "allow_duplicate",
        **kwargs: Any,
    ) -> WorkflowHandle:
        """Start a workflow run and return its handle once the start is durable.

        Args:
            workflow: a `@wfkit.workflow` function or a registered workflow name.
            *args: the workflow's arguments (**kwargs too, bound to its signature).
            id: the workflow id (default: generated); unique among open runs.
            task_queue: the default queue of its activities (default: the workflow's own).
            id_reuse_policy: "allow_duplicate" (default: a closed id may be reused), "reject_duplicate"
                (an id is never reused) or "terminate_if_running".

        Raises:
            WorkflowAlreadyStartedError: the id is in use by an open run (or was ever used, with reject_duplicate).
            PayloadError: an argument cannot be stored.
        """
        self._check_writable()
        definition = self._definition(workflow)
        positional = definition.bind(args, kwargs)
        payloads = []
        for index, value in enumerate(positional, start=1):
            try:
                payloads.append(self.converter.to_payload(value))
            except PayloadError as exc:
                raise PayloadError(f"workflow {definition.name}: argument {index}: {exc}") from None
        workflow_id = id or f"{definition.name}-{uuid.uuid4().hex[:12]}"
        existing = self._open_by_workflow_id.get(workflow_id)
        if existing is not None:
            if id_reuse_policy != "terminate_if_running":
                raise WorkflowAlreadyStartedError(workflow_id, existing.run_id)
            self._close_run(existing, E.WorkflowExecutionTerminated, {"reason": "terminated by a new start (terminate_if_running)"})
        elif id_reuse_policy == "reject_duplicate":
            previous = self.store.latest_run(workflow_id)
            if previous is not None:
                raise WorkflowAlreadyStartedError(workflow_id, previous["run_id"])
        run = self._new_run(definition.name, workflow_id, payloads, task_queue or definition.task_queue)
        await self._flush()
        return WorkflowHandle(self, workflow_id, run.run_id)

    async def fork(self, run_id: str, *, at_event: int | None = None, id: str | None = None) -> WorkflowHandle:  # noqa: A002
        """Start a new run that reuses `run_id`'s history up to `at_event` and continues live with the current code.

        Activity results recorded before that point are reused, not re-run: fix a failing step's code,
        then fork from just before it. The new run records `forked_from_run_id`; the original is left
        as it is. A point inside a workflow task moves to the nearest earlier valid point (a
        `RuntimeWarning` says so); the default is the latest valid point.

        Args:
            run_id: the run to fork.
            at_event: the last event id to copy.
            id: the new run's workflow id (default: the original's, which must not be running).

        Raises:
            WorkflowNotFoundError: no such run.
            WorkflowAlreadyStartedError: the workflow id is in use by an open run (use `reset`, or pass `id`).
        """
        self._check_writable()
        source = self._runs.get(run_id) or self._closing_runs.get(run_id)
        events = list(source.events) if source is not None else self.store.load_events(run_id)
        row = self.store.get_run(run_id) if source is None else None
        if not events:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        requested = len(events) if at_event is None else at_event
        cut = fork_point(events, requested)
        if at_event is not None and cut != at_event:
            warnings.warn(f"wfkit: event {at_event} of run {run_id} is not a resume point; forking after event {cut} instead", RuntimeWarning, stacklevel=2)
        first = events[0].attributes
        workflow_type = str(first.get("workflow_type"))
        workflow_id = id or (source.workflow_id if source is not None else str(row["workflow_id"] if row else first.get("workflow_id")))
        existing = self._open_by_workflow_id.get(workflow_id)
        if existing is not None:
            raise WorkflowAlreadyStartedError(workflow_id, existing.run_id)
        task_queue = str(first.get("task_queue") or "default")
        run = _Run(uuid.uuid4().hex, workflow_id, workflow_type, task_queue, int(first.get("random_seed") or 0))
        lineage = {"workflow_id": workflow_id, "forked_from_run_id": run_id, "parent_run_id": None, "parent_workflow_id": None, "parent_child_id": None}
        copied = [Event(1, E.WorkflowExecutionStarted, events[0].event_time, {**first, **lineage})]
        copied += events[1:cut]
        for event in copied:
            run.state.apply(event)
        run.events = copied
        self._runs[run.run_id] = run
        self._open_by_workflow_id[workflow_id] = run
        started = events[0].event_time
        self._batch.new_runs.append(RunRow(run.run_id, workflow_id, workflow_type, task_queue, first.get("input"), started, forked_from_run_id=run_id))
        self._batch.events.extend((run.run_id, event) for event in copied)
        self._batch.runs[run.run_id] = run
        self._resume(run)
        self._mark_dirty(run)
        fault("fork")
        await self._flush()
        return WorkflowHandle(self, workflow_id, run.run_id)

    async def reset(self, run_id: str, *, at_event: int | None = None, reason: str = "reset") -> WorkflowHandle:
        """Like `fork`, under the same workflow id, terminating the original run first if it is still open."""
        original = self._runs.get(run_id)
        if original is not None:
            self._close_run(original, E.WorkflowExecutionTerminated, {"reason": reason})
        return await self.fork(run_id, at_event=at_event)

    def get_handle(self, workflow_id: str, run_id: str | None = None) -> WorkflowHandle:
        """A handle to an existing run: the latest run of `workflow_id` unless `run_id` is given.

        Raises:
            WorkflowNotFoundError: no run has that id.
        """
        self._check_open()
        if run_id is None:
            run = self._open_by_workflow_id.get(workflow_id)
            if run is not None:
                return WorkflowHandle(self, workflow_id, run.run_id)
            row = self.store.latest_run(workflow_id)
            if row is None:
                raise WorkflowNotFoundError(f"no run with workflow id {workflow_id!r} in {self.store.path or 'this in-memory database'}")
            return WorkflowHandle(self, workflow_id, row["run_id"])
        if run_id not in self._runs and self.store.get_run(run_id) is None:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        return WorkflowHandle(self, workflow_id, run_id)

    def runs(self) -> duckdb.DuckDBPyRelation:
        """Every run as a DuckDB relation (`.df()`, `.pl()`, `.arrow()`), newest first."""
        self._check_open()
        return self.store.sql("SELECT * FROM workflows ORDER BY start_time DESC, run_id")

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run SQL over the histories with bound parameters; returns a DuckDB relation."""
        self._check_open()
        return self.store.sql(query, params)

    def history(self, workflow_id: str | None = None, *, run_id: str | None = None) -> History:
        """The events of a run: the latest run of `workflow_id`, or the run `run_id`."""
        self._check_open()
        if run_id is None:
            if workflow_id is None:
                raise ValueError("history() needs a workflow_id or a run_id")
            run_id = self.get_handle(workflow_id).run_id
        run = self._runs.get(run_id) or self._closing_runs.get(run_id)
        if run is not None:
            return History(run.workflow_id, run_id, tuple(run.events))
        row = self.store.get_run(run_id)
        if row is None:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        return History.from_events(self.store.load_events(run_id), workflow_id=row["workflow_id"], run_id=run_id)

    def register(self, *definitions: Any) -> None:
        """Register workflows and activities with this engine's registry (decorators do this already)."""
        for definition in definitions:
            if isinstance(definition, WorkflowDefinition):
                self.registry.add_workflow(definition)
            elif isinstance(definition, ActivityDefinition):
                self.registry.add_activity(definition)
            else:
                raise TypeError(f"register() takes @wfkit.workflow and @wfkit.activity functions, got {type(definition).__name__}")

    def configure_task_queue(self, name: str, config: TaskQueue) -> None:
        """Set the concurrency and rate limits of a task queue."""
        self.activities.configure(name, config)

    def run_summaries(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent runs, newest first, for monitors: status, type, start, duration, current activities, progress.

        Open runs come from memory (current activities, activities done so far), closed ones from the store.
        """
        self._check_open()
        rows = self.store.recent_runs(limit)
        now = self.clock.now()
        out = []
        for row in rows:
            run = self._runs.get(row["run_id"])
            summary = {k: row[k] for k in ("run_id", "workflow_id", "workflow_type", "status", "start_time", "close_time", "history_length")}
            summary["duration"] = (row["close_time"] or now) - row["start_time"]
            summary["current_activities"] = []
            summary["activities_done"] = summary["activities_total"] = None
            if run is not None:
                done = sum(1 for e in run.events if e.event_type is E.ActivityTaskCompleted)
                summary["current_activities"] = sorted({a.activity_type for a in run.state.activities.values()})
                summary["activities_done"] = done
                summary["activities_total"] = done + len(run.state.activities)
                summary["history_length"] = len(run.events)
                summary["waiting_for_code"] = run.waiting_for_code
                summary["blocked"] = run.blocked
            out.append(summary)
        return out

    def waiting_for_code(self) -> list[dict[str, str]]:
        """Open runs whose workflow type is not registered in this process (left untouched until it is)."""
        return [{"workflow_id": r.workflow_id, "run_id": r.run_id, "workflow_type": r.workflow_type} for r in self._runs.values() if r.waiting_for_code]

    def blocked_runs(self) -> list[dict[str, str]]:
        """Open runs stopped by a nondeterminism error; they continue once fixed code is registered."""
        return [{"workflow_id": r.workflow_id, "run_id": r.run_id, "reason": r.blocked} for r in self._runs.values() if r.blocked]

    def on_workflow_registered(self, definition: WorkflowDefinition[Any, Any]) -> None:
        """Registry callback: open runs of this type switch to the new code at their next activation."""
        if self._closed:
            return
        for run in list(self._runs.values()):
            if run.workflow_type != definition.name:
                continue
            run.instance = None
            run.blocked = None
            if run.waiting_for_code:
                run.waiting_for_code = False
                self._resume(run)
            self._mark_dirty(run)

    #### Handle operations ####

    async def _signal(self, run_id: str, name: str, payload: Any) -> None:
        run = self._open_run(run_id, "signal")
        try:
            encoded = self.converter.to_payload(payload)
        except PayloadError as exc:
            raise PayloadError(f"signal {name!r}: {exc}") from None
        self._record(run, E.WorkflowExecutionSignaled, {"signal_name": name, "input": encoded})
        self._mark_dirty(run)
        await self._flush()

    async def _cancel(self, run_id: str, reason: str) -> None:
        run = self._open_run(run_id, "cancel")
        self._record(run, E.WorkflowExecutionCancelRequested, {"reason": reason})
        self._mark_dirty(run)
        await self._flush()

    async def _terminate(self, run_id: str, reason: str) -> None:
        run = self._open_run(run_id, "terminate")
        self._close_run(run, E.WorkflowExecutionTerminated, {"reason": reason})
        await self._flush()

    async def _query(self, run_id: str, name: str, args: tuple[Any, ...]) -> Any:
        while run_id in self._activations.busy:
            await asyncio.sleep(0.001)  # its workflow code is running on the activation thread
        run = self._runs.get(run_id)
        if run is not None and run.instance is not None:
            return run.instance.query(name, args)
        events = run.events if run is not None else self.store.load_events(run_id)
        if not events:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        workflow_type = str(events[0].attributes.get("workflow_type"))
        definition = self.registry.workflow(workflow_type)
        if definition is None:
            raise WorkflowNotFoundError(f"cannot query run {run_id}: workflow {workflow_type!r} is not registered in this process")
        instance = self._new_instance(definition, events)
        replay_into(instance, events, run_id)
        return instance.query(name, args)

    async def _wait_closed(self, run_id: str) -> tuple[Event, str]:
        """The closing event of a run and its workflow type, waiting for it if the run is open."""
        self._check_open()
        run = self._runs.get(run_id) or self._closing_runs.get(run_id)
        if run is not None:
            waiter: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
            self._close_waiters[run_id].append(waiter)
            return await waiter, run.workflow_type
        events = self.store.load_events(run_id)
        if not events:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        if events[-1].event_type not in CLOSING_EVENTS:
            raise WorkflowNotFoundError(f"run {run_id} is open in the file but not loaded by this engine")
        return events[-1], str(events[0].attributes.get("workflow_type"))

    def _open_run(self, run_id: str, action: str) -> _Run:
        self._check_writable()
        run = self._runs.get(run_id)
        if run is None:
            raise WorkflowNotFoundError(f"cannot {action} run {run_id}: it is not running")
        return run

    def _describe(self, run_id: str) -> dict[str, Any]:
        run = self._runs.get(run_id)
        if run is None:
            row = self.store.get_run(run_id)
            if row is None:
                raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
            return {**row, "current_activities": [], "waiting_for_code": False, "blocked": None}
        return {
            "run_id": run.run_id,
            "workflow_id": run.workflow_id,
            "workflow_type": run.workflow_type,
            "status": "Running",
            "start_time": run.events[0].event_time if run.events else None,
            "history_length": len(run.events),
            "current_activities": [a.activity_type for a in run.state.activities.values()],
            "waiting_for_code": run.waiting_for_code,
            "blocked": run.blocked,
        }

    def _result_hint(self, workflow_type: str) -> Any:
        definition = self.registry.workflow(workflow_type)
        return definition.return_hint if definition is not None else Any

    #### Runs ####

    def _definition(self, workflow: WorkflowDefinition[Any, Any] | str) -> WorkflowDefinition[Any, Any]:
        if isinstance(workflow, str):
            definition = self.registry.workflow(workflow)
            if definition is None:
                known = ", ".join(sorted(self.registry.workflows())) or "none"
                raise WorkflowNotFoundError(f"no workflow named {workflow!r} is registered (registered: {known})")
            return definition
        if not isinstance(workflow, WorkflowDefinition):
            raise TypeError(f"start() needs a @wfkit.workflow function or its name, got {type(workflow).__name__}")
        if self.registry.workflow(workflow.name) is not workflow:
            self.registry.add_workflow(workflow)
        return workflow

    def _new_run(
        self,
        workflow_type: str,
        workflow_id: str,
        args: list[Any],
        task_queue: str,
        *,
        run_id: str | None = None,
        parent: tuple[_Run, int] | None = None,
        continued_from: _Run | None = None,
    ) -> _Run:
        run = _Run(run_id or uuid.uuid4().hex, workflow_id, workflow_type, task_queue, random.getrandbits(63))
        lineage = continued_from
        if parent is not None:
            run.parent_run_id, run.parent_workflow_id, run.parent_child_id = parent[0].run_id, parent[0].workflow_id, parent[1]
        elif lineage is not None:
            run.parent_run_id, run.parent_workflow_id, run.parent_child_id = lineage.parent_run_id, lineage.parent_workflow_id, lineage.parent_child_id
        self._runs[run.run_id] = run
        self._open_by_workflow_id[workflow_id] = run
        started = self._record(
            run,
            E.WorkflowExecutionStarted,
            {
                "workflow_type": workflow_type,
                "workflow_id": workflow_id,
                "input": args,
                "task_queue": task_queue,
                "random_seed": run.seed,
                "parent_run_id": run.parent_run_id,
                "parent_workflow_id": run.parent_workflow_id,
                "parent_child_id": run.parent_child_id,
                "continued_from_run_id": continued_from.run_id if continued_from else None,
            },
        )
        self._batch.new_runs.append(
            RunRow(
                run.run_id, workflow_id, workflow_type, task_queue, args, started.event_time,
                parent_run_id=run.parent_run_id, parent_workflow_id=run.parent_workflow_id,
                continued_from_run_id=continued_from.run_id if continued_from else None,
            )
        )  # fmt: skip
        self._mark_dirty(run)
        return run

    def _new_instance(self, definition: WorkflowDefinition[Any, Any], events: Sequence[Event]) -> WorkflowInstance:
        attrs = events[0].attributes
        info = WorkflowInfo(
            workflow_id=str(attrs.get("workflow_id")),
            run_id=str(attrs.get("run_id") or ""),
            workflow_type=definition.name,
            task_queue=str(attrs.get("task_queue") or "default"),
            parent_workflow_id=attrs.get("parent_workflow_id"),
            continued_from_run_id=attrs.get("continued_from_run_id"),
        )
        # AbstractEventLoop's methods are abstract only in typeshed; the instance implements what asyncio uses.
        return WorkflowInstance(definition, info, seed=int(attrs.get("random_seed") or 0), converter=self.converter)  # type: ignore[abstract]

    def _build_instance(self, run: _Run) -> bool:
        """Give the run an instance of its current code, replayed up to now; False if it cannot run."""
        definition = self.registry.workflow(run.workflow_type)
        if definition is None:
            if not run.waiting_for_code:
                logger.warning("run %s (%s): workflow %r is not registered; waiting for its code", run.run_id, run.workflow_id, run.workflow_type)
            run.waiting_for_code = True
            return False
        instance = self._new_instance(definition, run.events)
        instance.info = WorkflowInfo(run.workflow_id, run.run_id, definition.name, run.task_queue, run.parent_workflow_id, instance.info.continued_from_run_id)
        try:
            replay_into(instance, run.events, run.run_id)
        except NondeterminismError as exc:
            self._block(run, exc)
            return False
        run.instance = instance
        return True

    def _block(self, run: _Run, exc: NondeterminismError) -> None:
        run.blocked = str(exc)
        self._record(run, E.WorkflowTaskScheduled, {})
        self._record(run, E.WorkflowTaskStarted, {})
        self._record(run, E.WorkflowTaskFailed, {"cause": "Nondeterminism", "failure": failure_from_exception(exc)})
        logger.error("%s", exc)
        warnings.warn(f"wfkit: {exc}", RuntimeWarning, stacklevel=2)

    def _recover(self) -> None:
        rows = self.store.open_runs()
        histories = self.store.load_events_many(row["run_id"] for row in rows)
        loaded = []
        for row in rows:
            try:
                loaded.append(self._load_run(row, histories.get(row["run_id"], [])))
            except (ValueError, KeyError, TypeError) as exc:  # a gap, an event without its ids: a damaged or hand-made file
                raise StoreCorruptError(f"{self.store.path or 'memory'}: the history of open run {row['run_id']} cannot be resumed: {exc!r}") from None
        for index, run in enumerate(loaded):
            if run is not None:
                self._resume(run)
            if index == 0:
                fault("recovery")
        if rows:
            logger.info("resumed %d open run(s) from %s", len(rows), self.store.path or "memory")

    def _load_run(self, row: dict[str, Any], events: list[Event]) -> _Run | None:
        """Hold an open run from the store in memory, its state rebuilt from its history."""
        if not events:
            logger.error("run %s has no history; leaving it untouched", row["run_id"])
            return None
        attrs = events[0].attributes
        run = _Run(row["run_id"], row["workflow_id"], row["workflow_type"], row["task_queue"] or "default", int(attrs.get("random_seed") or 0))
        run.parent_run_id, run.parent_workflow_id, run.parent_child_id = row["parent_run_id"], row["parent_workflow_id"], attrs.get("parent_child_id")
        for event in events:
            run.state.apply(event)
        run.events = events
        self._runs[run.run_id] = run
        self._open_by_workflow_id[run.workflow_id] = run
        return run

    def _resume(self, run: _Run) -> None:
        """Pick up a run loaded from the store: rebuild its instance, re-arm its timers, restart its activities."""
        if not self._build_instance(run) and run.waiting_for_code:
            return
        for timer in run.state.timers.values():
            self._arm_timer(run, timer.seq, timer.fire_at)
        self.activities.resume(run)
        if run.state.unactivated:
            self._mark_dirty(run)

    #### Recording ####

    def _record(self, run: _Run, event_type: EventType, attributes: dict[str, Any]) -> Event:
        """Append an event to the run's history and to the open batch."""
        event = Event(run.state.next_event_id, event_type, round(self.clock.now(), 6), attributes)
        run.state.apply(event)
        run.events.append(event)
        self._batch.events.append((run.run_id, event))
        self._batch.runs[run.run_id] = run
        self._wake()
        return event

    def _after_commit(self, run: _Run | None, effect: Callable[[], None]) -> None:
        self._batch.effects.append((run, effect))
        self._wake()

    def _mark_dirty(self, run: _Run) -> None:
        if not run.dirty:
            run.dirty = True
            self._dirty.append(run)
            self._wake()

    def _is_live(self, run: _Run) -> bool:
        return not self._closing and self._runs.get(run.run_id) is run

    def _call_at(self, run: _Run, when: float, callback: Callable[[], None]) -> None:
        def fire() -> None:
            if self._is_live(run):
                callback()

        self.clock.call_at(when, fire)

    #### Activation ####

    async def _activate_dirty(self) -> None:
        """Activate every dirty run: their workflow code runs on the activation thread, in one batch."""
        while self._dirty:
            runs, self._dirty = self._dirty, []
            tasks = []
            for run in runs:
                run.dirty = False
                if self._is_live(run) and not run.state.closed:
                    try:
                        task = self._prepare_activation(run)
                    except Exception as exc:  # noqa: BLE001 - a bug here must cost one run, never the engine
                        self._fail_activation(run, exc)
                        continue
                    if task is not None:
                        tasks.append(task)
            if tasks:
                await self._activations.run(tasks)
                for task in tasks:
                    self._finish_activation(task)

    def _prepare_activation(self, run: _Run) -> _Activation | None:
        if not run.state.unactivated or run.blocked or run.waiting_for_code:
            return None
        if run.instance is None and not self._build_instance(run):
            return None
        assert run.instance is not None
        jobs = [job for job in map(event_to_job, run.state.unactivated) if job is not None]
        scheduled = self._record(run, E.WorkflowTaskScheduled, {})
        started = self._record(run, E.WorkflowTaskStarted, {"scheduled_event_id": scheduled.event_id})
        return _Activation(run, run.instance, Activation(started.event_time, jobs), scheduled.event_id, started.event_id)

    def _finish_activation(self, task: _Activation) -> None:
        run = task.run
        if not self._is_live(run) or run.state.closed or run.instance is not task.instance:
            return
        try:
            if task.stuck is not None:
                self._block_stuck(run, task.stuck)
                return
            commands = task.commands if task.error is None else [FailWorkflow(failure_from_exception(task.error))]
            if task.error is not None:
                logger.error("run %s: workflow task crashed: %s", run.run_id, task.error)
            self._record(run, E.WorkflowTaskCompleted, {"scheduled_event_id": task.scheduled_id, "started_event_id": task.started_id})
            for command in commands:
                if run.state.closed:
                    break
                self._apply_command(run, command)
        except Exception as exc:  # noqa: BLE001 - a bug here must cost one run, never the engine
            self._fail_activation(run, exc)

    def _fail_activation(self, run: _Run, exc: Exception) -> None:
        logger.exception("run %s: activation failed", run.run_id)
        if self._is_live(run) and not run.state.closed:
            self._close_run(run, E.WorkflowExecutionFailed, {"failure": failure_from_exception(exc)})

    def _block_stuck(self, run: _Run, where: str) -> None:
        """The workflow's code blocked its activation thread: fail the workflow task and leave the run for fixed code."""
        message = f"workflow {run.workflow_type} ({run.workflow_id}) blocked for more than {self._activations.timeout:g}s at {where}"
        message += "; workflow code must not block (use await wfkit.sleep, and do I/O in activities). Re-define the workflow to retry."
        run.blocked = message
        run.instance = None
        failure = {"type": "DeadlockDetected", "message": message, "stack": where, "non_retryable": False}
        self._record(run, E.WorkflowTaskFailed, {"cause": "DeadlockDetected", "failure": failure})
        logger.error("%s", message)
        warnings.warn(f"wfkit: {message}", RuntimeWarning, stacklevel=2)

    def _apply_command(self, run: _Run, command: Command) -> None:
        event_type, attrs = command_to_event(command)
        match command:
            case ScheduleActivity(seq=seq):
                self._record(run, event_type, attrs)
                self.activities.schedule(run, seq)
            case RequestCancelActivity(seq=seq):
                act = run.state.activities.get(seq)
                self._record(run, event_type, attrs)
                if act is not None:
                    self._record(
                        run, E.ActivityTaskCanceled, {"activity_id": seq, "activity_type": act.activity_type, "scheduled_event_id": act.scheduled_event_id}
                    )
                    self.activities.cancel(run, seq)
            case StartTimer(seq=seq, duration=duration):
                event = self._record(run, event_type, attrs)
                self._after_commit(run, lambda: self._arm_timer(run, seq, event.event_time + duration))
            case CancelTimer(seq=seq):
                self._record(run, event_type, attrs)
                handle = self._timers.pop((run.run_id, seq), None)
                if handle is not None:
                    handle.cancel()
            case StartChildWorkflow():
                initiated = self._record(run, event_type, attrs)
                self._start_child(run, command, initiated)
            case RecordMarker():
                self._record(run, event_type, attrs)
            case CompleteWorkflow() | FailWorkflow() | CancelWorkflow() | ContinueAsNew():
                self._close_run(run, event_type, attrs)

    def _arm_timer(self, run: _Run, seq: int, fire_at: float) -> None:
        def fire() -> None:
            self._timers.pop((run.run_id, seq), None)
            timer = run.state.timers.get(seq)
            if self._is_live(run) and timer is not None:
                self._record(run, E.TimerFired, {"timer_id": seq, "started_event_id": timer.started_event_id})
                self._mark_dirty(run)

        if self._is_live(run) and seq in run.state.timers:
            self._timers[(run.run_id, seq)] = self.clock.call_at(fire_at, fire)

    def _start_child(self, parent: _Run, command: StartChildWorkflow, initiated: Event) -> None:
        if command.workflow_id in self._open_by_workflow_id:
            failure = failure_from_exception(WorkflowAlreadyStartedError(command.workflow_id, self._open_by_workflow_id[command.workflow_id].run_id))
            self._record(parent, E.ChildWorkflowExecutionFailed, {"child_id": command.seq, "initiated_event_id": initiated.event_id, "failure": failure})
            self._mark_dirty(parent)
            return
        child = self._new_run(command.workflow_type, command.workflow_id, command.args, command.task_queue or parent.task_queue, parent=(parent, command.seq))
        self._record(
            parent,
            E.ChildWorkflowExecutionStarted,
            {"child_id": command.seq, "initiated_event_id": initiated.event_id, "workflow_id": child.workflow_id, "run_id": child.run_id},
        )

    def _close_run(self, run: _Run, event_type: EventType, attrs: dict[str, Any]) -> None:
        new_run_id = uuid.uuid4().hex if event_type is E.WorkflowExecutionContinuedAsNew else None
        if new_run_id is not None:
            attrs = {**attrs, "new_run_id": new_run_id}
        closing = self._record(run, event_type, attrs)
        self._batch.closed.append(RunClose(run.run_id, _STATUS[event_type], attrs.get("result"), attrs.get("failure"), closing.event_time, len(run.events)))
        del self._runs[run.run_id]
        if self._open_by_workflow_id.get(run.workflow_id) is run:
            del self._open_by_workflow_id[run.workflow_id]
        self.activities.abandon_run(run)
        if new_run_id is None:
            # As Temporal's default parent-close policy: children do not outlive their parent.
            for child in run.state.children.values():
                child_run = self._runs.get(child.run_id or "")
                if child_run is not None:
                    self._close_run(child_run, E.WorkflowExecutionTerminated, {"reason": f"parent workflow {run.workflow_id} closed"})
        for seq in list(run.state.timers):
            handle = self._timers.pop((run.run_id, seq), None)
            if handle is not None:
                handle.cancel()
        run.instance = None
        if new_run_id is not None:
            self._new_run(run.workflow_type, run.workflow_id, attrs["input"], run.task_queue, run_id=new_run_id, continued_from=run)
        else:
            self._notify_parent(run, closing)
        self._closing_runs[run.run_id] = run
        self._after_commit(None, lambda: self._closed_durably(run, closing))

    def _closed_durably(self, run: _Run, closing: Event) -> None:
        self._closing_runs.pop(run.run_id, None)
        for waiter in self._close_waiters.pop(run.run_id, []):
            if not waiter.done():
                waiter.set_result(closing)

    def _notify_parent(self, child: _Run, closing: Event) -> None:
        parent = self._runs.get(child.parent_run_id or "")
        if parent is None or child.parent_child_id is None:
            return
        state = parent.state.children.get(child.parent_child_id)
        if state is None:
            return
        base = {"child_id": child.parent_child_id, "initiated_event_id": state.initiated_event_id, "workflow_id": child.workflow_id, "run_id": child.run_id}
        match closing.event_type:
            case E.WorkflowExecutionCompleted:
                self._record(parent, E.ChildWorkflowExecutionCompleted, base | {"result": closing.attributes.get("result")})
            case E.WorkflowExecutionCanceled:
                failure = {"type": "Canceled", "message": "child workflow was cancelled", "stack": "", "non_retryable": True}
                self._record(parent, E.ChildWorkflowExecutionCanceled, base | {"failure": failure})
            case E.WorkflowExecutionTerminated:
                reason = closing.attributes.get("reason", "")
                failure = {"type": "Terminated", "message": f"child workflow was terminated: {reason}", "stack": "", "non_retryable": True}
                self._record(parent, E.ChildWorkflowExecutionFailed, base | {"failure": failure})
            case _:
                self._record(parent, E.ChildWorkflowExecutionFailed, base | {"failure": closing.attributes.get("failure")})
        self._mark_dirty(parent)

    #### Group commit ####

    async def _flush(self) -> None:
        """Wait until everything recorded so far is durable."""
        if self._writer is None or self._writer.done():
            if self._closed:
                raise EngineClosedError("this engine is closed")
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.waiters.append(waiter)
        self._wake()
        await waiter

    def _wake(self) -> None:
        """Tell the writer there is work: events to commit, runs to activate, or a commit that finished."""
        self._woken = True
        waiter = self._wake_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _write_loop(self) -> None:
        """Group commit, pipelined: while one batch commits on the DuckDB thread, the loop keeps
        activating runs into the next batch, which commits as soon as the first is durable."""
        loop = asyncio.get_running_loop()
        committing: asyncio.Future[None] | None = None
        committed: _Batch | None = None
        while True:
            if not self._woken:
                self._wake_waiter = loop.create_future()
                await self._wake_waiter
            self._woken = False
            try:
                if committing is not None and committing.done():
                    assert committed is not None
                    failed = committing.exception()
                    committing = None
                    self._finish_commit(committed, failed)
                await self._activate_dirty()
                stalled = self.storage_error is not None and loop.time() < self._retry_at
                if committing is None and not stalled and not self._batch.empty():
                    committed, self._batch = self._batch, _Batch()
                    rows = len(committed.events) + len(committed.new_runs) + len(committed.closed)
                    if rows > INLINE_COMMIT_ROWS:
                        committing = loop.run_in_executor(self._db_thread, self.store.write, committed.events, committed.new_runs, committed.closed)
                        committing.add_done_callback(lambda _: self._wake())
                    else:
                        # A small batch while nothing else is committing: the round trip to the DuckDB
                        # thread costs more than the write itself (a sequential step: 1.6 -> 1.3 ms).
                        inline_error: Exception | None = None
                        if rows:
                            try:
                                self.store.write(committed.events, committed.new_runs, committed.closed)
                            except Exception as exc:  # noqa: BLE001 - handled like any failed commit
                                inline_error = exc
                        self._finish_commit(committed, inline_error)
            except Exception:  # the writer must outlive any bug, or every run would hang
                logger.exception("wfkit: writer step failed")

    def _finish_commit(self, batch: _Batch, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, Exception):
                raise error
            if _is_storage_error(error):
                self._stall(batch, error)
            else:
                self._commit_failed(batch, error)
            return
        if self.storage_error is not None:
            logger.warning("wfkit: writes to %s succeed again; resuming", self.store.path or "memory")
            self.storage_error = None
            self._stall_delay = 0.0
        self.commit_error = None
        fault("after_commit")
        for _, effect in batch.effects:
            try:
                effect()
            except Exception:  # one run's effect must not stop the others (logged, not raised)
                logger.exception("wfkit: effect after commit failed")
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        if not self._batch.empty():
            self._wake()

    def _stall(self, batch: _Batch, exc: Exception) -> None:
        """The disk is full (or the file cannot be written): keep everything recorded in memory, accept no new
        work, and retry the same batch, first after half a second, then less often, until it commits."""
        if self.storage_error is None:
            logger.error("wfkit: cannot write to %s (%s); no new work is accepted until writes succeed again", self.store.path or "memory", exc)
        self.storage_error = self.commit_error = exc
        # Later records go after this batch's, so they join it: the retry commits them all, in order.
        pending = self._batch
        batch.events += pending.events
        batch.new_runs += pending.new_runs
        batch.closed += pending.closed
        batch.effects += pending.effects
        batch.waiters += pending.waiters
        batch.runs.update(pending.runs)
        self._batch = batch
        self._stall_delay = min(5.0, max(0.5, self._stall_delay * 2))
        loop = asyncio.get_running_loop()
        self._retry_at = loop.time() + self._stall_delay
        loop.call_later(self._stall_delay, self._wake)

    def _commit_failed(self, batch: _Batch, exc: Exception) -> None:
        """Forget what the failed batch (and anything built on it) holds in memory, and reload those runs from disk."""
        self.commit_error = exc
        logger.error("wfkit: commit of %d events failed: %s", len(batch.events), exc)
        affected = dict(batch.runs)
        pending = self._batch
        affected.update({rid: run for rid, run in pending.runs.items() if rid in affected})
        pending.events = [(rid, e) for rid, e in pending.events if rid not in affected]
        pending.new_runs = [r for r in pending.new_runs if r.run_id not in affected]
        pending.closed = [r for r in pending.closed if r.run_id not in affected]
        pending.effects = [(r, f) for r, f in pending.effects if r is None or r.run_id not in affected]
        new_ids = {row.run_id for row in batch.new_runs}
        for run_id, run in affected.items():
            self._closing_runs.pop(run_id, None)
            self.activities.abandon_run(run)
            if self._runs.get(run_id) is run:
                del self._runs[run_id]
            if self._open_by_workflow_id.get(run.workflow_id) is run:
                del self._open_by_workflow_id[run.workflow_id]
        error = type(exc)(f"could not commit to {self.store.path or 'memory'}: {exc}") if isinstance(exc, OSError) else exc
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_exception(error)
        reload_ids = [rid for rid in affected if rid not in new_ids]
        try:
            rows = [self.store.get_run(rid) for rid in reload_ids]
            histories = self.store.load_events_many(reload_ids)
        except Exception:
            logger.exception("wfkit: cannot reload runs after a failed commit; reopen the engine")
            return
        for row in rows:
            reloaded = self._load_run(row, histories.get(row["run_id"], [])) if row is not None and row["status"] == "Running" else None
            if reloaded is not None:
                self._resume(reloaded)

    def __repr__(self) -> str:
        return f"<wfkit.Engine {self.store.path or ':memory:'} open_runs={len(self._runs)}>"

    #### Temporal interop (the logic lives in wfkit.temporal) ####

    async def import_temporal(self, source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, progress: bool = True) -> Any:
        """Store Temporal JSON histories (a file, a directory searched for `*.json`/`*.json.gz`, or several).

        A malformed file is reported in the returned `wfkit.temporal.ImportReport` (with its JSON
        path) and the others still import. Imported runs are never resumed by the engine.
        """
        from wfkit.temporal._import import import_into

        return await import_into(self, source, progress=progress)

    def export_temporal(self, run_id: str, path: str | os.PathLike[str]) -> Any:
        """Write a run (a run id, or a workflow id for its latest run) as Temporal history JSON; returns the path."""
        from wfkit.temporal._export import export_history

        self._check_open()
        known = run_id in self._runs or run_id in self._closing_runs or self.store.get_run(run_id) is not None
        history = self.history(run_id=run_id) if known else self.history(run_id)
        return export_history(history, path)

    #### Analytics, export and reports (the logic lives in wfkit._analytics) ####

    def stats(self, by: str = "activity") -> duckdb.DuckDBPyRelation:
        """Per activity type: count, failure and retry rates, p50/p95/p99 duration (the `activity_stats` view); `by="workflow"`: per workflow type."""
        from wfkit._analytics import _queries

        self._check_open()
        return _queries.stats(self.store, by)

    def slowest(self, n: int = 10, *, kind: str = "activities", type: str | None = None) -> duckdb.DuckDBPyRelation:  # noqa: A002
        """The `n` slowest activity attempts by execution time (or runs, with `kind="runs"`), optionally of one type."""
        from wfkit._analytics import _queries

        self._check_open()
        return _queries.slowest(self.store, n, kind=kind, type=type)

    def failures(self, since: Any = None, *, final_only: bool = False) -> duckdb.DuckDBPyRelation:
        """Failed activity attempts and failed or terminated runs closed since `since` (datetime, timedelta ago, ISO string), newest first."""
        from wfkit._analytics import _queries

        self._check_open()
        return _queries.failures(self.store, since, final_only=final_only)

    def compare(self, run_a: str, run_b: str, *, duration_tolerance: float = 0.5) -> duckdb.DuckDBPyRelation:
        """Two runs (run ids or workflow ids) side by side, one row per activity, with a `differences` list."""
        from wfkit._analytics import _queries

        self._check_open()
        return _queries.compare(self.store, run_a, run_b, duration_tolerance=duration_tolerance)

    def export(
        self,
        path: str | os.PathLike[str],
        format: str = "parquet",  # noqa: A002
        *,
        partition_by_date: bool | None = None,
        overwrite: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Write the committed events, workflows, runs and activities as Parquet (or "jsonl") under the directory `path`; returns the manifest.

        Read it back with `wfkit.import_histories(path, db=...)`. More than a million events are
        partitioned by date unless `partition_by_date` says otherwise.
        """
        from wfkit._analytics import _transfer

        self._check_open()
        return _transfer.export(self.store, path, format, partition_by_date=partition_by_date, overwrite=overwrite, progress=progress)

    def report(self, run_id: str, path: str | os.PathLike[str]) -> os.PathLike[str]:
        """Write one run (a run id, or a workflow id for its latest run) as a self-contained HTML report; returns its path."""
        from wfkit._analytics import _queries, _report

        self._check_open()
        resolved = _queries.resolve_run(self.store, run_id)
        return _report.write_report(self.store, resolved, path, self.history(run_id=resolved))


_STORAGE_TROUBLE = ("no space left", "could not write", "disk full", "read-only file system", "input/output error", "quota exceeded")


def _is_storage_error(error: BaseException) -> bool:
    """True for failures of the disk under the database (worth waiting out), not of the data being written."""
    return isinstance(error, OSError) or any(text in str(error).lower() for text in _STORAGE_TROUBLE)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
