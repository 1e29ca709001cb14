"""History <-> runtime: commands as events, events as activations, and a run's open work.

`RunState` is the run's mutable state (Temporal calls it that too): the engine feeds it
every event it records, and recovery rebuilds it by feeding it a stored history, so
both paths agree on which activities, timers and children are still open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from wfkit._history._commands import (
    AcceptUpdate,
    Activation,
    CancelTimer,
    CancelWorkflow,
    Command,
    CompleteUpdate,
    CompleteWorkflow,
    ContinueAsNew,
    DoUpdate,
    FailWorkflow,
    FireTimer,
    Job,
    RecordMarker,
    RejectUpdate,
    RequestCancelActivity,
    RequestCancelExternal,
    RequestCancelWorkflow,
    ResolveActivity,
    ResolveChild,
    ResolveExternal,
    ScheduleActivity,
    SignalExternal,
    SignalWorkflow,
    StartChildWorkflow,
    StartTimer,
    StartWorkflow,
    UpsertMemo,
    UpsertSearchAttributes,
)
from wfkit._history._events import ATTEMPT_RETRYING, CLOSING_EVENTS, Event, EventType
from wfkit._history._local import LOCAL_ACTIVITY_MARKERS

__all__ = [
    "CHILD_CLOSED",
    "COMMAND_EVENTS",
    "ENGINE_RESTART",
    "ENGINE_SHUTDOWN",
    "LOST_ATTEMPT",
    "ActivityState",
    "ChildState",
    "EXTERNAL_INITIATED",
    "EXTERNAL_OUTCOMES",
    "ExternalState",
    "RecordedActivation",
    "RunState",
    "TimerState",
    "admitted_updates",
    "command_matches",
    "command_to_event",
    "describe_command",
    "event_to_job",
    "OpenChild",
    "children_open_at",
    "fork_point",
    "fork_point_after",
    "rerun_point",
    "split_activations",
]

E = EventType

#: `timeout_type` of an attempt that was running when its engine died (a crash); another attempt follows.
ENGINE_RESTART = "EngineRestart"
#: `timeout_type` of an attempt still running when its engine closed after its grace period; another follows.
ENGINE_SHUTDOWN = "EngineShutdown"
#: Attempts lost with their engine: they end at `last_alive_time` and do not count against the retry policy.
LOST_ATTEMPT = frozenset({ENGINE_RESTART, ENGINE_SHUTDOWN})

COMMAND_EVENTS = frozenset(
    {
        E.ActivityTaskScheduled,
        E.ActivityTaskCancelRequested,
        E.TimerStarted,
        E.TimerCanceled,
        E.StartChildWorkflowExecutionInitiated,
        E.SignalExternalWorkflowExecutionInitiated,
        E.RequestCancelExternalWorkflowExecutionInitiated,
        E.NexusOperationScheduled,  # commands of imported histories only: wfkit's engine runs no Nexus operations
        E.NexusOperationCancelRequested,
        E.MarkerRecorded,
        E.WorkflowExecutionCompleted,
        E.WorkflowExecutionFailed,
        E.WorkflowExecutionCanceled,
        E.WorkflowExecutionContinuedAsNew,
        E.WorkflowExecutionUpdateAccepted,
        E.WorkflowExecutionUpdateCompleted,
    }
)

_ACTIVITY_SCHEDULED, _TIMER_STARTED = E.ActivityTaskScheduled, E.TimerStarted
#: Events that close a child workflow in its parent's history.
CHILD_CLOSED = frozenset(
    {
        E.ChildWorkflowExecutionCompleted,
        E.ChildWorkflowExecutionFailed,
        E.ChildWorkflowExecutionCanceled,
        E.ChildWorkflowExecutionTimedOut,
        E.ChildWorkflowExecutionTerminated,
        E.StartChildWorkflowExecutionFailed,
    }
)
# Events inside a workflow task besides its commands: a fork never cuts between them and the task's start.
_TASK_SPAN_EVENTS = frozenset(
    {
        E.WorkflowTaskStarted,
        E.WorkflowTaskCompleted,
        E.WorkflowTaskFailed,
        E.WorkflowTaskTimedOut,
        E.UpsertWorkflowSearchAttributes,  # commands a replay does not check (UNCHECKED_COMMANDS)
        E.WorkflowPropertiesModified,
    }
)

#: The events that send a signal or a cancel request to another workflow (`external_id` numbers them per run).
EXTERNAL_INITIATED = frozenset({E.SignalExternalWorkflowExecutionInitiated, E.RequestCancelExternalWorkflowExecutionInitiated})
#: How such a request ended: delivered, or failed (no open run with that id), per initiating event type.
EXTERNAL_OUTCOMES: dict[EventType, tuple[EventType, EventType]] = {
    E.SignalExternalWorkflowExecutionInitiated: (E.ExternalWorkflowExecutionSignaled, E.SignalExternalWorkflowExecutionFailed),
    E.RequestCancelExternalWorkflowExecutionInitiated: (E.ExternalWorkflowExecutionCancelRequested, E.RequestCancelExternalWorkflowExecutionFailed),
}


def command_to_event(command: Command) -> tuple[EventType, dict[str, Any]]:
    """The event type and attributes that record `command` in history."""
    match command:
        case ScheduleActivity(seq, activity_type, args, options):
            return E.ActivityTaskScheduled, {"activity_id": seq, "activity_type": activity_type, "input": args, **options}
        case RequestCancelActivity(seq):
            return E.ActivityTaskCancelRequested, {"activity_id": seq}
        case StartTimer(seq, duration):
            return E.TimerStarted, {"timer_id": seq, "duration": duration}
        case CancelTimer(seq):
            return E.TimerCanceled, {"timer_id": seq}
        case StartChildWorkflow(seq, workflow_type, workflow_id, args, task_queue):
            attrs = {"child_id": seq, "workflow_type": workflow_type, "workflow_id": workflow_id, "input": args}
            return E.StartChildWorkflowExecutionInitiated, {**attrs, "task_queue": task_queue}
        case SignalExternal(seq, workflow_id, run_id, signal_name, args):
            target = {"external_id": seq, "workflow_id": workflow_id, "run_id": run_id}
            return E.SignalExternalWorkflowExecutionInitiated, {**target, "signal_name": signal_name, "input": args, "child_workflow_only": False}
        case RequestCancelExternal(seq, workflow_id, run_id):
            target = {"external_id": seq, "workflow_id": workflow_id, "run_id": run_id}
            return E.RequestCancelExternalWorkflowExecutionInitiated, {**target, "reason": "", "child_workflow_only": False}
        case RecordMarker(name, details):
            return E.MarkerRecorded, {"marker_name": name, **details}
        case CompleteWorkflow(result):
            return E.WorkflowExecutionCompleted, {"result": result}
        case FailWorkflow(failure):
            return E.WorkflowExecutionFailed, {"failure": failure}
        case CancelWorkflow(details):
            return E.WorkflowExecutionCanceled, {"details": details}
        case ContinueAsNew(args):
            return E.WorkflowExecutionContinuedAsNew, {"input": args}
        case AcceptUpdate(update_id, name, args):
            return E.WorkflowExecutionUpdateAccepted, {"update_id": update_id, "update_name": name, "input": args}
        case CompleteUpdate(update_id, result, failure):
            return E.WorkflowExecutionUpdateCompleted, {"update_id": update_id, "failure": failure} if failure is not None else {
                "update_id": update_id,
                "result": result,
            }
        case UpsertSearchAttributes(attributes):
            return E.UpsertWorkflowSearchAttributes, {"search_attributes": attributes}
        case UpsertMemo(memo):
            return E.WorkflowPropertiesModified, {"memo": memo}
        case RejectUpdate(update_id, failure):
            return E.WorkflowExecutionUpdateRejected, {"update_id": update_id, "failure": failure}  # never recorded: see RejectUpdate
    raise TypeError(f"not a command: {command!r}")


def describe_command(command: Command) -> str:
    """A short description in the same words as `Event.describe`."""
    event_type, attrs = command_to_event(command)
    return Event(0, event_type, 0.0, attrs).describe()


_IDENTITY_KEYS = ("activity_id", "activity_type", "timer_id", "child_id", "workflow_type", "marker_name", "patch_id", "update_id", "external_id")
_IDENTITY_KEY_SET = frozenset(_IDENTITY_KEYS)


def command_matches(command: Command, event: Event) -> bool:
    """True when `event` is how history recorded `command` (same kind, same identity)."""
    # Replay checks every command, so the common kinds compare their fields directly; the rule is
    # the generic one below: same event type, and every identity key both sides carry is equal.
    recorded = event.attributes
    if isinstance(command, ScheduleActivity):
        if command.options and not _IDENTITY_KEY_SET.isdisjoint(command.options):
            return _command_matches(command, event)  # options that name an identity key take part too
        return (
            event.event_type is _ACTIVITY_SCHEDULED
            and ("activity_id" not in recorded or recorded["activity_id"] == command.seq)
            and ("activity_type" not in recorded or recorded["activity_type"] == command.activity_type)
        )
    if isinstance(command, StartTimer):
        return event.event_type is _TIMER_STARTED and ("timer_id" not in recorded or recorded["timer_id"] == command.seq)
    if isinstance(command, SignalExternal) and recorded.get("signal_name") not in (None, command.signal_name):
        return False  # the same target and order, but another signal: the code changed
    return _command_matches(command, event)


def _command_matches(command: Command, event: Event) -> bool:
    event_type, attrs = command_to_event(command)
    if event.event_type is not event_type:
        return False
    recorded = event.attributes
    return all(not (key in attrs and key in recorded and attrs[key] != recorded[key]) for key in _IDENTITY_KEYS)


def _start_workflow(attrs: dict[str, Any]) -> Job | None:
    return StartWorkflow(list(attrs.get("input") or []))


def _signal_workflow(attrs: dict[str, Any]) -> Job | None:
    return SignalWorkflow(attrs["signal_name"], attrs.get("input"))


def _request_cancel_workflow(attrs: dict[str, Any]) -> Job | None:
    return RequestCancelWorkflow(attrs.get("reason", ""))


def _activity_completed(attrs: dict[str, Any]) -> Job | None:
    return ResolveActivity(attrs["activity_id"], "completed", attrs.get("result"))


def _activity_failed(attrs: dict[str, Any]) -> Job | None:
    if attrs.get("retry_state") == ATTEMPT_RETRYING:
        return None  # another attempt follows: the workflow does not see this one
    return ResolveActivity(attrs["activity_id"], "failed", failure=attrs.get("failure"))


def _activity_timed_out(attrs: dict[str, Any]) -> Job | None:
    if attrs.get("retry_state") == ATTEMPT_RETRYING:
        return None
    return ResolveActivity(attrs["activity_id"], "timed_out", failure=attrs.get("failure"))


def _activity_canceled(attrs: dict[str, Any]) -> Job | None:
    return ResolveActivity(attrs["activity_id"], "canceled", failure=attrs.get("failure"))


def _timer_fired(attrs: dict[str, Any]) -> Job | None:
    return FireTimer(attrs["timer_id"])


def _child_completed(attrs: dict[str, Any]) -> Job | None:
    return ResolveChild(attrs["child_id"], "completed", result=attrs.get("result"))


def _child_failed(attrs: dict[str, Any]) -> Job | None:
    return ResolveChild(attrs["child_id"], "failed", failure=attrs.get("failure"))


def _child_canceled(attrs: dict[str, Any]) -> Job | None:
    return ResolveChild(attrs["child_id"], "canceled", failure=attrs.get("failure"))


def _external_delivered(attrs: dict[str, Any]) -> Job | None:
    seq = attrs.get("external_id")
    return None if seq is None else ResolveExternal(int(seq), "completed")


def _external_failed(attrs: dict[str, Any]) -> Job | None:
    seq = attrs.get("external_id")
    if seq is None:
        return None
    cause = str(attrs.get("cause") or "ExternalWorkflowExecutionNotFound")
    target = attrs.get("workflow_id") or "?"
    message = f"workflow {target!r}" + (f" (run {attrs['run_id']})" if attrs.get("run_id") else "") + " is not open"
    return ResolveExternal(int(seq), "failed", {"type": cause, "message": message, "stack": "", "non_retryable": True})


def admitted_updates(events: Iterable[Event]) -> list[DoUpdate]:
    """Updates admitted with a start (update-with-start) that no workflow task has accepted yet: still owed."""
    admitted: dict[Any, dict[str, Any]] = {}
    for event in events:
        if event.event_type is E.WorkflowExecutionUpdateAdmitted:
            admitted[event.attributes.get("update_id")] = event.attributes
        elif event.event_type in (E.WorkflowExecutionUpdateAccepted, E.WorkflowExecutionUpdateCompleted):
            admitted.pop(event.attributes.get("update_id"), None)
    return [_do_update(attrs, {}) for attrs in admitted.values()]


def _do_update(attrs: dict[str, Any], admitted: dict[Any, dict[str, Any]]) -> DoUpdate:
    request = attrs if attrs.get("update_name") else admitted.get(attrs.get("update_id"), attrs)
    return DoUpdate(str(attrs.get("update_id") or ""), str(request.get("update_name") or ""), list(request.get("input") or []))


_JOB_OF: dict[EventType, Callable[[dict[str, Any]], Job | None]] = {
    E.WorkflowExecutionStarted: _start_workflow,
    E.WorkflowExecutionSignaled: _signal_workflow,
    E.WorkflowExecutionCancelRequested: _request_cancel_workflow,
    E.ActivityTaskCompleted: _activity_completed,
    E.ActivityTaskFailed: _activity_failed,
    E.ActivityTaskTimedOut: _activity_timed_out,
    E.ActivityTaskCanceled: _activity_canceled,
    E.TimerFired: _timer_fired,
    E.ChildWorkflowExecutionCompleted: _child_completed,
    E.ChildWorkflowExecutionFailed: _child_failed,
    E.ChildWorkflowExecutionCanceled: _child_canceled,
    E.ExternalWorkflowExecutionSignaled: _external_delivered,
    E.SignalExternalWorkflowExecutionFailed: _external_failed,
    E.ExternalWorkflowExecutionCancelRequested: _external_delivered,
    E.RequestCancelExternalWorkflowExecutionFailed: _external_failed,
}
"""Per event type the workflow can see, how its job is built (None: not this time, e.g. a retried attempt)."""


def event_to_job(event: Event) -> Job | None:
    """The activation job an event delivers to the workflow, or None if the workflow does not see it."""
    build = _JOB_OF.get(event.event_type)
    return None if build is None else build(event.attributes)


@dataclass(slots=True)
class RecordedActivation:
    """One workflow task of a recorded history: what it delivered and what the code answered."""

    activation: Activation
    started_event: Event
    """The `WorkflowTaskStarted` event of this task."""
    commands: list[Event]
    """The command events recorded after the task completed, in order."""
    job_events: list[Event]
    """The events whose jobs this activation delivered."""


def split_activations(events: Iterable[Event]) -> Iterator[RecordedActivation]:
    """Cut a history into its workflow tasks.

    Jobs are the workflow-visible events seen before a `WorkflowTaskStarted`; commands are
    the command events after its `WorkflowTaskCompleted`. A failed task's jobs carry over
    to the next task, as in Temporal.
    """
    # Every replay walks the whole history through here, so: one dict lookup per event, each
    # job built once (when its event is seen), and the event types bound to locals.
    task_started, task_completed, task_failed, marker = E.WorkflowTaskStarted, E.WorkflowTaskCompleted, E.WorkflowTaskFailed, E.MarkerRecorded
    task_timed_out = E.WorkflowTaskTimedOut  # delivered nothing either: its jobs carry over, as a failed task's
    command_events, job_of = COMMAND_EVENTS, _JOB_OF
    update_accepted, update_admitted = E.WorkflowExecutionUpdateAccepted, E.WorkflowExecutionUpdateAdmitted
    admitted: dict[Any, dict[str, Any]] = {}
    job_events: list[Event] = []
    jobs: list[Job] = []
    current: RecordedActivation | None = None
    completed = False
    for event in events:
        et = event.event_type
        if et is task_started:
            if current is not None:
                yield current
            current = RecordedActivation(Activation(event.event_time, jobs, True, []), event, [], job_events)
            job_events, jobs, completed = [], [], False
        elif et is task_completed:
            completed = True
        elif et is task_failed or et is task_timed_out:
            if current is not None:
                job_events = current.job_events + job_events
                jobs = current.activation.jobs + jobs
            current, completed = None, False
        elif completed and current is not None and et in command_events:
            current.commands.append(event)
            if et is marker:
                current.activation.recorded_markers.append(event.attributes)
                if event.attributes.get("marker_name") in LOCAL_ACTIVITY_MARKERS:
                    current.activation.local_results.append(event.attributes)  # resolves its call in this task
            elif et is update_accepted:
                # Temporal records an update's acceptance after the task that delivered it: that task's job.
                current.activation.jobs.append(_do_update(event.attributes, admitted))
                current.job_events.append(event)
        elif et is update_admitted:  # update-with-start: the request, whose acceptance may omit it
            admitted[event.attributes.get("update_id")] = event.attributes
        else:
            build = job_of.get(et)
            if build is not None:
                job = build(event.attributes)
                if job is not None:
                    job_events.append(event)
                    jobs.append(job)
    if current is not None:
        yield current


def fork_point(events: Sequence[Event], at_event: int) -> int:
    """The last event id at or before `at_event` where a run can resume: not inside a workflow
    task (from its `WorkflowTaskScheduled` to its last command), and before the run closed.
    Children running at that point are forked with the run (see `children_open_at`)."""
    spans, closed_at = _task_spans(events)
    cut = max(1, min(at_event, len(events), closed_at - 1))
    pending = _external_requests(events)
    moved = True
    while moved:  # moving before one request's task may leave an earlier request undelivered at the new cut
        moved = False
        for first, final in spans:
            if first <= cut < final:
                cut = first - 1
        for task_start, delivered_at in pending:
            if task_start <= cut and (delivered_at == 0 or delivered_at > cut):
                cut, moved = task_start - 1, True
    return max(1, cut)


def next_fork_point(events: Sequence[Event], at_event: int) -> int | None:
    """The first event id after `at_event` where a run can resume, or None if there is none before it closed."""
    spans, closed_at = _task_spans(events)
    candidates = sorted({final for _, final in spans if final > at_event} | {delivered for _, delivered in _external_requests(events) if delivered > at_event})
    for candidate in candidates:
        if candidate < closed_at and fork_point(events, candidate) == candidate:
            return candidate
    return None


def inside_task(events: Sequence[Event], at_event: int) -> bool:
    """True if `at_event` falls inside a workflow task (after its `WorkflowTaskScheduled`, before its last command)."""
    return any(first <= at_event < final for first, final in _task_spans(events)[0])


def closed_at(events: Sequence[Event]) -> int | None:
    """The id of the event that closed the run, or None while it is open."""
    closing = _task_spans(events)[1]
    return closing if closing <= len(events) else None


def _external_requests(events: Sequence[Event]) -> list[tuple[int, int]]:
    """Each signal/cancel sent to another workflow: (the task that sent it, the id of its outcome or 0).

    A fork never cuts between the two: the request belongs to the original run, and the fork would
    wait for its outcome forever."""
    requests: dict[Any, tuple[int, int]] = {}
    start = 0
    for event in events:
        et = event.event_type
        if et is E.WorkflowTaskScheduled:
            start = event.event_id
        elif et in EXTERNAL_INITIATED:
            requests[event.attributes.get("external_id")] = (start or event.event_id, 0)
        elif et in _EXTERNAL_OUTCOME_TYPES and event.attributes.get("external_id") in requests:
            key = event.attributes.get("external_id")
            requests[key] = (requests[key][0], event.event_id)
    return list(requests.values())


def fork_point_after(events: Sequence[Event], at_event: int) -> int:
    """The first event id at or after `at_event` where a run can resume (the end of the workflow task it is in).

    Raises:
        ValueError: the run closed at or before `at_event`.
    """
    spans, closed_at = _task_spans(events)
    if at_event >= closed_at:
        raise ValueError(f"event {at_event} is not before the run closed (event {closed_at})")
    cut = at_event
    for first, final in spans:
        if first <= cut < final:
            cut = final
    return cut


def _task_spans(events: Sequence[Event]) -> tuple[list[tuple[int, int]], int]:
    """Each workflow task's (first, last) event ids, and the id of the closing event (past the end if open)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    last = 0
    closed_at = len(events) + 1
    for event in events:
        et = event.event_type
        if et in CLOSING_EVENTS:
            closed_at = min(closed_at, event.event_id)
        if et is E.WorkflowTaskScheduled:
            if start is not None:
                spans.append((start, last))
            start = last = event.event_id
        elif start is not None and (et in COMMAND_EVENTS or et in _TASK_SPAN_EVENTS):
            last = event.event_id
    if start is not None:
        spans.append((start, last))
    return spans, closed_at


