"""The run ledger: the engine's in-memory state of its live runs.

Every other part of the engine looks runs up here and asks it whether a run is still live;
only the ledger adds and removes them, so "which runs does this engine drive" has one answer.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wfkit._history._commands import DoUpdate
from wfkit._history._events import Event
from wfkit._history._payload import PayloadConverter
from wfkit._history._state import RunState
from wfkit._runtime._context import WorkflowCode
from wfkit._runtime._driver import instance_for_history
from wfkit._runtime._instance import WorkflowInstance
from wfkit.errors import WorkflowUpdateFailedError

__all__ = ["EngineHealth", "LiveRun", "RunLedger", "UpdateOutcome"]

UpdateOutcome = tuple[str, Any]
"""How an update ended: ("completed", result payload), ("failed", failure) or ("rejected", failure)."""


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """What an engine holds in memory right now (for monitors, soak tests and leak checks)."""

    open_runs: int
    """Runs the engine drives."""
    closing_runs: int
    """Runs whose close is recorded but not yet durable."""
    close_waiters: int
    """`result()` calls waiting for a run to close."""
    armed_timers: int
    """Workflow timers armed on the clock."""
    pending_rows: int
    """Rows recorded into the open batch, not yet committed."""
    commit_error: BaseException | None
    """The last commit's error (None once a later commit succeeds)."""
    storage_error: BaseException | None
    """Set while the database cannot be written (disk full)."""
    queued_runs: int = 0
    """Open runs waiting for a concurrency slot."""


class LiveRun:
    """An open run held in memory: its history so far, its open work and its workflow instance."""

    __slots__ = (
        "blocked", "concurrency_keys", "dirty", "events", "instance", "local_results", "parent_child_id", "parent_run_id", "parent_workflow_id",
        "queued", "run_id", "seed", "state", "task_queue", "updates", "waiting_for_code", "workflow_id", "workflow_type",
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
        """Why the run is stopped until fixed code is registered (nondeterminism, blocked code)."""
        self.waiting_for_code = False
        self.dirty = False
        """It has events its workflow code has not seen yet, and is queued for activation."""
        self.concurrency_keys: tuple[str, ...] = ()
        """The concurrency limits it counts against (recorded in its start event)."""
        self.queued = False
        """It waits for a concurrency slot: no workflow task until one frees (see _concurrency.py)."""
        self.updates: list[DoUpdate] = []
        """Update requests its next workflow task delivers (they are not events until accepted)."""
        self.local_results: list[dict[str, Any]] = []
        """Outcomes of local activities its next workflow task delivers (recorded as markers by that task)."""

    def __repr__(self) -> str:
        return f"<LiveRun {self.workflow_id}/{self.run_id} events={len(self.events)}>"

    def new_instance(self, definition: WorkflowCode, converter: PayloadConverter, events: Sequence[Event] | None = None) -> WorkflowInstance:
        """A fresh instance of `definition` for this run (its ids, queue and parent), to replay `events` (default: its own) into."""
        return instance_for_history(
            definition,
            self.events if events is None else events,
            converter=converter,
            run_id=self.run_id,
            workflow_id=self.workflow_id,
            task_queue=self.task_queue,
            parent_workflow_id=self.parent_workflow_id,
        )


class RunLedger:
    """Live runs by run id and by workflow id, runs whose close is not yet durable, and who waits for them."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self.runs: dict[str, LiveRun] = {}
        """Open runs this engine drives."""
        self.by_workflow_id: dict[str, LiveRun] = {}
        self.closing: dict[str, LiveRun] = {}
        """Runs whose closing event is recorded but not yet committed."""
        self._close_waiters: dict[str, list[asyncio.Future[Event]]] = collections.defaultdict(list)
        self._update_waiters: dict[str, dict[str, asyncio.Future[UpdateOutcome]]] = collections.defaultdict(dict)
        self._dirty: list[LiveRun] = []
        self.shutting_down = False

    #### Membership ####

    def add(self, run: LiveRun) -> None:
        self.runs[run.run_id] = run
        self.by_workflow_id[run.workflow_id] = run

    def remove(self, run: LiveRun) -> None:
        if self.runs.get(run.run_id) is run:
            del self.runs[run.run_id]
        if self.by_workflow_id.get(run.workflow_id) is run:
            del self.by_workflow_id[run.workflow_id]

    def is_live(self, run: LiveRun) -> bool:
        """True while this engine still drives `run` (not closed, not reloaded after a rollback, not shutting down)."""
        return not self.shutting_down and self.runs.get(run.run_id) is run

    def find(self, run_id: str) -> LiveRun | None:
        """An open run, or one whose close is not durable yet."""
        return self.runs.get(run_id) or self.closing.get(run_id)

    #### Activation queue ####

    def mark_dirty(self, run: LiveRun) -> None:
        """Queue the run for activation: its workflow code has events to see (a run waiting for a
        concurrency slot is activated when it gets one)."""
        if not run.dirty and not run.queued:
            run.dirty = True
            self._dirty.append(run)
            self._wake()

    @property
    def has_dirty(self) -> bool:
        """Some run waits for its next workflow task."""
        return bool(self._dirty)

    def take_dirty(self) -> list[LiveRun]:
        runs, self._dirty = self._dirty, []
        for run in runs:
            run.dirty = False
        return runs

    #### Closing ####

    def closing_recorded(self, run: LiveRun) -> None:
        self.remove(run)
        self.closing[run.run_id] = run

    def closed_durably(self, run: LiveRun, closing: Event) -> None:
        self.closing.pop(run.run_id, None)
        for waiter in self._close_waiters.pop(run.run_id, []):
            if not waiter.done():
                waiter.set_result(closing)
        for update_id, update in self._update_waiters.pop(run.run_id, {}).items():
            if not update.done():
                message = f"update {update_id}: the run closed ({closing.event_type.value}) before the update completed"
                update.set_exception(WorkflowUpdateFailedError(message, {"type": "RunClosed", "message": message}))

    def wait_update(self, run_id: str, update_id: str) -> asyncio.Future[UpdateOutcome]:
        """The future of an update's outcome: ("completed", result payload) or ("failed" | "rejected", failure)."""
        waiters = self._update_waiters[run_id]
        if update_id not in waiters:
            waiters[update_id] = asyncio.get_running_loop().create_future()
        return waiters[update_id]

    def resolve_update(self, run_id: str, update_id: str, outcome: UpdateOutcome) -> None:
        """Tell whoever waits for an update how it ended."""
        waiter = self._update_waiters.get(run_id, {}).pop(update_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def wait_closed(self, run_id: str) -> asyncio.Future[Event]:
        waiter: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._close_waiters[run_id].append(waiter)
        return waiter

    def fail_waiters(self, error: BaseException) -> None:
        for waiters in self._close_waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
        self._close_waiters.clear()
        for updates in self._update_waiters.values():
            for update in updates.values():
                if not update.done():
                    update.set_exception(error)
        self._update_waiters.clear()

    @property
    def waiter_count(self) -> int:
        return sum(len(w) for w in self._close_waiters.values())
