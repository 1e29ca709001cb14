"""Runs begin and end here: starting runs (top-level, child, continued-as-new, forked), closing them, telling parents."""

from __future__ import annotations

import random
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from wfkit._definitions import WorkflowDefinition
from wfkit._engine._activities import ActivityRunner
from wfkit._engine._concurrency import ConcurrencyLimits
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._timers import Timers
from wfkit._engine._writer import Writer
from wfkit._history._commands import StartChildWorkflow
from wfkit._history._events import CLOSE_STATUS, Event, EventType
from wfkit._history._failure import failure_from_exception
from wfkit._history._payload import PayloadConverter
from wfkit._history._properties import check_properties, current_properties
from wfkit._history._state import fork_point
from wfkit._store._store import RunClose, RunRow
from wfkit.errors import ArgumentError, PayloadError, WorkflowAlreadyStartedError, WorkflowNotFoundError

__all__ = ["RunLifecycle"]

E = EventType


class RunLifecycle:
    """Creates live runs with their start event and `workflows` row, and closes them with theirs."""

    def __init__(self, ledger: RunLedger, writer: Writer, timers: Timers, activities: ActivityRunner, limits: ConcurrencyLimits) -> None:
        self._ledger = ledger
        self._writer = writer
        self._timers = timers
        self._activities = activities
        self._limits = limits

    def start(
        self,
        workflow_type: str,
        workflow_id: str,
        args: list[Any],
        task_queue: str,
        *,
        run_id: str | None = None,
        parent: tuple[LiveRun, int] | None = None,
        continued_from: LiveRun | None = None,
        concurrency_key: str | None = None,
        scheduled: tuple[str, str] | None = None,
        search_attributes: dict[str, Any] | None = None,
        memo: dict[str, Any] | None = None,
    ) -> LiveRun:
        """A new run, recorded (`WorkflowExecutionStarted` and its `workflows` row) and queued for its first
        activation (or for a concurrency slot). A continued run keeps its predecessor's search attributes
        and memo, as in Temporal."""
        if continued_from is not None:
            search_attributes, memo = current_properties(continued_from.events)
        keys = continued_from.concurrency_keys if continued_from is not None else self._limits.keys(workflow_type, concurrency_key)
        run = LiveRun(run_id or uuid.uuid4().hex, workflow_id, workflow_type, task_queue, random.getrandbits(63))
        if parent is not None:
            run.parent_run_id, run.parent_workflow_id, run.parent_child_id = parent[0].run_id, parent[0].workflow_id, parent[1]
        elif continued_from is not None:
            run.parent_run_id, run.parent_workflow_id = continued_from.parent_run_id, continued_from.parent_workflow_id
            run.parent_child_id = continued_from.parent_child_id
        self._ledger.add(run)
        continued_from_run_id = continued_from.run_id if continued_from else None
        started = self._writer.record(
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
                "continued_from_run_id": continued_from_run_id,
                **({"concurrency_keys": list(keys)} if keys else {}),
                **({"schedule_id": scheduled[0], "scheduled_time": scheduled[1]} if scheduled else {}),
                **({"search_attributes": search_attributes} if search_attributes else {}),
                **({"memo": memo} if memo else {}),
            },
        )
        run.concurrency_keys = keys
        if continued_from is not None:
            self._limits.inherit(continued_from, run)
        else:
            self._limits.admit(run)
        row = RunRow(
            run.run_id, workflow_id, workflow_type, task_queue, args, started.event_time,
            parent_run_id=run.parent_run_id, parent_workflow_id=run.parent_workflow_id, continued_from_run_id=continued_from_run_id,
        )  # fmt: skip
        self._writer.add_run(run, row)
        self._ledger.mark_dirty(run)
        return run

    def start_requested(
        self,
        definition: WorkflowDefinition[Any, Any],
        args: Sequence[Any],
        converter: PayloadConverter,
        workflow_id: str | None,
        task_queue: str | None,
        id_reuse_policy: str,
        start_signal: tuple[str, Any] | None = None,
        concurrency_key: str | None = None,
        scheduled: tuple[str, str] | None = None,
        search_attributes: dict[str, Any] | None = None,
        memo: dict[str, Any] | None = None,
    ) -> LiveRun:
        """A run started by `Engine.start`: its arguments encoded and its workflow id checked against the reuse policy.

        `start_signal` (name, payload) is recorded right after the start event, in the same batch; if a run of
        that workflow id is open, it gets the signal instead (signal-with-start, as in Temporal).
        `scheduled` (schedule id, ISO scheduled time) marks a schedule's firing.
        """
        self._limits.keys(definition.name, concurrency_key)  # a key without a limit fails before anything is recorded
        search_attributes, memo = check_properties(search_attributes, "search_attributes"), check_properties(memo, "memo")
        payloads = []
        for index, value in enumerate(args, start=1):
            try:
                payloads.append(converter.to_payload(value))
            except PayloadError as exc:
                raise PayloadError(f"workflow {definition.name}: argument {index}: {exc}") from None
        signal: dict[str, Any] | None = None
        if start_signal is not None:
            if not (isinstance(start_signal, tuple) and len(start_signal) == 2 and isinstance(start_signal[0], str)):
                raise ArgumentError(f"start_signal must be a (name, payload) tuple, got {start_signal!r}")
            try:
                signal = {"signal_name": start_signal[0], "input": converter.to_payload(start_signal[1])}
            except PayloadError as exc:
                raise PayloadError(f"signal {start_signal[0]!r}: {exc}") from None
        workflow_id = workflow_id or f"{definition.name}-{uuid.uuid4().hex[:12]}"
        existing = self._ledger.by_workflow_id.get(workflow_id)
        if existing is not None and signal is not None:  # as Temporal's signal-with-start: a running run gets the signal
            self._writer.record(existing, E.WorkflowExecutionSignaled, signal)
            self._ledger.mark_dirty(existing)
            return existing
        if existing is not None:
            if id_reuse_policy != "terminate_if_running":
                raise WorkflowAlreadyStartedError(workflow_id, existing.run_id)
            self.close(existing, E.WorkflowExecutionTerminated, {"reason": "terminated by a new start (terminate_if_running)"})
        elif id_reuse_policy == "reject_duplicate":
            previous = self._writer.store.latest_run(workflow_id)
            if previous is not None:
                raise WorkflowAlreadyStartedError(workflow_id, previous["run_id"])
        run = self.start(
            definition.name, workflow_id, payloads, task_queue or definition.task_queue, concurrency_key=concurrency_key, scheduled=scheduled,
            search_attributes=search_attributes, memo=memo,
        )  # fmt: skip
        if signal is not None:
            self._writer.record(run, E.WorkflowExecutionSignaled, signal)
        return run

    def fork(self, source_run_id: str, at_event: int | None, *, workflow_id: str | None) -> LiveRun:
        """A new run whose history is a copy of the source's up to `at_event` (its lineage fields rewritten)."""
        source = self._ledger.find(source_run_id)
        store = self._writer.store
        events = list(source.events) if source is not None else store.load_events(source_run_id)
        if not events:
            raise WorkflowNotFoundError(f"no run with run id {source_run_id!r}")
        cut = fork_point(events, len(events) if at_event is None else at_event)
        if at_event is not None and cut != at_event:
            message = f"wfkit: event {at_event} of run {source_run_id} is not a resume point; forking after event {cut} instead"
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        if workflow_id is None:
            stored = store.get_run(source_run_id) if source is None else None
            workflow_id = source.workflow_id if source is not None else str(stored["workflow_id"] if stored else events[0].attributes.get("workflow_id"))
        existing = self._ledger.by_workflow_id.get(workflow_id)
        if existing is not None:
            raise WorkflowAlreadyStartedError(workflow_id, existing.run_id)
        first = events[0].attributes
        workflow_type = str(first.get("workflow_type"))
        task_queue = str(first.get("task_queue") or "default")
        run = LiveRun(uuid.uuid4().hex, workflow_id, workflow_type, task_queue, int(first.get("random_seed") or 0))
        lineage = {"workflow_id": workflow_id, "forked_from_run_id": source_run_id, "parent_run_id": None, "parent_workflow_id": None, "parent_child_id": None}
        copied = [Event(1, E.WorkflowExecutionStarted, events[0].event_time, {**first, **lineage}), *events[1:cut]]
        for event in copied:
            run.state.apply(event)
        run.events = copied
        self._ledger.add(run)
        run.concurrency_keys = tuple(first.get("concurrency_keys") or ())
        self._limits.admit(run)
        row = RunRow(run.run_id, workflow_id, workflow_type, task_queue, first.get("input"), events[0].event_time, forked_from_run_id=source_run_id)
        self._writer.add_run(run, row, copied)
        return run

    def close(self, run: LiveRun, event_type: EventType, attrs: dict[str, Any]) -> None:
        """Record the run's closing event, stop its open work, and tell whoever waits once it is durable."""
        new_run_id = uuid.uuid4().hex if event_type is E.WorkflowExecutionContinuedAsNew else None
        if new_run_id is not None:
            attrs = {**attrs, "new_run_id": new_run_id}
        closing = self._writer.record(run, event_type, attrs)
        status = CLOSE_STATUS[event_type]
        self._writer.close_run(RunClose(run.run_id, status, attrs.get("result"), attrs.get("failure"), closing.event_time, len(run.events)))
        self._ledger.closing_recorded(run)
        if new_run_id is None:  # a continued run keeps the slots (the new run inherits them below)
            self._limits.release(run)
        self._activities.abandon_run(run)
        if new_run_id is None:
            # As Temporal's default parent-close policy: children do not outlive their parent.
            for child in run.state.children.values():
                child_run = self._ledger.runs.get(child.run_id or "")
                if child_run is not None:
                    self.close(child_run, E.WorkflowExecutionTerminated, {"reason": f"parent workflow {run.workflow_id} closed"})
        self._timers.cancel_run(run)
        run.instance = None
        if new_run_id is not None:
            self.start(run.workflow_type, run.workflow_id, attrs["input"], run.task_queue, run_id=new_run_id, continued_from=run)
        else:
            self._notify_parent(run, closing)
        self._writer.after_commit(None, lambda: self._ledger.closed_durably(run, closing))

    def start_child(self, parent: LiveRun, command: StartChildWorkflow, initiated: Event) -> None:
        running = self._ledger.by_workflow_id.get(command.workflow_id)
        if running is not None:
            failure = failure_from_exception(WorkflowAlreadyStartedError(command.workflow_id, running.run_id))
            self._writer.record(parent, E.ChildWorkflowExecutionFailed, {"child_id": command.seq, "initiated_event_id": initiated.event_id, "failure": failure})
            self._ledger.mark_dirty(parent)
            return
        child = self.start(command.workflow_type, command.workflow_id, command.args, command.task_queue or parent.task_queue, parent=(parent, command.seq))
        self._writer.record(
            parent,
            E.ChildWorkflowExecutionStarted,
            {"child_id": command.seq, "initiated_event_id": initiated.event_id, "workflow_id": child.workflow_id, "run_id": child.run_id},
        )

    def _notify_parent(self, child: LiveRun, closing: Event) -> None:
        parent = self._ledger.runs.get(child.parent_run_id or "")
        if parent is None or child.parent_child_id is None:
            return
        state = parent.state.children.get(child.parent_child_id)
        if state is None:
            return
        base = {"child_id": child.parent_child_id, "initiated_event_id": state.initiated_event_id, "workflow_id": child.workflow_id, "run_id": child.run_id}
        match closing.event_type:
            case E.WorkflowExecutionCompleted:
                self._writer.record(parent, E.ChildWorkflowExecutionCompleted, base | {"result": closing.attributes.get("result")})
            case E.WorkflowExecutionCanceled:
                failure = {"type": "Canceled", "message": "child workflow was cancelled", "stack": "", "non_retryable": True}
                self._writer.record(parent, E.ChildWorkflowExecutionCanceled, base | {"failure": failure})
            case E.WorkflowExecutionTerminated:
                reason = closing.attributes.get("reason", "")
                failure = {"type": "Terminated", "message": f"child workflow was terminated: {reason}", "stack": "", "non_retryable": True}
                self._writer.record(parent, E.ChildWorkflowExecutionFailed, base | {"failure": failure})
            case _:
                self._writer.record(parent, E.ChildWorkflowExecutionFailed, base | {"failure": closing.attributes.get("failure")})
        self._ledger.mark_dirty(parent)
