"""The writer: the open batch and the group-commit pipeline.

Everything the engine records goes into the open batch: events, new and closed `workflows`
rows, and the effects to carry out once they are durable (start an attempt, arm a timer,
wake a waiting handle). The writer task activates the runs that have news (through the
`activate` callback), commits the batch in one DuckDB transaction, and only then runs its
effects. While one batch commits on the DuckDB thread, the loop keeps filling the next.

A full disk stalls the pipeline (nothing is lost; the same batch is retried); any other
failed commit is rolled back: the writer drops what the batch and everything built on it
hold, and hands the affected runs to `on_rollback` to be reloaded from disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wfkit._engine._clock import Clock
from wfkit._engine._ledger import LiveRun
from wfkit._engine._payloads import PayloadStaging
from wfkit._faults import fault
from wfkit._history._events import Event, EventType
from wfkit._store._payloads import StagedPayload
from wfkit._store._store import RunClose, RunRow, Store
from wfkit.errors import EngineClosedError, StoreFencedError, StoreUnavailableError

__all__ = ["Batch", "Writer"]

logger = logging.getLogger("wfkit.engine")
T = TypeVar("T")

#: Batches of at most this many rows commit on the event loop itself; bigger ones on the DuckDB thread.
INLINE_COMMIT_ROWS = 12

#: Seconds between the owner's "alive" marks in the file: an attempt lost in a crash is recorded as
#: ending at the last mark (or its start), not at the restart, so downtime never counts as its duration.
ALIVE_INTERVAL = 1.0

Rollback = Callable[[dict[str, LiveRun], set[str]], None]


@dataclass(slots=True)
class Batch:
    """What the next transaction writes, and what happens once it is durable."""

    events: list[tuple[str, Event]] = field(default_factory=list)
    new_runs: list[RunRow] = field(default_factory=list)
    closed: list[RunClose] = field(default_factory=list)
    effects: list[tuple[LiveRun | None, Callable[[], None]]] = field(default_factory=list)
    runs: dict[str, LiveRun] = field(default_factory=dict)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    alive_at: float | None = None
    """When set, the commit also records that this engine was alive then (see ALIVE_INTERVAL)."""
    payloads: list[StagedPayload] = field(default_factory=list)
    """Payload bytes staged when the batch was taken: written in its transaction, before its events."""

    def empty(self) -> bool:
        return not (self.events or self.new_runs or self.closed or self.effects or self.waiters or self.alive_at is not None)

    def rows(self) -> int:
        return len(self.events) + len(self.new_runs) + len(self.closed)

    def has_work(self) -> bool:
        """Rows, effects or waiters: anything but an "alive" mark."""
        return bool(self.events or self.new_runs or self.closed or self.effects or self.waiters)

    def absorb(self, later: Batch) -> None:
        """Append a later batch to this one (its records go after this batch's, in order)."""
        self.events += later.events
        self.new_runs += later.new_runs
        self.closed += later.closed
        self.effects += later.effects
        self.waiters += later.waiters
        self.runs.update(later.runs)
        self.alive_at = later.alive_at if later.alive_at is not None else self.alive_at
        known = {p.ref for p in self.payloads}
        self.payloads += [p for p in later.payloads if p.ref not in known]

    def drop_runs(self, run_ids: dict[str, LiveRun]) -> None:
        """Forget everything recorded for these runs."""
        self.events = [(rid, e) for rid, e in self.events if rid not in run_ids]
        self.new_runs = [r for r in self.new_runs if r.run_id not in run_ids]
        self.closed = [r for r in self.closed if r.run_id not in run_ids]
        self.effects = [(r, f) for r, f in self.effects if r is None or r.run_id not in run_ids]


class Writer:
    """Records into the open batch and commits batches in order, one transaction each."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        activate: Callable[[], Awaitable[None]],
        on_rollback: Rollback,
        on_fenced: Callable[[StoreFencedError], None],
        payloads: PayloadStaging | None = None,
    ) -> None:
        self.store = store
        self.payloads = payloads if payloads is not None else PayloadStaging()
        self._clock = clock
        self._activate = activate
        self._on_rollback = on_rollback
        self._on_fenced = on_fenced
        self.fenced: StoreFencedError | None = None
        """Set once a newer engine in this process took the file over: this one records nothing more."""
        self._batch = Batch()
        self._woken = False
        self._wake_waiter: asyncio.Future[None] | None = None
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfkit-commit")
        self._task: asyncio.Task[None] | None = None
        self._committing: asyncio.Future[None] | None = None
        self._committed: Batch | None = None
        self._store_jobs = 0
        """`in_store_thread` calls on the DuckDB thread: while any runs, no write may run inline beside it."""
        self.closed = False
        self.commit_error: BaseException | None = None
        """The last error a commit raised (None once a later commit succeeds)."""
        self.storage_error: BaseException | None = None
        """Set while the database cannot be written (disk full): no new work is accepted until a retry commits."""
        self._stall_delay = 0.0
        self._retry_at = 0.0
        self._stepping = False

    #### Recording ####

    def record(self, run: LiveRun, event_type: EventType, attributes: dict[str, Any]) -> Event:
        """Append an event to the run's history and to the open batch."""
        event = Event(run.state.next_event_id, event_type, round(self._clock.now(), 6), attributes)
        run.state.apply(event)
        run.events.append(event)
        batch = self._batch
        batch.events.append((run.run_id, event))
        batch.runs[run.run_id] = run
        self.wake()
        return event

    def add_run(self, run: LiveRun, row: RunRow, events: list[Event] | None = None) -> None:
        """A new `workflows` row (and, for a fork, the events copied into it)."""
        batch = self._batch
        batch.new_runs.append(row)
        if events:
            batch.events.extend((run.run_id, event) for event in events)
        batch.runs[run.run_id] = run
        self.wake()

    def close_run(self, row: RunClose) -> None:
        self._batch.closed.append(row)

    def after_commit(self, run: LiveRun | None, effect: Callable[[], None]) -> None:
        """Run `effect` once everything recorded so far is durable (dropped if `run`'s records are rolled back)."""
        self._batch.effects.append((run, effect))
        self.wake()

    #### Pipeline ####

    def start(self) -> None:
        self._start_task()
        self._mark_alive()

    def _start_task(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="wfkit-writer")
        self._task.add_done_callback(self._writer_ended)

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        # A KeyboardInterrupt (the notebook's stop button) can land in the writer's own step: it ends
        # the task, not the engine. What it was committing went back into the open batch; go on.
        if not self.closed and self.fenced is None and not task.cancelled():
            logger.warning("wfkit: the writer was interrupted (%r); restarting it", task.exception())
            self._start_task()
            self.wake()

    def _mark_alive(self) -> None:
        if self.closed or self.fenced is not None or self.store.epoch is None:
            return
        self._batch.alive_at = self._clock.now()
        self.wake()
        asyncio.get_running_loop().call_later(ALIVE_INTERVAL, self._mark_alive)

    async def flush(self) -> None:
        """Wait until everything recorded so far is durable."""
        if self.fenced is not None:
            raise self.fenced
        if self._task is None or self._task.done():
            if self.closed:
                raise EngineClosedError("this engine is closed")
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.waiters.append(waiter)
        self.wake()
        await waiter

    async def in_store_thread(self, fn: Callable[[Store], T]) -> T:
        """Run `fn(store)` on the DuckDB thread, after the commits before it (for bulk imports)."""
        loop = asyncio.get_running_loop()
        job = self._db_thread.submit(fn, self.store)
        self._store_jobs += 1
        job.add_done_callback(lambda _: _call_soon(loop, self._store_job_done))
        return await asyncio.wrap_future(job)

    def _store_job_done(self) -> None:
        self._store_jobs -= 1

    def wake(self) -> None:
        """Tell the writer there is work: events to commit, runs to activate, or a commit that finished."""
        self._woken = True
        waiter = self._wake_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def check_open(self) -> None:
        if self.closed:
            raise EngineClosedError("this engine is closed; open a new one with wfkit.Engine.open(...)")
        if self.fenced is not None:
            raise self.fenced

    def check_writable(self) -> None:
        self.check_open()
        if self.storage_error is not None:
            raise StoreUnavailableError(
                f"cannot write to {self.store.path or 'memory'}: {_first_line(self.storage_error)}; nothing recorded is lost, "
                "and the engine resumes by itself once writes succeed (free some disk space)"
            )

    async def stop(self) -> None:
        """Stop the pipeline and close the store (call `flush` first to keep what is pending)."""
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.get_running_loop().run_in_executor(self._db_thread, self.store.close)
        self._db_thread.shutdown(wait=False)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._woken:
                self._wake_waiter = loop.create_future()
                await self._wake_waiter
            self._woken = False
            self._stepping = True
            try:
                await self._step(loop)
            except Exception:  # the writer must outlive any bug, or every run would hang
                logger.exception("wfkit: writer step failed")
            finally:
                self._stepping = False

    async def _step(self, loop: asyncio.AbstractEventLoop) -> None:
        # The batch in flight lives on the writer, not in this coroutine: a writer restarted after an
        # interrupt finishes it.
        if self._committing is not None and self._committing.done():
            assert self._committed is not None
            failed, committed = self._committing.exception(), self._committed
            self._committing = self._committed = None
            self._finish_commit(committed, failed)
        await self._activate()
        stalled = self.storage_error is not None and loop.time() < self._retry_at
        if self._committing is None and not stalled and not self._batch.empty():
            committed, self._batch = self._batch, Batch()
            # Everything staged so far: the events of this batch reference only payloads encoded before them.
            known = {p.ref for p in committed.payloads}
            committed.payloads += [p for p in self.payloads.take() if p.ref not in known]
            if committed.rows() > INLINE_COMMIT_ROWS or self._store_jobs or committed.payloads:
                write = functools.partial(
                    self.store.write, committed.events, committed.new_runs, committed.closed, alive_at=committed.alive_at, payloads=committed.payloads
                )
                self._committed = committed
                self._committing = loop.run_in_executor(self._db_thread, write)
                self._committing.add_done_callback(lambda _: self.wake())
            else:
                # A small batch while nothing else is committing: the round trip to the DuckDB
                # thread costs more than the write itself (a sequential step: 1.6 -> 1.3 ms).
                self._finish_commit(committed, self._write_inline(committed))

    def _write_inline(self, batch: Batch) -> Exception | None:
        if not batch.rows() and batch.alive_at is None:
            return None
        try:
            self.store.write(batch.events, batch.new_runs, batch.closed, alive_at=batch.alive_at)
        except Exception as exc:  # noqa: BLE001 - handled like any failed commit
            return exc
        except BaseException:  # KeyboardInterrupt: the write was rolled back; keep the batch for the next commit
            batch.absorb(self._batch)
            self._batch = batch
            raise
        return None

    def _finish_commit(self, batch: Batch, error: BaseException | None) -> None:
        if error is not None:
            if not isinstance(error, Exception):
                raise error
            if isinstance(error, StoreFencedError):
                self._fence(batch, error)
            elif _is_storage_error(error):
                self._stall(batch, error)
            else:
                self._roll_back(batch, error)
            return
        self.payloads.committed(batch.payloads)
        if self.storage_error is not None:
            logger.warning("wfkit: writes to %s succeed again; resuming", self.store.path or "memory")
            self.storage_error = None
            self._stall_delay = 0.0
        self.commit_error = None
        try:
            fault("after_commit")
        finally:  # the batch is durable: its effects happen even if an interrupt lands here
            for _, effect in batch.effects:
                try:
                    effect()
                except Exception:  # one run's effect must not stop the others (logged, not raised)
                    logger.exception("wfkit: effect after commit failed")
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if not self._batch.empty():
            self.wake()

    def _stall(self, batch: Batch, exc: Exception) -> None:
        """The disk is full (or the file cannot be written): keep everything recorded in memory, accept no new
        work, and retry the same batch, first after half a second, then less often, until it commits."""
        if self.storage_error is None:
            logger.error("wfkit: cannot write to %s (%s); no new work is accepted until writes succeed again", self.store.path or "memory", exc)
        self.storage_error = self.commit_error = exc
        batch.absorb(self._batch)
        self._batch = batch
        self._stall_delay = min(5.0, max(0.5, self._stall_delay * 2))
        loop = asyncio.get_running_loop()
        self._retry_at = loop.time() + self._stall_delay
        loop.call_later(self._stall_delay, self.wake)

    def _fence(self, batch: Batch, error: StoreFencedError) -> None:
        """A newer engine owns the file: drop everything pending and stop (its runs are that engine's now)."""
        if self.fenced is None:
            logger.error("wfkit: %s", error)
        self.fenced = error
        pending, self._batch = self._batch, Batch()
        for waiter in batch.waiters + pending.waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._on_fenced(error)

    def _roll_back(self, batch: Batch, exc: Exception) -> None:
        """Forget what the failed batch (and anything built on it) holds, then let the engine reload those runs from disk."""
        self.commit_error = exc
        logger.error("wfkit: commit of %d events failed: %s", len(batch.events), exc)
        affected = dict(batch.runs)
        affected.update({rid: run for rid, run in self._batch.runs.items() if rid in affected})
        self._batch.drop_runs(affected)
        error = type(exc)(f"could not commit to {self.store.path or 'memory'}: {exc}") if isinstance(exc, OSError) else exc
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._on_rollback(affected, {row.run_id for row in batch.new_runs})

    @property
    def pending_rows(self) -> int:
        return self._batch.rows()

    @property
    def idle(self) -> bool:
        """Nothing to commit or activate and no commit in flight (an "alive" mark alone does not count)."""
        return not (self._woken or self._stepping or self._committing is not None or self._store_jobs or self._batch.has_work())


_STORAGE_TROUBLE = ("no space left", "could not write", "disk full", "read-only file system", "input/output error", "quota exceeded")


def _is_storage_error(error: BaseException) -> bool:
    """True for failures of the disk under the database (worth waiting out), not of the data being written."""
    return isinstance(error, OSError) or any(text in str(error).lower() for text in _STORAGE_TROUBLE)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing is left to tell
        loop.call_soon_threadsafe(callback)