@dataclass(frozen=True, slots=True)
class OpenChild:
    """A child workflow initiated at or before a cut of its parent's history and not closed there."""

    seq: int
    workflow_id: str
    run_id: str | None
    """The child's run (from its `ChildWorkflowExecutionStarted`, wherever it is in the history)."""
    started_event_id: int | None
    """That event's id when it is at or before the cut; None if the start was recorded after the cut."""


def children_open_at(events: Sequence[Event], cut: int) -> list[OpenChild]:
    """The children running at event `cut`, in the order they were initiated."""
    initiated: dict[int, str] = {}
    started: dict[int, tuple[str | None, int]] = {}
    closed: set[int] = set()
    for event in events:
        a = event.attributes
        if event.event_type is E.StartChildWorkflowExecutionInitiated and event.event_id <= cut:
            initiated[a["child_id"]] = str(a.get("workflow_id"))
        elif event.event_type is E.ChildWorkflowExecutionStarted:
            started[a["child_id"]] = (a.get("run_id"), event.event_id)
        elif event.event_type in CHILD_CLOSED and event.event_id <= cut:
            closed.add(a["child_id"])
    out = []
    for seq, workflow_id in initiated.items():
        if seq in closed:
            continue
        run_id, started_id = started.get(seq, (None, 0))
        out.append(OpenChild(seq, workflow_id, run_id, started_id if 0 < started_id <= cut else None))
    return out


