"""Runs begin and end here: starting runs (top-level, child, continued-as-new, forked), closing them, telling parents."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from wfkit._history._state import (
    CHILD_CLOSED,
    OpenChild,
    children_open_at,
    closed_at,
    fork_point,
    fork_point_after,
    inside_task,
    next_fork_point,
    rerun_point,
)
from wfkit._store._store import RunClose, RunRow
from wfkit.errors import ApplicationError, ArgumentError, ForkPointError, PayloadError, WorkflowAlreadyStartedError, WorkflowNotFoundError

__all__ = ["RunLifecycle"]

E = EventType


_STEP_OUTCOMES = (E.ActivityTaskCompleted, E.ActivityTaskFailed, E.ActivityTaskTimedOut)


def _step_outcome(events: Sequence[Event], key: int | str, run_id: str) -> Event:
    """The final outcome event of the step `key` names: an event id, or an activity type (its first run)."""
    if isinstance(key, int) and not isinstance(key, bool):
        if not 1 <= key <= len(events):
            raise ArgumentError(f"run {run_id} has no event {key}")
        event = events[key - 1]
        if event.event_type is E.ActivityTaskScheduled:
            scheduled: int | None = key
        elif event.event_type in _STEP_OUTCOMES:
            scheduled = event.attributes.get("scheduled_event_id")
        else:
            raise ArgumentError(f"event {key} of run {run_id} is {event.event_type.value}, not an activity step")
    elif isinstance(key, str):
        scheduled = next((e.event_id for e in events if e.event_type is E.ActivityTaskScheduled and e.attributes.get("activity_type") == key), None)
        if scheduled is None:
            raise ArgumentError(f"run {run_id} has no activity {key!r}")
    else:
        raise ArgumentError(f"a what-if step is an event id or an activity type, got {key!r}")
    final = [e for e in events if e.event_type in _STEP_OUTCOMES and e.attributes.get("scheduled_event_id") == scheduled and not e.is_retrying_attempt]
    if not final:
        raise ArgumentError(f"the step scheduled at event {scheduled} of run {run_id} never finished; there is no result to edit")
    return final[0]


def _original(event: Event) -> dict[str, Any]:
    a = event.attributes
    return {"event_type": event.event_type.value, "result": a.get("result"), "failure": a.get("failure")}


@dataclass(frozen=True, slots=True)
class _ForkPlan:
    """One run of a fork: the source's history, where it is cut, the new ids, and the children forked with it."""

    source_run_id: str
    events: list[Event]
    cut: int
    workflow_id: str
    run_id: str
    children: list[tuple[OpenChild, _ForkPlan]]


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

    def fork(
        self,
        source_run_id: str,
        at_event: int | None,
        *,
        workflow_id: str | None,
        child_cuts: Mapping[str, int] | None = None,
        edits: Mapping[int, Event] | None = None,
    ) -> list[LiveRun]:
        """A new run whose history is a copy of the source's up to `at_event` (its lineage fields rewritten),
        and a fork of each child running there, linked to it; the new run first, then its descendants.

        A child that finished before the cut is reused as recorded; one running at the cut is forked
        at `child_cuts[its run id]`, or else where its first failed step runs again (`rerun_point`).
        """
        plan = self._plan_fork(source_run_id, at_event, workflow_id, dict(child_cuts or {}), set())
        forked: list[LiveRun] = []
        self._apply_fork(plan, None, forked, edits)
        return forked

    def what_if(
        self, source_run_id: str, at_event: int | None, results: Mapping[int | str, Any], raises: Mapping[int | str, Any], converter: PayloadConverter
    ) -> tuple[int, dict[int, Event]]:
        """Where a what-if fork cuts (right after its last edited step, unless `at_event` is later) and the edited events.

        A key is an event id (of the step's `ActivityTaskScheduled` or its closing event) or an activity
        type (its first run); `results` values replace the step's result, `raises` values (an exception,
        or a message) make it fail for good. Each edited event keeps the original in `what_if`.
        """
        events = self._history_of(source_run_id)
        edits: dict[int, Event] = {}
        for key, value in results.items():
            event = _step_outcome(events, key, source_run_id)
            try:
                payload = converter.to_payload(value)
            except PayloadError as exc:
                raise PayloadError(f"results[{key!r}]: {exc}") from None
            attrs = {k: v for k, v in event.attributes.items() if k not in ("failure", "retry_state", "timeout_type")}
            edits[event.event_id] = Event(event.event_id, E.ActivityTaskCompleted, event.event_time, {**attrs, "result": payload, "what_if": _original(event)})
        for key, value in raises.items():
            event = _step_outcome(events, key, source_run_id)
            error = value if isinstance(value, BaseException) else ApplicationError(str(value), non_retryable=True)
            attrs = {k: v for k, v in event.attributes.items() if k not in ("result", "timeout_type")}
            attrs |= {"failure": failure_from_exception(error), "retry_state": "NonRetryableFailure", "what_if": _original(event)}
            edits[event.event_id] = Event(event.event_id, E.ActivityTaskFailed, event.event_time, attrs)
        if not edits:
            raise ArgumentError("a what-if fork needs results= or raise_= naming at least one step")
        last = max(edits)
        if at_event is not None and at_event < last:
            raise ArgumentError(f"at_event={at_event} is before the edited step at event {last}; fork at or after it")
        try:
            return fork_point_after(events, at_event if at_event is not None else last), edits
        except ValueError as exc:
            raise ArgumentError(f"cannot fork run {source_run_id} there: {exc}") from None

    def _plan_fork(self, source_run_id: str, at_event: int | None, workflow_id: str | None, child_cuts: dict[str, int], ids: set[str]) -> _ForkPlan:
        """Everything a fork copies, checked before anything is recorded (a fork is all or nothing)."""
        source = self._ledger.find(source_run_id)
        store = self._writer.store
        events = self._history_of(source_run_id)
        cut = fork_point(events, len(events) if at_event is None else at_event)
        closing = closed_at(events)
        if at_event is not None and cut != at_event and (closing is None or at_event < closing):
            after = next_fork_point(events, at_event)
            nearest = " or ".join(f"event {n}" for n in (cut, after) if n is not None)
            why = "a signal or cancel sent to another workflow and its delivery" if not inside_task(events, at_event) else "a workflow task"
            raise ForkPointError(f"cannot fork run {source_run_id} at event {at_event}: it is inside {why}; fork at {nearest}", cut, after)
        if workflow_id is None:
            stored = store.get_run(source_run_id) if source is None else None
            workflow_id = source.workflow_id if source is not None else str(stored["workflow_id"] if stored else events[0].attributes.get("workflow_id"))
        existing = self._ledger.by_workflow_id.get(workflow_id)
        if existing is not None:
            raise WorkflowAlreadyStartedError(workflow_id, existing.run_id)
        if workflow_id in ids:
            raise WorkflowAlreadyStartedError(workflow_id, "(another run of this fork)")
        ids.add(workflow_id)
        children = []
        for child in children_open_at(events, cut):
            if child.run_id is None:
                raise ArgumentError(
                    f"cannot fork run {source_run_id} at event {cut}: its child {child.workflow_id} never started; fork before event "
                    f"{next(e.event_id for e in events if e.event_type is E.StartChildWorkflowExecutionInitiated and e.attributes['child_id'] == child.seq)}"
                )
            child_at = child_cuts.get(child.run_id, rerun_point(self._history_of(child.run_id)))
            children.append((child, self._plan_fork(child.run_id, child_at, child.workflow_id, child_cuts, ids)))
        return _ForkPlan(source_run_id, events, cut, workflow_id, uuid.uuid4().hex, children)

    def fork_chain(self, run_id: str, at_event: int | None) -> tuple[str, int | None, dict[str, int]]:
        """For a fork of a child with its parents: the root run, where to cut it, and where to cut each child on the way down."""
        cuts: dict[str, int] = {}
        current, current_at = run_id, at_event
        while True:
            first = self._history_of(current)[0].attributes
            parent_run_id, seq = first.get("parent_run_id"), first.get("parent_child_id")
            if not parent_run_id:
                return current, current_at, cuts
            if current_at is not None:
                cuts[current] = current_at
            closed = next(
                (e.event_id for e in self._history_of(parent_run_id) if e.event_type in CHILD_CLOSED and e.attributes.get("child_id") == seq),
                None,
            )
            current, current_at = str(parent_run_id), (closed - 1 if closed is not None else None)

    def _history_of(self, run_id: str) -> list[Event]:
        live = self._ledger.find(run_id)
        events = list(live.events) if live is not None else self._writer.store.load_events(run_id)
        if not events:
            raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
        return events

    def _apply_fork(self, plan: _ForkPlan, parent: tuple[LiveRun, int] | None, forked: list[LiveRun], edits: Mapping[int, Event] | None = None) -> LiveRun:
        events, cut, workflow_id = plan.events, plan.cut, plan.workflow_id
        first = events[0].attributes
        workflow_type = str(first.get("workflow_type"))
        task_queue = str(first.get("task_queue") or "default")
        run = LiveRun(plan.run_id, workflow_id, workflow_type, task_queue, int(first.get("random_seed") or 0))
        if parent is not None:
            run.parent_run_id, run.parent_workflow_id, run.parent_child_id = parent[0].run_id, parent[0].workflow_id, parent[1]
        lineage = {
            "workflow_id": workflow_id,
            "forked_from_run_id": plan.source_run_id,
            "parent_run_id": run.parent_run_id,
            "parent_workflow_id": run.parent_workflow_id,
            "parent_child_id": run.parent_child_id,
            "forked_at_event": cut,
            **({"what_if_events": sorted(edits)} if edits else {}),
        }
        new_child_runs = {child.seq: child_plan.run_id for child, child_plan in plan.children}
        copied = [Event(1, E.WorkflowExecutionStarted, events[0].event_time, {**first, **lineage})]
        for event in events[1:cut]:
            if edits and event.event_id in edits:
                event = edits[event.event_id]
            elif event.event_type is E.ChildWorkflowExecutionStarted and event.attributes.get("child_id") in new_child_runs:
                event = Event(event.event_id, event.event_type, event.event_time, {**event.attributes, "run_id": new_child_runs[event.attributes["child_id"]]})
            copied.append(event)
        for event in copied:
            run.state.apply(event)
        run.events = copied
        self._ledger.add(run)
        run.concurrency_keys = tuple(first.get("concurrency_keys") or ())
        self._limits.admit(run)
        row = RunRow(
            run.run_id, workflow_id, workflow_type, task_queue, first.get("input"), events[0].event_time,
            parent_run_id=run.parent_run_id, parent_workflow_id=run.parent_workflow_id, forked_from_run_id=plan.source_run_id,
        )  # fmt: skip
        self._writer.add_run(run, row, copied)
        forked.append(run)
        for child, child_plan in plan.children:
            child_run = self._apply_fork(child_plan, (run, child.seq), forked)
            if child.started_event_id is None:  # its start was recorded after the cut: record it for the fork's child
                state = run.state.children[child.seq]
                attrs = {
                    "child_id": child.seq,
                    "initiated_event_id": state.initiated_event_id,
                    "workflow_id": child_run.workflow_id,
                    "run_id": child_run.run_id,
                }
                self._writer.record(run, E.ChildWorkflowExecutionStarted, attrs)
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
