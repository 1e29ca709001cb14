"""What handles do to runs: signal, cancel, terminate, query, wait for the close, describe (the `RunControl` back-end)."""

from __future__ import annotations

import asyncio
from typing import Any

from wfkit._definitions import Registry
from wfkit._engine._activator import Activator
from wfkit._engine._clock import Clock
from wfkit._engine._concurrency import ConcurrencyLimits
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._lifecycle import RunLifecycle
from wfkit._engine._writer import Writer
from wfkit._history._events import CLOSING_EVENTS, Event, EventType
from wfkit._history._history import History
from wfkit._history._payload import PayloadConverter
from wfkit._history._summary import RunSummary
from wfkit._runtime._driver import replay_into
from wfkit.errors import PayloadError, WorkflowNotFoundError

__all__ = ["RunOperations"]

E = EventType


class RunOperations:
    """Carries out handle calls against the ledger (open runs) or the store (closed ones)."""

    def __init__(
        self,
        *,
        ledger: RunLedger,
        writer: Writer,
        lifecycle: RunLifecycle,
        activator: Activator,
        limits: ConcurrencyLimits,
        registry: Registry,
        converter: PayloadConverter,
        clock: Clock,
    ) -> None:
        self._ledger = ledger
        self._writer = writer
        self._lifecycle = lifecycle
        self._activator = activator
        self._limits = limits
        self._registry = registry
        self._converter = converter
        self._clock = clock
        self._store = writer.store

    async def signal(self, run_id: str, name: str, payload: Any) -> None:
        run = self._open_run(run_id, "signal")
        try:
            encoded = self._converter.to_payload(payload)
        except PayloadError as exc:
            raise PayloadError(f"signal {name!r}: {exc}") from None
        self._writer.record(run, E.WorkflowExecutionSignaled, {"signal_name": name, "input": encoded})
        self._ledger.mark_dirty(run)
        await self._writer.flush()

    async def cancel(self, run_id: str, reason: str) -> None:
        run = self._open_run(run_id, "cancel")
        self._writer.record(run, E.WorkflowExecutionCancelRequested, {"reason": reason})
        self._ledger.mark_dirty(run)
        await self._writer.flush()

    async def terminate(self, run_id: str, reason: str) -> None:
        run = self._open_run(run_id, "terminate")
        self._lifecycle.close(run, E.WorkflowExecutionTerminated, {"reason": reason})
        await self._writer.flush()

    async def query(self, run_id: str, name: str, args: tuple[Any, ...]) -> Any:
        while run_id in self._activator.thread.busy:
            await asyncio.sleep(0.001)  # its workflow code is running on the activation thread
        run = self._ledger.runs.get(run_id)
        if run is not None and run.instance is not None:
            return run.instance.query(name, args)
        events = run.events if run is not None else self._store.load_events(run_id)
        if not events:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        workflow_type = str(events[0].attributes.get("workflow_type"))
        definition = self._registry.workflow(workflow_type)
        if definition is None:
            raise WorkflowNotFoundError(f"cannot query run {run_id}: workflow {workflow_type!r} is not registered in this process")
        instance = self._activator.new_instance(definition, events)
        replay_into(instance, events, run_id)
        return instance.query(name, args)

    async def wait_closed(self, run_id: str) -> tuple[Event, str]:
        self._writer.check_open()
        run = self._ledger.find(run_id)
        if run is not None:
            return await self._ledger.wait_closed(run_id), run.workflow_type
        last = self._store.last_event(run_id)
        if last is None:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        if last[0].event_type not in CLOSING_EVENTS:
            raise WorkflowNotFoundError(f"run {run_id} is open in the file but not loaded by this engine")
        return last

    def decode_result(self, payload: Any, workflow_type: str) -> Any:
        definition = self._registry.workflow(workflow_type)
        return self._converter.from_payload(payload, definition.return_hint if definition is not None else Any)

    def describe(self, run_id: str) -> RunSummary:
        self._writer.check_open()
        run = self._ledger.runs.get(run_id)
        if run is not None:
            return self.live_summary(run)
        row = self._store.get_run(run_id)
        if row is None:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        return RunSummary.from_row(row, self._clock.now())

    def live_summary(self, run: LiveRun) -> RunSummary:
        """An open run's summary, from memory: what it is doing now and how far it got."""
        start = run.events[0].event_time if run.events else None
        done = sum(1 for e in run.events if e.event_type is E.ActivityTaskCompleted)
        return RunSummary(
            run_id=run.run_id,
            workflow_id=run.workflow_id,
            workflow_type=run.workflow_type,
            status="Running",
            start_time=start,
            history_length=len(run.events),
            elapsed=None if start is None else self._clock.now() - start,
            task_queue=run.task_queue,
            parent_workflow_id=run.parent_workflow_id,
            current_activities=tuple(sorted({a.activity_type for a in run.state.activities.values()})),
            activities_done=done,
            activities_total=done + len(run.state.activities),
            waiting_for_code=run.waiting_for_code,
            blocked=run.blocked,
            queued=self._limits.waiting_for(run),
        )

    def resolve(self, workflow_id: str, run_id: str | None) -> str:
        """The run id of `run_id` (checked to exist), or of `workflow_id`'s open or latest run."""
        if run_id is not None:
            if run_id not in self._ledger.runs and self._store.get_run(run_id) is None:
                raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
            return run_id
        run = self._ledger.by_workflow_id.get(workflow_id)
        if run is not None:
            return run.run_id
        row = self._store.latest_run(workflow_id)
        if row is None:
            raise WorkflowNotFoundError(f"no run with workflow id {workflow_id!r} in {self._store.path or 'this in-memory database'}")
        return str(row["run_id"])

    def history(self, run_id: str) -> History:
        """A run's events: from memory while the engine holds the run, else from the store."""
        run = self._ledger.find(run_id)
        if run is not None:
            return History(run.workflow_id, run_id, tuple(run.events))
        row = self._store.get_run(run_id)
        if row is None:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        return History.from_events(self._store.load_events(run_id), workflow_id=row["workflow_id"], run_id=run_id)

    def _open_run(self, run_id: str, action: str) -> LiveRun:
        self._writer.check_writable()
        run = self._ledger.runs.get(run_id)
        if run is None:
            raise WorkflowNotFoundError(f"cannot {action} run {run_id}: it is not running")
        return run