def rerun_point(events: Sequence[Event]) -> int:
    """Where a fork of this run resumes by default when it is forked with its parent: before the workflow
    task that scheduled its first activity to fail for good (that step runs again), or else at its
    latest resume point (its finished work is reused)."""
    failed = [
        int(e.attributes["scheduled_event_id"])
        for e in events
        if e.event_type in (E.ActivityTaskFailed, E.ActivityTaskTimedOut)
        and e.attributes.get("retry_state") != ATTEMPT_RETRYING
        and e.attributes.get("scheduled_event_id") is not None
        and e.attributes.get("timeout_type") not in LOST_ATTEMPT
    ]
    return fork_point(events, min(failed) if failed else len(events))


# #### Open work of a run ####


@dataclass(slots=True)
class ActivityState:
    """An activity that was scheduled and has not closed."""

    seq: int
    activity_type: str
    args: list[Any]
    options: dict[str, Any]
    scheduled_event_id: int
    scheduled_time: float
    attempt: int = 0
    """The last attempt that started (0: none yet)."""
    started_event_id: int | None = None
    running: bool = False
    """True between an attempt's start and its end."""
    retry_at: float | None = None
    """When the next attempt is due, after a failed attempt."""
    last_failure: dict[str, Any] | None = None
    cancel_requested: bool = False
    lost_attempts: int = 0
    """Attempts lost with their engine (crash or close); they do not count against the retry policy."""
    started_time: float | None = None
    """When the running (or last) attempt started."""


