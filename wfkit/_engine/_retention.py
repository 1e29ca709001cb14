"""Retention: delete closed runs with their histories, in small batches that never hold up the engine for long."""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wfkit._definitions import WorkflowDefinition
from wfkit._engine._clock import Cancellable, Clock
from wfkit._history._events import CLOSE_STATUS
from wfkit._store._store import Store
from wfkit.errors import ArgumentError

__all__ = ["CLOSED_STATUSES", "PurgeReport", "Retention"]

logger = logging.getLogger("wfkit.engine")

#: The statuses of closed runs (the only ones a purge deletes).
CLOSED_STATUSES = tuple(CLOSE_STATUS.values())

#: How often a retention policy looks for runs to delete (at most; a shorter policy looks as often as it keeps).
RETENTION_INTERVAL = 3600.0

Before = datetime.datetime | datetime.timedelta | str | None
InStoreThread = Callable[[Callable[[Store], Any]], Awaitable[Any]]
WorkflowFilter = WorkflowDefinition[..., object] | str | Sequence[WorkflowDefinition[..., object] | str] | None


@dataclass(slots=True)
class PurgeReport:
    """What `Engine.purge` deleted (or, with `dry_run=True`, would delete)."""

    runs: int = 0
    """Runs deleted (or that would be)."""
    events: int = 0
    """Their events."""
    run_ids: list[str] = field(default_factory=list)
    """The runs, oldest close first."""
    batches: int = 0
    """Transactions it took (each deletes at most `batch_size` runs)."""
    longest_batch_s: float = 0.0
    """The longest a batch held the database (the engine's commits wait at most this long)."""
    used_blocks: int = 0
    """Database blocks in use after the purge's checkpoint."""
    free_blocks: int = 0
    """Blocks freed for new data (DuckDB reuses them; the file itself does not shrink)."""
    dry_run: bool = False

    def __repr__(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return f"PurgeReport({verb} {self.runs} runs, {self.events} events in {self.batches} batches; free blocks {self.free_blocks})"


class Retention:
    """Deletes closed runs on request (`purge`) and, with a policy, on a timer."""

    def __init__(
        self, in_store_thread: InStoreThread, clock: Clock, keep: datetime.timedelta | None = None, *, closed: Callable[[], bool] = lambda: False
    ) -> None:
        """`in_store_thread(fn)` runs `fn(store)` where the store may be written (the engine's DuckDB thread)."""
        if keep is not None and keep <= datetime.timedelta(0):
            raise ArgumentError(f"retention={keep!r}: keep runs for a positive time, or pass None to keep them for good")
        self._in_store_thread = in_store_thread
        self._closed = closed
        self._clock = clock
        self.keep = keep
        self._next: Cancellable | None = None
        self._task: asyncio.Task[PurgeReport] | None = None

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
        """See `Engine.purge`."""
        if batch_size < 1:
            raise ArgumentError(f"batch_size={batch_size}: a batch deletes at least one run")
        cutoff = _cutoff(before, self._clock.now())
        types = _workflow_types(workflow)
        statuses = _statuses(status)
        report = PurgeReport(dry_run=dry_run)
        while True:
            # A dry run reads every match at once; a real one takes the oldest batch, deletes it and looks again.
            limit = 2**62 if dry_run else batch_size
            found = await self._in_store_thread(functools.partial(Store.purgeable_runs, before=cutoff, workflow_types=types, statuses=statuses, limit=limit))
            if not found:
                break
            ids = [run_id for run_id, _ in found]
            if dry_run:
                report.run_ids, report.runs, report.events = ids, len(ids), sum(n for _, n in found)
                break
            started = time.perf_counter()
            report.events += await self._in_store_thread(functools.partial(Store.delete_runs, run_ids=ids))
            report.longest_batch_s = max(report.longest_batch_s, time.perf_counter() - started)
            report.batches += 1
            report.runs += len(ids)
            report.run_ids.extend(ids)
            if progress is not None:
                progress(report.runs)
            await asyncio.sleep(0)  # the engine's commits go between batches
        if not dry_run and report.runs:
            report.used_blocks, report.free_blocks = await self._in_store_thread(Store.reclaim)
        return report

    #### The policy ####

    def start(self) -> None:
        """Purge by the policy now and then every `RETENTION_INTERVAL` seconds (no-op without a policy)."""
        if self.keep is not None:
            self._schedule(self._clock.now())

    def _schedule(self, when: float) -> None:
        self._next = self._clock.call_at(when, self._run_policy)

    def _run_policy(self) -> None:
        assert self.keep is not None
        if self._closed():
            return
        if self._task is not None and not self._task.done():  # the last purge is still deleting: look again later
            self._schedule(self._clock.now() + min(RETENTION_INTERVAL, self.keep.total_seconds()))
            return
        self._task = asyncio.get_running_loop().create_task(self.purge(before=self.keep))
        self._task.add_done_callback(self._policy_done)
        self._schedule(self._clock.now() + min(RETENTION_INTERVAL, self.keep.total_seconds()))

    def _policy_done(self, task: asyncio.Task[PurgeReport]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.warning("wfkit: retention purge failed (it runs again later): %s", error)
        elif task.result().runs:
            logger.info("wfkit: retention purge: %r", task.result())

    async def stop(self) -> None:
        """Stop the policy's timer and wait for a purge in progress to finish its batch."""
        if self._next is not None:
            self._next.cancel()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _cutoff(before: Before, now: float) -> float | None:
    if before is None:
        return None
    if isinstance(before, datetime.timedelta):
        return now - before.total_seconds()
    if isinstance(before, str):
        try:
            before = datetime.datetime.fromisoformat(before)
        except ValueError:
            raise ArgumentError(f"before={before!r}: not an ISO date or time (e.g. '2026-11-01' or '2026-11-01T02:00+01:00')") from None
    if isinstance(before, datetime.datetime):
        if before.tzinfo is None:  # naive times are UTC, as everywhere in wfkit
            before = before.replace(tzinfo=datetime.timezone.utc)
        return before.timestamp()
    raise ArgumentError(f"before={before!r}: pass a datetime, a timedelta (an age) or an ISO date string")


def _workflow_types(workflow: WorkflowFilter) -> list[str]:
    if workflow is None:
        return []
    items = [workflow] if isinstance(workflow, (str, WorkflowDefinition)) else list(workflow)
    return [w.name if isinstance(w, WorkflowDefinition) else str(w) for w in items]


def _statuses(status: str | Sequence[str] | None) -> list[str]:
    if status is None:
        return []
    items = [status] if isinstance(status, str) else list(status)
    known = {s.lower(): s for s in CLOSED_STATUSES}
    for item in items:
        if item.lower() == "running":
            raise ArgumentError("status='Running': open runs are never purged")
        if item.lower() not in known:
            raise ArgumentError(f"status={item!r}: not a closed run's status (one of {', '.join(CLOSED_STATUSES)})")
    return [known[item.lower()] for item in items]
