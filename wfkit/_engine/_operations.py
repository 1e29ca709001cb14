"""What handles do to runs: signal, update, cancel, terminate, query, wait for the close, describe (the `RunControl` back-end)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from wfkit._definitions import Registry
from wfkit._engine._activator import Activator
from wfkit._engine._clock import Clock
from wfkit._engine._concurrency import ConcurrencyLimits
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._lifecycle import RunLifecycle
from wfkit._engine._writer import Writer
from wfkit._history._commands import DoUpdate
from wfkit._history._events import CLOSING_EVENTS, Event, EventType
from wfkit._history._history import History
from wfkit._history._local import read_local_activity
from wfkit._history._payload import PayloadConverter
from wfkit._history._summary import RunSummary
from wfkit._runtime._driver import replay_into
from wfkit.errors import PayloadError, WorkflowNotFoundError, WorkflowUpdateFailedError

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

    async def update(self, run_id: str, name: str, args: tuple[Any, ...], update_id: str | None) -> Any:
        """Deliver an update in the run's next workflow task and wait for its outcome (see `WorkflowHandle.update`)."""
        if update_id is not None and run_id not in self._ledger.runs:  # closed: an update it completed can still be answered
            done = self._recorded_update(self._store.load_events(run_id), update_id)
            if done is not None and done.event_type is E.WorkflowExecutionUpdateCompleted:
                return await self._update_outcome(run_id, name, update_id, done)
        run = self._open_run(run_id, "update")
        if update_id is not None:
            recorded = self._recorded_update(run.events, update_id)
            if recorded is not None:  # already accepted (a re-run cell, a retry): its outcome, not a second update
                return await self._update_outcome(run_id, name, update_id, recorded)
        update_id = update_id or uuid.uuid4().hex
        payloads = self.encode_update_args(name, args)
        while run_id in self._activator.thread.busy:
            await asyncio.sleep(0.001)  # its workflow code is running on the activation thread
        if run.instance is not None and not run.updates:  # validate now: a rejection then leaves no trace at all
            failure = run.instance.check_update(name, payloads)
            if failure is not None:
                return self.decode_update(name, update_id, ("rejected", failure))
        return self.decode_update(name, update_id, await self.deliver_update(run, update_id, name, payloads))

    def deliver_update(self, run: LiveRun, update_id: str, name: str, payloads: list[Any], *, admit: bool = False) -> asyncio.Future[Any]:
        """Queue an update for the run's next workflow task; the future of its outcome.

        `admit`: record it as `WorkflowExecutionUpdateAdmitted` now (update-with-start: durable with the start,
        so a crash before the first workflow task delivers it after the restart).
        """
        if admit:
            self._writer.record(run, E.WorkflowExecutionUpdateAdmitted, {"update_id": update_id, "update_name": name, "input": payloads})
        waiter = self._ledger.wait_update(run.run_id, update_id)
        run.updates.append(DoUpdate(update_id, name, payloads))
        self._ledger.mark_dirty(run)
        return waiter

    def encode_update_args(self, name: str, args: tuple[Any, ...]) -> list[Any]:
        """The payloads of an update's arguments; a `PayloadError` names the update and the argument."""
        payloads = []
        for index, arg in enumerate(args, start=1):
            try:
                payloads.append(self._converter.to_payload(arg))
            except PayloadError as exc:
                raise PayloadError(f"update {name!r}: argument {index}: {exc}") from None
        return payloads

    @staticmethod
    def _recorded_update(events: Sequence[Event], update_id: str) -> Event | None:
        """The update's completion event, or its acceptance if it is still running; None if it was never accepted."""
        accepted = None
        for event in events:
            if event.attributes.get("update_id") != update_id:
                continue
            if event.event_type is E.WorkflowExecutionUpdateCompleted:
                return event
            if event.event_type is E.WorkflowExecutionUpdateAccepted:
                accepted = event
        return accepted

    async def _update_outcome(self, run_id: str, name: str, update_id: str, recorded: Event) -> Any:
        if recorded.event_type is E.WorkflowExecutionUpdateCompleted:
            failure = recorded.attributes.get("failure")
            outcome = ("failed", failure) if failure is not None else ("completed", recorded.attributes.get("result"))
        else:
            outcome = await self._ledger.wait_update(run_id, update_id)
        return self.decode_update(name, update_id, outcome)

    def decode_update(self, name: str, update_id: str, outcome: tuple[str, Any]) -> Any:
        """An update's result, or its `WorkflowUpdateFailedError`."""
        kind, value = outcome
        if kind == "completed":
            return None if value is None else self._converter.from_payload(value, Any)
        failure = value or {}
        verb = "was rejected" if kind == "rejected" else "failed"
        message = f"update {name!r} ({update_id}) {verb}: {failure.get('type', '')}: {failure.get('message', '')}"
        raise WorkflowUpdateFailedError(message, failure, rejected=kind == "rejected")

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
        done = sum(1 for e in run.events if e.event_type is E.ActivityTaskCompleted or _completed_local_activity(e))
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


def _completed_local_activity(event: Event) -> bool:
    """True for the marker of a local activity that completed (it counts as an activity done)."""
    if event.event_type is not E.MarkerRecorded:
        return False
    marker = read_local_activity(event.attributes)
    return marker is not None and marker.completed