@dataclass(slots=True)
class TimerState:
    """A durable timer that has not fired or been cancelled."""

    seq: int
    started_event_id: int
    fire_at: float


@dataclass(slots=True)
class ChildState:
    """A child workflow that was initiated and has not closed."""

    seq: int
    initiated_event_id: int
    workflow_type: str
    workflow_id: str
    args: list[Any]
    task_queue: str | None
    run_id: str | None = None


@dataclass(slots=True)
class ExternalState:
    """A signal or cancel request to another workflow that was initiated and has no outcome yet."""

    seq: int
    initiated: Event
    """Its `SignalExternalWorkflowExecutionInitiated` or `RequestCancelExternalWorkflowExecutionInitiated` event."""

    @property
    def is_signal(self) -> bool:
        """True for a signal, False for a cancel request."""
        return self.initiated.event_type is E.SignalExternalWorkflowExecutionInitiated

    def describe(self) -> str:
        """What it asks of whom: "signal 'go' to 'target'" or "cancel 'target'"."""
        attrs = self.initiated.attributes
        if self.is_signal:
            return f"signal {attrs.get('signal_name')!r} to {attrs.get('workflow_id')!r}"
        return f"cancel {attrs.get('workflow_id')!r}"


@dataclass(slots=True)
class RunState:
    """The open work of one run, kept up to date event by event."""

    next_event_id: int = 1
    activities: dict[int, ActivityState] = field(default_factory=dict)
    timers: dict[int, TimerState] = field(default_factory=dict)
    children: dict[int, ChildState] = field(default_factory=dict)
    externals: dict[int, ExternalState] = field(default_factory=dict)
    """Signals and cancel requests to other workflows not yet delivered (recovery delivers them)."""
    closed_by: EventType | None = None
    last_event_time: float = 0.0
    unactivated: list[Event] = field(default_factory=list)
    """Workflow-visible events recorded since the last workflow task started (jobs still owed)."""
    _task_jobs: list[Event] = field(default_factory=list)

    def apply(self, event: Event) -> None:
        """Advance the state past `event` (which must carry the next event id)."""
        if event.event_id != self.next_event_id:
            raise ValueError(f"history gap: expected event {self.next_event_id}, got {event.event_id}")
        self.next_event_id += 1
        self.last_event_time = event.event_time
        et = event.event_type
        if et is _TASK_STARTED:
            self._task_jobs, self.unactivated = self.unactivated, []
        elif et is _TASK_FAILED or et is _TASK_TIMED_OUT:
            # A failed task delivered nothing: its jobs are owed to the next one.
            self.unactivated = self._task_jobs + self.unactivated
        else:
            build = _JOB_OF.get(et)
            if build is not None and build(event.attributes) is not None:
                self.unactivated.append(event)
        on_event = _ON_EVENT.get(et)
        if on_event is not None:
            on_event(self, event, event.attributes)
        elif et in CLOSING_EVENTS:
            self.closed_by = et

    # #### One method per event type that changes open work, alphabetical ####

    def _on_activity_cancel_requested(self, event: Event, attrs: dict[str, Any]) -> None:
        act = self.activities.get(attrs["activity_id"])
        if act is not None:
            act.cancel_requested = True

    def _on_activity_closed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.activities.pop(attrs["activity_id"], None)

    def _on_activity_failed(self, event: Event, attrs: dict[str, Any]) -> None:
        """A failure or timeout: either the activity closed, or another attempt follows."""
        if attrs.get("retry_state") != ATTEMPT_RETRYING:
            self.activities.pop(attrs["activity_id"], None)
            return
        act = self.activities.get(attrs["activity_id"])
        if act is not None:
            act.running = False
            act.last_failure = attrs.get("failure")
            act.lost_attempts += attrs.get("timeout_type") in LOST_ATTEMPT
            act.retry_at = event.event_time + float(attrs.get("next_retry_delay") or 0.0)

    def _on_activity_scheduled(self, event: Event, attrs: dict[str, Any]) -> None:
        options = {k: v for k, v in attrs.items() if k not in ("activity_id", "activity_type", "input")}
        self.activities[attrs["activity_id"]] = ActivityState(
            attrs["activity_id"], attrs["activity_type"], attrs.get("input") or [], options, event.event_id, event.event_time
        )

    def _on_activity_started(self, event: Event, attrs: dict[str, Any]) -> None:
        act = self.activities.get(attrs["activity_id"])
        if act is not None:
            act.attempt, act.started_event_id, act.running, act.retry_at = attrs["attempt"], event.event_id, True, None
            act.started_time = event.event_time

    def _on_child_closed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.children.pop(attrs["child_id"], None)

    def _on_child_initiated(self, event: Event, attrs: dict[str, Any]) -> None:
        self.children[attrs["child_id"]] = ChildState(
            attrs["child_id"], event.event_id, attrs["workflow_type"], attrs["workflow_id"], attrs.get("input") or [], attrs.get("task_queue")
        )

    def _on_child_started(self, event: Event, attrs: dict[str, Any]) -> None:
        child = self.children.get(attrs["child_id"])
        if child is not None:
            child.run_id = attrs.get("run_id")

    def _on_external_initiated(self, event: Event, attrs: dict[str, Any]) -> None:
        if attrs.get("external_id") is not None:
            self.externals[int(attrs["external_id"])] = ExternalState(int(attrs["external_id"]), event)

    def _on_external_resolved(self, event: Event, attrs: dict[str, Any]) -> None:
        if attrs.get("external_id") is not None:
            self.externals.pop(int(attrs["external_id"]), None)

    def _on_timer_closed(self, event: Event, attrs: dict[str, Any]) -> None:
        self.timers.pop(attrs["timer_id"], None)

    def _on_timer_started(self, event: Event, attrs: dict[str, Any]) -> None:
        self.timers[attrs["timer_id"]] = TimerState(attrs["timer_id"], event.event_id, event.event_time + float(attrs["duration"]))

    @property
    def closed(self) -> bool:
        """True once a closing event (completed, failed, cancelled, terminated, continued-as-new) was applied."""
        return self.closed_by is not None


