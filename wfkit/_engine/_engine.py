"""The engine: runs workflows on the caller's asyncio loop and records every step in DuckDB.

How a step flows: something happens (an activity ends, a timer fires, a signal arrives) and
its event is appended to the open batch and the run is marked dirty. The writer task then
activates every dirty run (its workflow code runs on its own deterministic loop and returns
commands, which become more events in the same batch), commits the batch in one DuckDB
transaction on a dedicated thread (group commit), and only then carries out the effects
(start activities, arm timers, wake waiting handles). A crash therefore leaves every
activation either wholly recorded or not at all.

`Engine` is the facade: it wires the parts (docs/architecture.md) and holds the public API.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import datetime
import functools
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from wfkit._definitions import ActivityDefinition, Registry, WorkflowDefinition, default_registry
from wfkit._engine import _extensions
from wfkit._engine._activator import Activator
from wfkit._engine._activities import ActivityMock, ActivityRunner, TaskQueue
from wfkit._engine._clock import Clock, SystemClock
from wfkit._engine._compat import CompatibilityChecker, CompatibilityReport
from wfkit._engine._concurrency import ConcurrencyLimits
from wfkit._engine._external import ExternalRequests
from wfkit._engine._handle import WorkflowHandle
from wfkit._engine._ledger import EngineHealth, LiveRun, RunLedger
from wfkit._engine._lifecycle import RunLifecycle
from wfkit._engine._opener import EngineOpener, live_engine, open_engine, release
from wfkit._engine._operations import RunOperations
from wfkit._engine._payloads import DataConverter, PayloadStaging
from wfkit._engine._recovery import Recovery
from wfkit._engine._retention import Before, PurgeReport, Retention, WorkflowFilter
from wfkit._engine._schedules import DEFAULT_CATCHUP, BackfillReport, Overlap, ScheduleHandle, Schedules
from wfkit._engine._timers import Timers
from wfkit._engine._writer import Writer
from wfkit._faults import fault
from wfkit._history._events import EventType
from wfkit._history._history import History
from wfkit._history._payload import PayloadConverter
from wfkit._history._summary import RunSummary
from wfkit._store._live import LiveServer
from wfkit._store._store import Store
from wfkit.errors import ArgumentError, DefinitionError, EngineClosedError, WorkflowNotFoundError

if TYPE_CHECKING:
    import duckdb

    from wfkit._analytics._histories import Histories

__all__ = ["Engine", "EngineHealth", "IdReusePolicy"]

E = EventType
T = TypeVar("T")

IdReusePolicy = Literal["allow_duplicate", "reject_duplicate", "terminate_if_running"]


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
        shutdown_grace: float = 5.0,
        retention: datetime.timedelta | None = None,
        concurrency_limits: dict[str, int] | None = None,
    ) -> None:
        self.store = store
        self.shutdown_grace = shutdown_grace
        """Seconds `close()` waits for running activity attempts before recording them as lost."""
        self.registry = registry or default_registry
        self.clock: Clock = clock or SystemClock()
        # Tables and big JSON values go out of line, into the same file (see _payloads.py).
        staging = PayloadStaging()
        data = DataConverter(converter, staging, store.read_payload)
        self.converter: PayloadConverter = data
        eager = data.eager()  # activities and handle results get values, workflow code lazy handles
        # The parts, lowest first; each gets only the parts below it (docs/architecture.md).
        self._ledger = ledger = RunLedger(wake=lambda: self._writer.wake())
        self._writer = writer = Writer(
            store,
            self.clock,
            activate=lambda: self._activator.activate_dirty(),
            on_rollback=lambda runs, new: self._recovery.roll_back(runs, new),
            on_fenced=lambda error: self._stop_work(error),
            payloads=staging,
        )
        self._timers = timers = Timers(self.clock, ledger, writer)
        self.activities = ActivityRunner(
            ledger=ledger,
            writer=writer,
            timers=timers,
            clock=self.clock,
            converter=eager,
            registry=self.registry,
            queues=task_queues or {},
            default=default_task_queue or TaskQueue(),
            max_threads=max_activity_threads,
        )
        self._limits = limits = ConcurrencyLimits(self.registry, concurrency_limits or {}, admitted=ledger.mark_dirty)
        self._lifecycle = RunLifecycle(ledger, writer, timers, self.activities, limits)
        self._external = external = ExternalRequests(ledger, writer)
        self._activator = Activator(
            ledger=ledger,
            writer=writer,
            timers=timers,
            activities=self.activities,
            lifecycle=self._lifecycle,
            external=external,
            registry=self.registry,
            converter=self.converter,
            deadlock_timeout=deadlock_timeout,
        )
        self._recovery = Recovery(store, ledger, timers, self.activities, self._activator, limits, external)
        self._operations = RunOperations(
            ledger=ledger,
            writer=writer,
            lifecycle=self._lifecycle,
            activator=self._activator,
            limits=limits,
            registry=self.registry,
            converter=eager,
            clock=self.clock,
        )
        self._compat = CompatibilityChecker(ledger.runs, self.converter)
        self._live_reads: LiveServer | None = None
        self._retention = Retention(writer.in_store_thread, self.clock, retention, closed=lambda: writer.closed)
        self._schedules = Schedules(
            ledger=ledger,
            writer=writer,
            lifecycle=self._lifecycle,
            operations=self._operations,
            registry=self.registry,
            converter=self.converter,
            clock=self.clock,
            start=self.start,
        )
        self.activities.services = self._schedules
        self.last_compatibility_report: CompatibilityReport | None = None  # of the last redefinition with open runs

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
        shutdown_grace: float = 5.0,
        retention: datetime.timedelta | None = None,
        concurrency_limits: dict[str, int] | None = None,
        reuse: bool = False,
    ) -> EngineOpener[Engine]:
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
            shutdown_grace: seconds `close()` waits for running activity attempts (see `close`).
            retention: keep closed runs this long, then purge them (at open and every hour; see `purge`).
            concurrency_limits: how many runs started with each `concurrency_key` execute at once (see `start`).
            reuse: if this process already has an engine open on the file, return that engine (the other
                options are then ignored) instead of raising `StoreLockedError`.

        Raises:
            StoreLockedError: another process holds the file, or an engine of this process does (one engine
                per file per process: re-running a notebook's open cell never makes a second writer).
            StoreCorruptError, NotAWfkitDatabaseError, SchemaVersionError: the file cannot be used.
        """

        make = functools.partial(
            cls,
            registry=registry,
            clock=clock,
            converter=converter,
            task_queues=task_queues,
            default_task_queue=default_task_queue,
            max_activity_threads=max_activity_threads,
            deadlock_timeout=deadlock_timeout,
            shutdown_grace=shutdown_grace,
            retention=retention,
            concurrency_limits=concurrency_limits,
        )
        return open_engine(make, path, reuse=reuse)

    @staticmethod
    def live(path: str | os.PathLike[str]) -> Engine | None:
        """The engine this process has open on `path` (symlinks and relative paths resolved), or None."""
        engine: Engine | None = live_engine(path)
        return engine

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> None:
        self.registry.subscribe(self)
        self._recovery.recover()
        self._writer.start()
        await self._writer.flush()
        self._retention.start()
        self._live_reads = self.store.serve_live_reads()

    async def close(self, *, grace: float | None = None) -> None:
        """Let running activity attempts finish for up to `grace` seconds (default: `shutdown_grace`), then close.

        Attempts still running then are recorded as lost (`EngineShutdown`, ending now) and run again
        at the next `Engine.open`, where every open run resumes; nothing recorded is lost.
        """
        if self._writer.closed:
            return
        try:
            await self._retention.stop()
            if self._writer.fenced is None:
                await self.activities.drain(self.shutdown_grace if grace is None else grace)
                await self._writer.flush()
        finally:
            self._writer.closed = True
            self._stop_work(EngineClosedError("the engine was closed while waiting for this run"))
            if self._live_reads is not None:
                self._live_reads.stop()
            try:
                await self._writer.stop()
            finally:
                release(self.store.path, self)

    def _stop_work(self, error: BaseException) -> None:
        """No more attempts, timers or activations; whoever waits for a run gets `error`."""
        self._ledger.shutting_down = True
        self._timers.close()
        self.activities.close()
        self._activator.close()
        self._ledger.fail_waiters(error)

    @property
    def closed(self) -> bool:
        """True once `close()` has begun: the engine accepts no more calls."""
        return self._writer.closed

    def health(self) -> EngineHealth:
        """What the engine holds in memory right now, and whether its last commit failed."""
        return EngineHealth(
            open_runs=len(self._ledger.runs),
            closing_runs=len(self._ledger.closing),
            close_waiters=self._ledger.waiter_count,
            armed_timers=len(self._timers),
            pending_rows=self._writer.pending_rows,
            commit_error=self._writer.commit_error,
            storage_error=self._writer.storage_error,
            queued_runs=self._limits.queued_count,
        )

    def idle(self, *, count_activities: bool = True) -> bool:
        """True when nothing is in progress: no workflow task running or waiting to run, no activity attempt
        running, nothing waiting to commit. Then only the clock (timers, retry backoffs, timeouts) or a call
        from outside (a start, a signal) can move a run; a time-skipping clock may jump (`wfkit.testing.engine`).

        `count_activities=False` leaves running attempts out (they wait on the clock for their timeouts only).
        """
        busy_activities = count_activities and self.activities.running > 0
        return self._writer.idle and not self._ledger.has_dirty and not self._activator.thread.busy and not busy_activities

    async def wait_idle(self, *, timeout: float | None = None, count_activities: bool = True) -> None:
        """Wait until `idle()` holds over a few loop turns in a row (polled, more slowly the longer it takes).

        Raises:
            TimeoutError: not idle within `timeout` seconds of real time.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay, calm = 0.0, 0
        while calm < 3:
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError(f"the engine was still busy after {timeout:g}s: {self.health()}")
            if self.idle(count_activities=count_activities):
                calm += 1
                await asyncio.sleep(0)
            else:
                calm = 0
                await asyncio.sleep(delay)
                delay = min(0.01, delay * 2 or 0.0002)

    @property
    def commit_error(self) -> BaseException | None:
        """The last error a commit raised (None once a later commit succeeds)."""
        return self._writer.commit_error

    @property
    def storage_error(self) -> BaseException | None:
        """Set while the database cannot be written (disk full): no new work is accepted until a retry commits."""
        return self._writer.storage_error

    #### Starting and forking runs ####

    async def start(
        self,
        workflow: WorkflowDefinition[Any, Any] | str,
        *args: Any,
        id: str | None = None,  # noqa: A002 - the natural name, as in Temporal
        task_queue: str | None = None,
        id_reuse_policy: IdReusePolicy = "allow_duplicate",
        start_signal: tuple[str, Any] | None = None,
        concurrency_key: str | None = None,
        search_attributes: dict[str, Any] | None = None,
        memo: dict[str, Any] | None = None,
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
            start_signal: `(name, payload)`: signal-with-start. The signal is recorded with the start, in the
                same transaction, so the workflow's first activation already sees it; if a run with this
                workflow id is open, that run gets the signal and its handle is returned.
            concurrency_key: count the run against this key's limit (`Engine.open(concurrency_limits=...)`);
                a run over a limit (this one, or its workflow's `max_concurrent`) is recorded and waits,
                in start order, until a slot frees. `describe().queued` says what it waits for.
            search_attributes: `{name: value}` (str, number, bool, date/datetime, or a list of those) to find the
                run by: `engine.list(search_attributes=...)`, `wfkit ls --where name=value`, the `runs` view.
                Workflow code reads them in `wfkit.info()` and changes them with `wfkit.upsert_search_attributes`.
            memo: `{name: JSON value}` notes kept with the run (not indexed); `wfkit.upsert_memo` changes them.

        Raises:
            WorkflowAlreadyStartedError: the id is in use by an open run (or was ever used, with reject_duplicate).
            PayloadError: an argument cannot be stored.
        """
        self._writer.check_writable()
        definition = self._definition(workflow)
        run = self._lifecycle.start_requested(
            definition, definition.bind(args, kwargs), self.converter, id, task_queue, id_reuse_policy, start_signal, concurrency_key,
            search_attributes=search_attributes, memo=memo,
        )  # fmt: skip
        await self._writer.flush()
        return WorkflowHandle(self._operations, run.workflow_id, run.run_id)

    async def update_with_start(
        self,
        workflow: WorkflowDefinition[Any, Any] | str,
        *args: Any,
        id: str,  # noqa: A002
        update: str,
        update_args: Sequence[Any] = (),
        update_id: str | None = None,
        task_queue: str | None = None,
    ) -> tuple[WorkflowHandle, Any]:
        """Send update `update` to the open run of workflow id `id`, starting that run first if there is none.

        As Temporal's update-with-start: the start and the update request are recorded in one transaction
        (`WorkflowExecutionUpdateAdmitted`), so the run's first workflow task delivers the update, after a
        crash too. Returns the run's handle and the update's result.

        Raises:
            WorkflowUpdateFailedError: the update was rejected or its handler raised (the run stays started).
        """
        self._writer.check_writable()
        existing = self._ledger.by_workflow_id.get(id)
        if existing is not None:
            handle = WorkflowHandle(self._operations, existing.workflow_id, existing.run_id)
            return handle, await handle.update(update, *update_args, id=update_id)
        definition = self._definition(workflow)
        payloads = self._operations.encode_update_args(update, tuple(update_args))
        run = self._lifecycle.start_requested(definition, definition.bind(args, {}), self.converter, id, task_queue, "allow_duplicate")
        update_id = update_id or uuid.uuid4().hex
        outcome = self._operations.deliver_update(run, update_id, update, payloads, admit=True)
        await self._writer.flush()
        return WorkflowHandle(self._operations, run.workflow_id, run.run_id), self._operations.decode_update(update, update_id, await outcome)

    async def fork(
        self,
        run_id: str,
        *,
        at_event: int | None = None,
        id: str | None = None,  # noqa: A002
        parents: bool = False,
        results: Mapping[int | str, Any] | None = None,
        raise_: Mapping[int | str, BaseException | str] | None = None,
    ) -> WorkflowHandle:
        """Start a new run that reuses `run_id`'s history up to `at_event` and continues live with the current code.

        Activity results, timers and child workflows recorded before that point are reused, not re-run:
        fix a failing step's code, then fork from just before it. A child running at the cut is
        forked with the run and linked to it (its finished steps reused, its first failed step run
        again). The new run records `forked_from_run_id`; the original is left as it is. The
        default is the latest resume point; an `at_event` at or past the close means the same.

        Args:
            run_id: the run to fork.
            at_event: the last event id to copy.
            id: the new run's workflow id (default: the original's, which must not be running).
            parents: for a child workflow: fork its parent chain too, each parent just before it
                learned how this child ended, so the whole tree completes; the handle returned is
                the root's.
            results: a what-if: `{step: value}` replaces the recorded result of a step (an activity type
                for its first run, or an event id) before the fork runs on, so the code downstream sees
                the value and recomputes for real. The fork cuts right after the last edited step
                (unless `at_event` is later); the edited events keep the originals in `what_if`.
                `engine.histories.compare(original, fork)` shows what was reused, edited and re-run.
            raise_: as `results`, with an exception (or a message) the step fails with instead.

        Raises:
            WorkflowNotFoundError: no such run.
            WorkflowAlreadyStartedError: a workflow id is in use by an open run (use `reset`, or pass `id`).
            ForkPointError: `at_event` is inside a workflow task (or between a signal sent to another
                workflow and its delivery); the error names the nearest events a fork can resume at.
        """
        self._writer.check_writable()
        edits = None
        if results or raise_:
            if parents:
                raise ArgumentError("a what-if fork (results=, raise_=) edits the run itself; parents=True is for failed children")
            at_event, edits = self._lifecycle.what_if(run_id, at_event, results or {}, raise_ or {}, self.converter)
        root, root_at, cuts = self._lifecycle.fork_chain(run_id, at_event) if parents else (run_id, at_event, {})
        forked = self._lifecycle.fork(root, root_at, workflow_id=id, child_cuts=cuts, edits=edits)
        for run in forked:
            self._recovery.resume(run)
            self._ledger.mark_dirty(run)
        fault("fork")
        await self._writer.flush()
        return WorkflowHandle(self._operations, forked[0].workflow_id, forked[0].run_id)

    async def reset(self, run_id: str, *, at_event: int | None = None, reason: str = "reset") -> WorkflowHandle:
        """Like `fork`, under the same workflow id, terminating the original run first if it is still open."""
        original = self._ledger.runs.get(run_id)
        if original is not None:
            self._lifecycle.close(original, E.WorkflowExecutionTerminated, {"reason": reason})
        return await self.fork(run_id, at_event=at_event)

    #### Schedules and backfills ####

    async def schedule(
        self,
        workflow: WorkflowDefinition[Any, Any] | str,
        *args: Any,
        id: str,  # noqa: A002
        cron: str | None = None,
        every: datetime.timedelta | float | None = None,
        timezone: str = "UTC",
        overlap: Overlap = "skip",
        catchup_window: datetime.timedelta | float = DEFAULT_CATCHUP,
        jitter: datetime.timedelta | float = 0.0,
        start_at: datetime.datetime | str | None = None,
        end_at: datetime.datetime | str | None = None,
        paused: bool = False,
    ) -> ScheduleHandle:
        """Run `workflow(*args)` on a cron expression or every interval, durably (docs/operations.md).

        The schedule lives in the file as a `wfkit.schedule` run (workflow id `schedule/<id>`) whose
        history records every firing: the run it started (workflow id `<id>-<scheduled time>`,
        `wfkit.info().scheduled_time` inside it) or why it skipped. Called again with an id that is
        open (a re-run notebook cell), it updates that schedule instead of making a second one.

        ```python
        nightly = await engine.schedule(etl, ["a.csv"], id="nightly-etl", cron="0 2 * * *", timezone="Europe/Berlin")
        print(await nightly.describe())  # next 5 fire times, latest firings
        ```

        Args:
            cron: a 5-field cron expression, evaluated in `timezone` (DST as cron does it).
            every: or a fixed interval (aligned to the Unix epoch: every hour fires on the hour).
            overlap: when a firing comes while the schedule's previous run still runs: "skip" it,
                "buffer_one" (start it when that run closes; at most one waits), "allow_all",
                "cancel_other" or "terminate_other" (then start it).
            catchup_window: after downtime, firings missed by at most this long still fire (default 1
                day); older ones are recorded as skipped.
            jitter: delay each firing by a random time up to this long (its scheduled time stays).
            start_at, end_at: fire only between these times.
            paused: create it paused.
        """
        self._writer.check_writable()
        settings: dict[str, Any] = {"id": id, "timezone": timezone, "overlap": overlap, "catchup_window": catchup_window, "jitter": jitter, "paused": paused}
        settings |= {"cron": cron, "every": every} if cron is not None or every is not None else {}
        settings |= {k: v for k, v in (("start_at", start_at), ("end_at", end_at)) if v is not None}
        return await self._schedules.create(self._definition(workflow), list(args), settings)

    def get_schedule(self, schedule_id: str) -> ScheduleHandle:
        """The handle of an open schedule (`WorkflowNotFoundError` names the open ones if there is none)."""
        self._writer.check_open()
        return self._schedules.get(schedule_id)

    def schedules(self) -> list[ScheduleHandle]:
        """The open schedules, by id."""
        self._writer.check_open()
        return self._schedules.all()

    async def backfill(
        self,
        schedule_id: str,
        *,
        start: datetime.datetime | datetime.date | str,
        end: datetime.datetime | datetime.date | str,
        overlap: Literal["allow_all", "buffer_all", "buffer_one", "skip"] = "allow_all",
        max_concurrent: int = 1,
        wait: bool = True,
        progress: bool | Callable[[int, int], None] = True,
    ) -> BackfillReport:
        """Run the firings the schedule would have had in [start, end), `max_concurrent` at a time.

        Each firing's run has the workflow id `<id>-backfill-<scheduled time>` and its scheduled time
        in `wfkit.info()`. The backfill is itself a run (`schedule/<id>/backfill/<start>..<end>`):
        after a crash it resumes at the next open with no firing started twice or skipped; the same
        range again attaches to it while it runs, and starts nothing once it has completed.

        Args:
            start, end: datetimes (naive ones in the schedule's time zone), dates or ISO strings.
            overlap: "allow_all" (up to `max_concurrent` at once) or "buffer_all" (one after another; "skip" and
                "buffer_one" mean the same here: a backfill never skips a firing).
            wait: wait until it is done (False: return once it is recorded).
            progress: show a progress bar (a widget in a notebook, rich in a terminal), or call this
                with (firings done, firings) as it goes.
        """
        self._writer.check_writable()
        return await self._schedules.backfill(schedule_id, start, end, overlap=overlap, max_concurrent=max_concurrent, wait=wait, progress=progress)

    #### Looking at runs ####

    def get_handle(self, workflow_id: str, run_id: str | None = None) -> WorkflowHandle:
        """A handle to an existing run: the latest run of `workflow_id` unless `run_id` is given.

        Raises:
            WorkflowNotFoundError: no run has that id.
        """
        self._writer.check_open()
        return WorkflowHandle(self._operations, workflow_id, self._operations.resolve(workflow_id, run_id))

    async def purge(
        self,
        *,
        before: Before = None,
        workflow: WorkflowFilter = None,
        status: str | Sequence[str] | None = None,
        batch_size: int = 100,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> PurgeReport:
        """Delete closed runs with their events, oldest first, `batch_size` runs per transaction.

        Open runs are never deleted. Between batches the engine commits as usual, so a purge of
        any size holds the engine up for one batch at a time. Afterwards a checkpoint frees the
        deleted rows' blocks for new data (DuckDB reuses them; the file does not shrink).

        ```python
        await engine.purge(before=datetime.timedelta(days=30))            # older than 30 days
        await engine.purge(before="2026-11-01", workflow=nightly_etl, status="Completed", dry_run=True)
        ```

        Args:
            before: runs that closed before this time: a datetime (naive means UTC), an ISO date
                string, or a timedelta (an age). None: any closed run.
            workflow: only runs of this workflow (a definition or type name, or several).
            status: only runs with this close status (Completed, Failed, Canceled, Terminated,
                ContinuedAsNew, TimedOut), or several.
            dry_run: count what would be deleted and delete nothing.
            progress: called with the number of runs deleted so far after each batch.
        """
        self._writer.check_open()
        return await self._retention.purge(before=before, workflow=workflow, status=status, batch_size=batch_size, dry_run=dry_run, progress=progress)

    def history(self, workflow_id: str | None = None, *, run_id: str | None = None) -> History:
        """The events of a run: the latest run of `workflow_id`, or the run `run_id`."""
        self._writer.check_open()
        if run_id is None:
            if workflow_id is None:
                raise ArgumentError("history() needs a workflow_id or a run_id")
            run_id = self._operations.resolve(workflow_id, None)
        return self._operations.history(run_id)

    def run_summaries(self, limit: int = 50) -> list[RunSummary]:
        """The most recent runs, newest first, for monitors: status, type, start, elapsed, current activities, progress.

        Open runs come from memory (current activities, activities done so far), closed ones from the store.
        """
        self._writer.check_open()
        now = self.clock.now()
        out = []
        for row in self.store.recent_runs(limit):
            run = self._ledger.runs.get(row["run_id"])
            out.append(self._operations.live_summary(run) if run is not None else RunSummary.from_row(row, now))
        return out

    def list(
        self,
        *,
        search_attributes: Mapping[str, Any] | None = None,
        status: str | None = None,
        workflow_type: str | None = None,
        limit: int | None = 50,
    ) -> builtins.list[RunSummary]:
        """Runs whose search attributes match (each name equal to its value, or a list containing it), newest first.

        `engine.list(search_attributes={"partition": "2026-11-30"}, status="Failed")`; each summary carries
        the run's `search_attributes` and `memo`. For anything richer, query the `runs` view with `engine.sql`.
        """
        listed = self.histories.list(search_attributes=search_attributes, status=status, workflow_type=workflow_type, limit=limit)
        live = self._ledger.runs
        return [
            dataclasses.replace(self._operations.live_summary(live[s.run_id]), search_attributes=s.search_attributes, memo=s.memo) if s.run_id in live else s
            for s in listed
        ]

    def waiting_for_code(self) -> builtins.list[RunSummary]:
        """Open runs whose workflow type is not registered in this process (left untouched until it is)."""
        return [self._operations.live_summary(r) for r in self._ledger.runs.values() if r.waiting_for_code]

    def blocked_runs(self) -> builtins.list[RunSummary]:
        """Open runs stopped by a nondeterminism error (`blocked` says why); they continue once fixed code is registered."""
        return [self._operations.live_summary(r) for r in self._ledger.runs.values() if r.blocked]

    def runs(self) -> duckdb.DuckDBPyRelation:
        """Every run as a DuckDB relation (`.df()`, `.pl()`, `.arrow()`), newest first."""
        self._writer.check_open()
        return self.store.sql("SELECT * FROM workflows ORDER BY start_time DESC, run_id")

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run SQL over the histories with bound parameters; returns a DuckDB relation."""
        self._writer.check_open()
        return self.store.sql(query, params)

    def output(
        self, workflow_id: str, activity: str | None = None, *, event_id: int | None = None, attempt: int | None = None, run_id: str | None = None
    ) -> duckdb.DuckDBPyRelation:
        """The table a step returned, as a DuckDB relation (`.df()`, `.pl()`, `.arrow()`, joins): by default the latest
        completed attempt of activity `activity` in the latest run of `workflow_id`.

        Raises:
            WorkflowNotFoundError: no such run.
            PayloadError: no such step, or it returned no table.
        """
        self._writer.check_open()
        return self.store.output(workflow_id, activity, event_id=event_id, attempt=attempt, run_id=run_id)

    @property
    def histories(self) -> Histories:
        """Analytics over this engine's file: `stats`, `slowest`, `failures`, `compare`, `export`, `report`, ... (`wfkit.Histories`)."""
        self._writer.check_open()
        return _extensions.hook("histories")(self)  # type: ignore[no-any-return]

    def compare(self, run_a: str, run_b: str) -> duckdb.DuckDBPyRelation:
        """`engine.histories.compare(run_a, run_b)`: a run and its fork side by side, one row per step, with
        `in_b` (reused, edited or ran), `differences` and `result_diff`. Kept on the engine because
        comparing a what-if fork with its original is the step right after `fork`."""
        return self.histories.compare(run_a, run_b)

    async def in_store_thread(self, fn: Callable[[Store], T]) -> T:
        """Run `fn(store)` on the engine's DuckDB thread, after the commits recorded before it (bulk imports)."""
        self._writer.check_writable()
        return await self._writer.in_store_thread(fn)

    #### Code and configuration ####

    def register(self, *definitions: Any) -> None:
        """Register workflows and activities with this engine's registry (decorators do this already)."""
        for definition in definitions:
            if isinstance(definition, WorkflowDefinition):
                self.registry.add_workflow(definition)
            elif isinstance(definition, ActivityDefinition):
                self.registry.add_activity(definition)
            else:
                raise DefinitionError(f"register() takes @wfkit.workflow and @wfkit.activity functions, got {type(definition).__name__}")

    def mock_activity(
        self,
        activity: ActivityDefinition[Any, Any] | str,
        *,
        returns: Any = None,
        raises: BaseException | type[BaseException] | Sequence[BaseException | type[BaseException]] | None = None,
        fn: Callable[..., Any] | None = None,
    ) -> ActivityMock:
        """Run a stand-in instead of the activity's code (tests): its attempts are recorded as usual.

        ```python
        engine.mock_activity(extract, returns=[{"id": 1}])                  # every attempt returns this
        engine.mock_activity(load, raises=[OSError("busy"), OSError("busy")], returns=3)  # fails twice, then 3
        engine.mock_activity(transform, fn=lambda rows: {"n": len(rows)})  # computes from the arguments
        ```

        Attempt n raises `raises[n - 1]` while there are that many (one exception: every attempt raises
        it), then returns `returns`; `fn(*args)` (plain or `async`, run on the engine's loop) replaces both.
        Retries, timeouts and backoff apply as for the real code. Returns the mock (`calls` lists
        each attempt's arguments); `unmock_activity` restores the code.
        """
        name = activity if isinstance(activity, str) else activity.name
        if not isinstance(activity, (str, ActivityDefinition)):
            raise ArgumentError(f"mock_activity() takes a @wfkit.activity function or its name, got {type(activity).__name__}")
        mock = ActivityMock(name, returns=returns, raises=raises, fn=fn)
        self.activities.mocks[name] = mock
        return mock

    def unmock_activity(self, activity: ActivityDefinition[Any, Any] | str) -> None:
        """Run the activity's own code again (attempts from now on)."""
        self.activities.mocks.pop(activity if isinstance(activity, str) else activity.name, None)

    def configure_task_queue(self, name: str, config: TaskQueue) -> None:
        """Set the concurrency and rate limits of a task queue."""
        self.activities.configure(name, config)

    def set_concurrency_limit(self, key: str, limit: int) -> None:
        """Let at most `limit` runs started with `concurrency_key=key` execute at once (queued runs start if it grew)."""
        self._limits.set_limit(key, limit)

    def check_compatibility(self, workflow: WorkflowDefinition[Any, Any] | str) -> CompatibilityReport:
        """Replay each open run of `workflow` (a definition, not installed, or a registered name) on its code: compatible, or where they part."""
        self._writer.check_open()
        return self._compat.check(self._compat.resolve(self.registry, workflow))

    def on_workflow_registered(self, definition: WorkflowDefinition[Any, Any]) -> None:
        """Registry callback: open runs of this type switch to the new code, but those it would break (`check_compatibility`) wait for a compatible one."""
        self._switch_code(definition, [run for run in self._ledger.runs.values() if run.workflow_type == definition.name])
        self._limits.admit_waiting()  # its max_concurrent may have changed

    def _switch_code(self, definition: WorkflowDefinition[Any, Any], runs: builtins.list[LiveRun]) -> None:
        if self.closed or self.registry.workflow(definition.name) is not definition:
            return  # replaced again since
        busy = [run for run in runs if self._compat.in_flight(run)]  # a workflow task runs on the old code: switch once it is recorded
        if busy:
            self._writer.after_commit(None, lambda: self._switch_code(definition, [run for run in busy if self._ledger.is_live(run)]))
        report = self._compat.redefined(definition, runs)
        self.last_compatibility_report = report or self.last_compatibility_report
        broken = {result.run_id: result.message for result in report.incompatible}
        for run in (run for run in runs if run not in busy):
            run.instance = None
            run.blocked = broken.get(run.run_id)
            if run.waiting_for_code:
                run.waiting_for_code = False
                self._recovery.resume(run)
            if run.blocked is None:
                self._ledger.mark_dirty(run)
        self._compat.warn(report)  # one RuntimeWarning per incompatible run, nothing when all are compatible

    def _definition(self, workflow: WorkflowDefinition[Any, Any] | str) -> WorkflowDefinition[Any, Any]:
        if isinstance(workflow, str):
            definition = self.registry.workflow(workflow)
            if definition is None:
                known = ", ".join(sorted(self.registry.workflows())) or "none"
                raise WorkflowNotFoundError(f"no workflow named {workflow!r} is registered (registered: {known})")
            return definition
        if not isinstance(workflow, WorkflowDefinition):
            raise ArgumentError(f"start() needs a @wfkit.workflow function or its name, got {type(workflow).__name__}")
        if self.registry.workflow(workflow.name) is not workflow:
            self.registry.add_workflow(workflow)
        return workflow

    #### Temporal interop (the logic lives in wfkit.temporal, installed through _extensions) ####

    async def import_temporal(
        self,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        progress: bool = True,
        run_id: str | None = None,
        workflow_id: str | None = None,
    ) -> Any:
        """Store Temporal JSON histories (a file, a directory searched for `*.json`/`*.json.gz`, or several).

        A malformed file is reported in the returned `wfkit.temporal.ImportReport` (with its JSON
        path) and the others still import, each in its own transaction. Imported runs are never
        resumed by the engine. `run_id` (one file only) and `workflow_id` name a run whose file
        does not.
        """
        self._writer.check_writable()
        return await _extensions.hook("import_temporal")(self, source, progress=progress, run_id=run_id, workflow_id=workflow_id)

    def export_temporal(self, run_id: str, path: str | os.PathLike[str]) -> Any:
        """Write a run (a run id, or a workflow id for its latest run) as Temporal history JSON; returns the path."""
        self._writer.check_open()
        known = self._ledger.find(run_id) is not None or self.store.get_run(run_id) is not None
        history = self.history(run_id=run_id) if known else self.history(run_id)
        return _extensions.hook("export_temporal")(history, path)

    #### Regression tests (the logic lives in wfkit.testing, installed through _extensions) ####

    def save_test(
        self,
        run: str,
        directory: str | os.PathLike[str] = "tests/regressions",
        *,
        module: str | None = None,
        name: str | None = None,
        overwrite: bool = False,
    ) -> Any:
        """Save a run (a workflow id, a run id or a unique run-id prefix) as a regression test: its history as JSON
        and a pytest module that replays it against the current code (`wfkit.testing.save_test`).

        `module` is the module that defines the workflow, for the generated test to import (default:
        the definition's `__module__`; pass it for workflows defined in `__main__` or a notebook).
        Returns a `wfkit.testing.SavedTest` with both paths.
        """
        self._writer.check_open()
        return _extensions.hook("save_test")(self, run, directory, module=module, name=name, overwrite=overwrite)

    def __repr__(self) -> str:
        return f"<wfkit.Engine {self.store.path or ':memory:'} open_runs={len(self._ledger.runs)}>"