_EXTERNAL_OUTCOME_TYPES = frozenset(outcome for outcomes in EXTERNAL_OUTCOMES.values() for outcome in outcomes)

_TASK_STARTED, _TASK_FAILED, _TASK_TIMED_OUT = E.WorkflowTaskStarted, E.WorkflowTaskFailed, E.WorkflowTaskTimedOut
_TASK_EVENTS = frozenset({E.WorkflowTaskStarted, E.WorkflowTaskCompleted, E.WorkflowTaskFailed, E.WorkflowTaskTimedOut})

_ON_EVENT: dict[EventType, Callable[[RunState, Event, dict[str, Any]], None]] = {
    E.ActivityTaskScheduled: RunState._on_activity_scheduled,
    E.ActivityTaskStarted: RunState._on_activity_started,
    E.ActivityTaskCompleted: RunState._on_activity_closed,
    E.ActivityTaskFailed: RunState._on_activity_failed,
    E.ActivityTaskTimedOut: RunState._on_activity_failed,
    E.ActivityTaskCanceled: RunState._on_activity_closed,
    E.ActivityTaskCancelRequested: RunState._on_activity_cancel_requested,
    E.TimerStarted: RunState._on_timer_started,
    E.TimerFired: RunState._on_timer_closed,
    E.TimerCanceled: RunState._on_timer_closed,
    E.StartChildWorkflowExecutionInitiated: RunState._on_child_initiated,
    E.ChildWorkflowExecutionStarted: RunState._on_child_started,
    E.ChildWorkflowExecutionCompleted: RunState._on_child_closed,
    E.ChildWorkflowExecutionFailed: RunState._on_child_closed,
    E.ChildWorkflowExecutionCanceled: RunState._on_child_closed,
    **{initiated: RunState._on_external_initiated for initiated in EXTERNAL_INITIATED},
    **{outcome: RunState._on_external_resolved for outcomes in EXTERNAL_OUTCOMES.values() for outcome in outcomes},
}
"""What `RunState.apply` does beyond bookkeeping, per event type (closing events set `closed_by`)."""
