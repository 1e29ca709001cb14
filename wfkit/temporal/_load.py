"""Temporal JSON histories -> wfkit events.

Reads both dialects of Temporal's proto3 JSON: what the Python SDK's `WorkflowHistory.to_json()`
and `temporal workflow show --output json` write (`"eventType": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"`,
`"kind": "TASK_QUEUE_KIND_NORMAL"`) and the older PascalCase one of tctl and old UI exports
(`"ActivityTaskScheduled"`, `"Normal"`). Both become the same wfkit events.

Each wfkit event carries wfkit's attributes (the same keys the engine records: `activity_id`,
`attempt`, `failure`, `retry_state`, `timer_id`, `child_id`, ...) and, under `temporal`, the
original event (its attributes with payloads as they were, its time with nanoseconds, its task
id and every other field), so nothing is lost and an export writes it back unchanged. Event ids
are Temporal's, so `scheduled_event_id` and friends point at the same events in both worlds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfkit._history._events import CLOSE_STATUS, Event, EventType
from wfkit._history._history import History
from wfkit.temporal._fields import EVENT_FIELDS, EVENT_TYPES
from wfkit.temporal._json import Reader, enum_value, seed_for_run
from wfkit.temporal._source import attributes_key, canonical_event, pascal_name, read_source

__all__ = ["RUNNING_ON_TEMPORAL", "Loaded", "load", "load_history", "report_unknown"]

logger = logging.getLogger("wfkit.temporal")
E = EventType

#: `workflows.status` of an imported run that was still open on Temporal (the engine never resumes it).
RUNNING_ON_TEMPORAL = "RunningOnTemporal"

# wfkit's status map, plus the closing event Temporal has and wfkit's own runs never record.
_CLOSE_STATUS = {event.value: status for event, status in CLOSE_STATUS.items()} | {"WorkflowExecutionTimedOut": "TimedOut"}

_reported: set[str] = set()


@dataclass(slots=True)
class Loaded:
    """A converted history and what the conversion noticed."""

    history: History
    status: str
    """The `workflows.status` the run gets: Completed, Failed, ..., or `RunningOnTemporal`."""
    name: str | None
    """The file (or other source) it came from."""
    unknown: dict[str, int] = field(default_factory=dict)
    """Event types and attributes wfkit does not know, with how often each occurred (all kept)."""
    workflow_type: str = ""
    task_queue: str | None = None
    start_time: float = 0.0
    close_time: float | None = None
    input: Any = None
    result: Any = None
    failure: Any = None
    parent_run_id: str | None = None
    parent_workflow_id: str | None = None
    continued_from_run_id: str | None = None


def load_history(source: Any, *, workflow_id: str | None = None, run_id: str | None = None) -> History:
    """Convert one Temporal JSON history into a wfkit `History`.

    `source` is a path (`.json`, or `.json.gz`), JSON text or bytes, a parsed dict, or a
    temporalio `WorkflowHistory`. Payloads are decoded where their encoding is known
    (`json/plain`, `binary/null`, `binary/plain`, `json/protobuf`) and kept as base64 with their
    encoding where not; every original attribute stays under the `temporal` key. Event types and
    attributes wfkit does not know are kept and logged once (logger `wfkit.temporal`).

    Args:
        source: the history.
        workflow_id: the workflow id, when the history does not name it (old servers).
        run_id: the run id (default: the start event's `originalExecutionRunId`).

    Raises:
        HistoryFormatError: the history is malformed; the error names the file and JSON path.
    """
    loaded = load(source, workflow_id=workflow_id, run_id=run_id)
    report_unknown(loaded.unknown, loaded.name)
    return loaded.history


def report_unknown(unknown: dict[str, int], name: str | None) -> None:
    """Log each unknown event type or attribute once per process."""
    fresh = sorted(key for key in unknown if key not in _reported)
    if fresh:
        _reported.update(fresh)
        logger.warning("%s: kept Temporal data wfkit does not know (reported once): %s", name or "history", ", ".join(f"{k} ({unknown[k]}x)" for k in fresh))


def load(source: Any, *, workflow_id: str | None = None, run_id: str | None = None, name: str | None = None) -> Loaded:
    """Convert a history source; see `load_history`."""
    doc, found = read_source(source)
    return _Converter(name or found).convert(doc, workflow_id, run_id)


class _Converter:
    """One history's conversion, with the id maps that link its events."""

    def __init__(self, name: str | None) -> None:
        self.read = Reader(name)
        self.name = name
        self.unknown: dict[str, int] = {}
        self.activities: dict[int, tuple[int, str]] = {}
        """ActivityTaskScheduled event id -> (wfkit activity_id, activity type)."""
        self.attempts: dict[int, int] = {}
        """ActivityTaskStarted event id -> attempt."""
        self.last_attempt: dict[int, int] = {}
        """wfkit activity_id -> last attempt started."""
        self.timers: dict[str, tuple[int, int]] = {}
        """Temporal timerId -> (wfkit timer_id, TimerStarted event id)."""
        self.children: dict[int, tuple[int, str, str]] = {}
        """StartChildWorkflowExecutionInitiated event id -> (wfkit child_id, workflow type, workflow id)."""
        self.run_id = ""
        self.event_id = 0
        """The id of the event being converted."""
        self.last_task: dict[str, Any] = {}
        """The ids of the last WorkflowTaskCompleted event."""

    def _note(self, key: str) -> None:
        self.unknown[key] = self.unknown.get(key, 0) + 1

    def convert(self, doc: Any, workflow_id: str | None, run_id: str | None) -> Loaded:
        read = self.read
        if isinstance(doc, list):
            raw_events: Any = doc
            base = "$"
        else:
            top = read.obj(doc, "$")
            if "events" not in top:
                raise read.error("$", "missing 'events' (a Temporal history is {\"events\": [...]})")
            raw_events = top["events"]
            base = "$.events"
            if not isinstance(raw_events, list):
                raise read.error(base, f"expected a list of events, found {type(raw_events).__name__}")
        if not raw_events:
            raise read.error(base, "the history has no events")
        events: list[Event] = []
        loaded = Loaded(History("", "", ()), RUNNING_ON_TEMPORAL, self.name)
        for index, raw in enumerate(raw_events):
            path = f"{base}[{index}]"
            events.append(self._event(read.obj(raw, path), path, index + 1, loaded, workflow_id, run_id))
        loaded.history = History.from_events(events, workflow_id=loaded.history.workflow_id, run_id=self.run_id)
        loaded.unknown = self.unknown
        return loaded

    def _event(self, raw: dict[str, Any], path: str, expected_id: int, loaded: Loaded, workflow_id: str | None, run_id: str | None) -> Event:
        # One event's checks in the order of its fields (complexity ~16): each check names the field it reads.
        read = self.read
        event_id = read.integer(raw, "eventId", path, required=True)
        if event_id != expected_id:
            raise read.error(f"{path}.eventId", f"event ids must run 1, 2, 3, ... without gaps: expected {expected_id}, found {event_id}")
        event_time = round(read.time(raw, "eventTime", path), 6)  # microseconds, as stored (nanoseconds stay under `temporal`)
        pascal = pascal_name(read.string(raw, "eventType", path, required=True))
        if not pascal:
            raise read.error(f"{path}.eventType", "empty event type")
        canonical = canonical_event(raw)
        key = attributes_key(pascal)
        known_fields = EVENT_TYPES.get(pascal)
        if known_fields is None:
            self._note(f"event type {pascal}")
            candidates = [k for k in canonical if k.endswith("EventAttributes")]
            key = candidates[0] if candidates else key
        elif key not in canonical:
            raise read.error(path, f"a {pascal} event needs its {key!r} object")
        attrs = read.child(canonical, key, path) if key in canonical else {}
        apath = f"{path}.{key}"
        if known_fields is not None:
            for name in attrs:
                if name not in known_fields:
                    self._note(f"attribute {pascal}.{name}")
        temporal: dict[str, Any] = {"eventType": pascal, "eventTime": raw["eventTime"], "attributes": attrs}
        for name, value in canonical.items():
            if name in ("eventId", "eventTime", "eventType", key):
                continue
            if name not in EVENT_FIELDS and not name.endswith("EventAttributes"):
                self._note(f"event field {name}")
            temporal[name] = value
        if event_id == 1:
            if pascal != "WorkflowExecutionStarted":
                raise read.error(f"{path}.eventType", f"a history starts with WorkflowExecutionStarted, not {pascal}")
            self._start(attrs, apath, loaded, event_time, workflow_id, run_id)
        self.event_id = event_id
        mapped: dict[str, Any]
        mapper = _MAPPERS.get(pascal)
        if mapper is None:  # kept as a marker named after it (wfkit has no such event type)
            if known_fields is not None:
                self._note(f"event type {pascal}")
            event_type, mapped = E.MarkerRecorded, {"marker_name": f"temporal:{pascal}"}
        else:
            event_type, mapped = mapper(self, attrs, apath)
        if pascal in _CLOSE_STATUS:
            loaded.status = _CLOSE_STATUS[pascal]
            loaded.close_time = event_time
            loaded.result = mapped.get("result")
            loaded.failure = mapped.get("failure")
        mapped["temporal"] = temporal
        return Event(event_id, event_type, event_time, mapped)

    def _start(self, attrs: dict[str, Any], path: str, loaded: Loaded, event_time: float, workflow_id: str | None, run_id: str | None) -> None:
        read = self.read
        self.run_id = run_id or read.string(attrs, "originalExecutionRunId", path) or read.string(attrs, "firstExecutionRunId", path)
        wf_id = read.string(attrs, "workflowId", path) or workflow_id or (Path(self.name).name.split(".")[0] if self.name else "")
        loaded.history = History(wf_id, self.run_id, ())
        loaded.start_time = event_time
        loaded.workflow_type = read.string(read.child(attrs, "workflowType", path, required=True), "name", f"{path}.workflowType", required=True)
        loaded.task_queue = read.string(read.child(attrs, "taskQueue", path), "name", f"{path}.taskQueue") or None
        parent = read.child(attrs, "parentWorkflowExecution", path)
        loaded.parent_workflow_id = read.string(parent, "workflowId", f"{path}.parentWorkflowExecution") or None
        loaded.parent_run_id = read.string(parent, "runId", f"{path}.parentWorkflowExecution") or None
        loaded.continued_from_run_id = read.string(attrs, "continuedExecutionRunId", path) or None
        if not self.run_id:
            raise read.error(path, "the start event names no run id (originalExecutionRunId); pass run_id=")

    #### Mappers: Temporal attributes -> (wfkit event type, wfkit attributes) ####

    def _workflow_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        parent = read.child(a, "parentWorkflowExecution", p)
        return E.WorkflowExecutionStarted, {
            "workflow_type": read.string(read.child(a, "workflowType", p), "name", f"{p}.workflowType"),
            "workflow_id": read.string(a, "workflowId", p) or None,
            "input": read.payloads(a, "input", p),
            "task_queue": read.string(read.child(a, "taskQueue", p), "name", f"{p}.taskQueue") or None,
            "random_seed": self._seed(a, p),
            "parent_run_id": read.string(parent, "runId", f"{p}.parentWorkflowExecution") or None,
            "parent_workflow_id": read.string(parent, "workflowId", f"{p}.parentWorkflowExecution") or None,
            "parent_child_id": None,
            "continued_from_run_id": read.string(a, "continuedExecutionRunId", p) or None,
            "run_id": self.run_id,
            "attempt": read.integer(a, "attempt", p, default=1),
        }

    def _seed(self, a: dict[str, Any], p: str) -> int:
        """wfkit's seed for `wfkit.random()`: from the memo of a wfkit export, else derived from the run id."""
        fields = self.read.child(self.read.child(a, "memo", p), "fields", f"{p}.memo")
        if "wfkit_random_seed" in fields:
            seed = self.read.payload(fields["wfkit_random_seed"], f"{p}.memo.fields.wfkit_random_seed")["data"]
            if isinstance(seed, int) and not isinstance(seed, bool):
                return seed
        return seed_for_run(self.run_id)

    def _task_scheduled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowTaskScheduled, {"attempt": self.read.integer(a, "attempt", p, default=1)}

    def _task_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowTaskStarted, {"scheduled_event_id": self.read.integer(a, "scheduledEventId", p)}

    def _task_completed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        self.last_task = {"scheduled_event_id": read.integer(a, "scheduledEventId", p), "started_event_id": read.integer(a, "startedEventId", p)}
        return E.WorkflowTaskCompleted, dict(self.last_task)

    def _upsert_search_attributes(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        fields = read.child(read.child(a, "searchAttributes", p), "indexedFields", f"{p}.searchAttributes")
        if set(fields) != {"TemporalChangeVersion"}:
            self._note("event type UpsertWorkflowSearchAttributes")
            return E.MarkerRecorded, {"marker_name": "temporal:UpsertWorkflowSearchAttributes"}
        # temporalio's patched() adds this command by itself, after the patch marker: wfkit's patch
        # is that one marker, so the upsert counts as part of completing the workflow task (not a
        # command the code issued, which a replay would look for).
        versions = read.payload(fields["TemporalChangeVersion"], f"{p}.searchAttributes.indexedFields.TemporalChangeVersion")
        return E.WorkflowTaskCompleted, {
            **self.last_task,
            "sdk_command": "UpsertWorkflowSearchAttributes",
            "search_attributes": {"TemporalChangeVersion": versions["data"]},
        }

    def _task_failed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs: dict[str, Any] = {
            "scheduled_event_id": read.integer(a, "scheduledEventId", p),
            "started_event_id": read.integer(a, "startedEventId", p),
            "cause": enum_value(read.string(a, "cause", p), "WORKFLOW_TASK_FAILED_CAUSE"),
        }
        if a.get("failure") is not None:
            attrs["failure"] = read.failure(a["failure"], f"{p}.failure")
        return E.WorkflowTaskFailed, attrs

    def _task_timed_out(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        timeout = enum_value(read.string(a, "timeoutType", p), "TIMEOUT_TYPE")
        return E.WorkflowTaskFailed, {
            "scheduled_event_id": read.integer(a, "scheduledEventId", p),
            "started_event_id": read.integer(a, "startedEventId", p),
            "cause": "TimedOut",
            "timeout_type": timeout,
        }

    def _activity_scheduled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        activity_type = read.string(read.child(a, "activityType", p, required=True), "name", f"{p}.activityType", required=True)
        seq = len(self.activities) + 1
        self.activities[self.event_id] = (seq, activity_type)
        policy = read.child(a, "retryPolicy", p)
        retry: dict[str, Any] | None = None
        if policy:
            pp = f"{p}.retryPolicy"
            initial = read.duration(policy, "initialInterval", pp) or 1.0
            types = policy.get("nonRetryableErrorTypes") or []
            if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                raise read.error(f"{pp}.nonRetryableErrorTypes", "expected a list of strings")
            retry = {
                "max_attempts": read.integer(policy, "maximumAttempts", pp),
                "initial_interval": initial,
                "backoff_coefficient": read.number(policy, "backoffCoefficient", pp, 2.0),
                "maximum_interval": read.duration(policy, "maximumInterval", pp) or 100 * initial,
                "non_retryable_error_types": list(types),
            }
        return E.ActivityTaskScheduled, {
            "activity_id": seq,
            "activity_type": activity_type,
            "input": read.payloads(a, "input", p),
            "task_queue": read.string(read.child(a, "taskQueue", p), "name", f"{p}.taskQueue") or None,
            "retry_policy": retry,
            "start_to_close": read.duration(a, "startToCloseTimeout", p),
            "schedule_to_close": read.duration(a, "scheduleToCloseTimeout", p),
            "schedule_to_start": read.duration(a, "scheduleToStartTimeout", p),
            "heartbeat_timeout": read.duration(a, "heartbeatTimeout", p),
            "temporal_activity_id": read.string(a, "activityId", p),
        }

    def _activity_ref(self, a: dict[str, Any], p: str) -> dict[str, Any]:
        read = self.read
        scheduled = read.integer(a, "scheduledEventId", p, required=True)
        if scheduled not in self.activities:
            raise read.error(f"{p}.scheduledEventId", f"event {scheduled} is not an earlier ActivityTaskScheduled event")
        seq, activity_type = self.activities[scheduled]
        return {"activity_id": seq, "activity_type": activity_type, "scheduled_event_id": scheduled}

    def _activity_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs = self._activity_ref(a, p)
        attempt = read.integer(a, "attempt", p, default=1)
        self.attempts[self.event_id] = attempt
        self.last_attempt[attrs["activity_id"]] = attempt
        attrs["attempt"] = attempt
        if a.get("lastFailure") is not None:
            attrs["last_failure"] = read.failure(a["lastFailure"], f"{p}.lastFailure")
        return E.ActivityTaskStarted, attrs

    def _activity_end(self, a: dict[str, Any], p: str) -> dict[str, Any]:
        read = self.read
        attrs = self._activity_ref(a, p)
        started = read.integer(a, "startedEventId", p)
        attrs["started_event_id"] = started or None
        attrs["attempt"] = self.attempts.get(started) or self.last_attempt.get(attrs["activity_id"], 1)
        return attrs

    def _activity_completed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._activity_end(a, p)
        attrs["result"] = self.read.first_payload(a, "result", p)
        return E.ActivityTaskCompleted, attrs

    def _activity_failed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs = self._activity_end(a, p)
        attrs["failure"] = read.failure(a.get("failure") or {}, f"{p}.failure")
        attrs["retry_state"] = enum_value(read.string(a, "retryState", p, default="RETRY_STATE_UNSPECIFIED"), "RETRY_STATE")
        return E.ActivityTaskFailed, attrs

    def _activity_timed_out(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs = self._activity_end(a, p)
        failure = read.failure(a.get("failure") or {}, f"{p}.failure")
        attrs["failure"] = failure
        attrs["retry_state"] = enum_value(read.string(a, "retryState", p, default="RETRY_STATE_UNSPECIFIED"), "RETRY_STATE")
        attrs["timeout_type"] = failure.get("timeout_type") or (failure.get("cause") or {}).get("timeout_type")
        return E.ActivityTaskTimedOut, attrs

    def _activity_cancel_requested(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._activity_ref(a, p)
        return E.ActivityTaskCancelRequested, {"activity_id": attrs["activity_id"], "scheduled_event_id": attrs["scheduled_event_id"]}

    def _activity_canceled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._activity_end(a, p)
        attrs["failure"] = {"type": "Canceled", "message": "activity was cancelled", "stack": "", "non_retryable": True}
        return E.ActivityTaskCanceled, attrs

    def _timer_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        timer = read.string(a, "timerId", p, required=True)
        seq = len(self.timers) + 1
        self.timers[timer] = (seq, self.event_id)
        return E.TimerStarted, {"timer_id": seq, "duration": read.duration(a, "startToFireTimeout", p) or 0.0, "temporal_timer_id": timer}

    def _timer_ref(self, a: dict[str, Any], p: str) -> dict[str, Any]:
        read = self.read
        timer = read.string(a, "timerId", p, required=True)
        if timer not in self.timers:
            raise read.error(f"{p}.timerId", f"timer {timer!r} was never started")
        seq, started = self.timers[timer]
        return {"timer_id": seq, "started_event_id": read.integer(a, "startedEventId", p) or started}

    def _timer_fired(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.TimerFired, self._timer_ref(a, p)

    def _timer_canceled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.TimerCanceled, self._timer_ref(a, p)

    def _marker(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        name = read.string(a, "markerName", p, required=True)
        details_raw = read.child(a, "details", p)
        details = {key: read.payloads(details_raw, key, f"{p}.details") for key in details_raw}
        if name == "core_patch":  # temporalio's patched(): wfkit's patch marker
            data = (details.get("patch-data") or details.get("patch_data") or [{}])[0].get("data")
            patch_id = data.get("id") if isinstance(data, dict) else None
            if not isinstance(patch_id, str):
                raise read.error(f"{p}.details", "a core_patch marker needs a patch id in its patch-data")
            return E.MarkerRecorded, {"marker_name": "patch", "patch_id": patch_id, "deprecated": bool(isinstance(data, dict) and data.get("deprecated"))}
        attrs: dict[str, Any] = {"marker_name": name, "details": details}
        if a.get("failure") is not None:
            attrs["failure"] = read.failure(a["failure"], f"{p}.failure")
        return E.MarkerRecorded, attrs

    def _signaled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.WorkflowExecutionSignaled, {"signal_name": read.string(a, "signalName", p, required=True), "input": read.first_payload(a, "input", p)}

    def _cancel_requested(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.WorkflowExecutionCancelRequested, {"reason": read.string(a, "cause", p) or read.string(a, "identity", p)}

    def _child_initiated(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        workflow_type = read.string(read.child(a, "workflowType", p, required=True), "name", f"{p}.workflowType", required=True)
        workflow_id = read.string(a, "workflowId", p, required=True)
        seq = len(self.children) + 1
        self.children[self.event_id] = (seq, workflow_type, workflow_id)
        return E.StartChildWorkflowExecutionInitiated, {
            "child_id": seq,
            "workflow_type": workflow_type,
            "workflow_id": workflow_id,
            "input": read.payloads(a, "input", p),
            "task_queue": read.string(read.child(a, "taskQueue", p), "name", f"{p}.taskQueue") or None,
        }

    def _child_ref(self, a: dict[str, Any], p: str) -> dict[str, Any]:
        read = self.read
        initiated = read.integer(a, "initiatedEventId", p, required=True)
        if initiated not in self.children:
            raise read.error(f"{p}.initiatedEventId", f"event {initiated} is not an earlier StartChildWorkflowExecutionInitiated event")
        seq, workflow_type, workflow_id = self.children[initiated]
        execution = read.child(a, "workflowExecution", p)
        return {
            "child_id": seq,
            "initiated_event_id": initiated,
            "workflow_type": workflow_type,
            "workflow_id": read.string(execution, "workflowId", f"{p}.workflowExecution") or workflow_id,
            "run_id": read.string(execution, "runId", f"{p}.workflowExecution") or None,
        }

    def _child_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.ChildWorkflowExecutionStarted, self._child_ref(a, p)

    def _child_completed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._child_ref(a, p)
        attrs["result"] = self.read.first_payload(a, "result", p)
        return E.ChildWorkflowExecutionCompleted, attrs

    def _child_failed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._child_ref(a, p)
        attrs["failure"] = self.read.failure(a.get("failure") or {}, f"{p}.failure")
        attrs["retry_state"] = enum_value(self.read.string(a, "retryState", p, default="RETRY_STATE_UNSPECIFIED"), "RETRY_STATE")
        return E.ChildWorkflowExecutionFailed, attrs

    def _child_canceled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._child_ref(a, p)
        attrs["failure"] = {"type": "Canceled", "message": "child workflow was cancelled", "stack": "", "non_retryable": True}
        return E.ChildWorkflowExecutionCanceled, attrs

    def _child_timed_out(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._child_ref(a, p)
        attrs["failure"] = {"type": "TimeoutError", "message": "child workflow timed out", "stack": "", "non_retryable": True}
        return E.ChildWorkflowExecutionFailed, attrs

    def _child_terminated(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._child_ref(a, p)
        attrs["failure"] = {"type": "Terminated", "message": "child workflow was terminated", "stack": "", "non_retryable": True}
        return E.ChildWorkflowExecutionFailed, attrs

    def _child_start_failed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs = self._child_ref(a, p)
        cause = enum_value(read.string(a, "cause", p), "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE")
        kind = "WorkflowAlreadyStartedError" if cause == "WorkflowAlreadyExists" else "StartChildWorkflowFailed"
        attrs["failure"] = {"type": kind, "message": f"child workflow {attrs['workflow_id']} could not start: {cause}", "stack": "", "non_retryable": True}
        return E.ChildWorkflowExecutionFailed, attrs

    def _completed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowExecutionCompleted, {"result": self.read.first_payload(a, "result", p)}

    def _failed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.WorkflowExecutionFailed, {
            "failure": read.failure(a.get("failure") or {}, f"{p}.failure"),
            "retry_state": enum_value(read.string(a, "retryState", p, default="RETRY_STATE_UNSPECIFIED"), "RETRY_STATE"),
        }

    def _canceled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowExecutionCanceled, {"details": "cancelled", "details_payloads": self.read.payloads(a, "details", p)}

    def _terminated(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowExecutionTerminated, {"reason": self.read.string(a, "reason", p)}

    def _timed_out(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowExecutionTerminated, {"reason": "workflow execution timed out (Temporal WorkflowExecutionTimedOut)"}

    def _continued(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.WorkflowExecutionContinuedAsNew, {"input": read.payloads(a, "input", p), "new_run_id": read.string(a, "newExecutionRunId", p) or None}


Mapper = Callable[[_Converter, dict[str, Any], str], tuple[EventType, dict[str, Any]]]


_MAPPERS: dict[str, Mapper] = {
    "WorkflowExecutionStarted": _Converter._workflow_started,
    "WorkflowTaskScheduled": _Converter._task_scheduled,
    "WorkflowTaskStarted": _Converter._task_started,
    "WorkflowTaskCompleted": _Converter._task_completed,
    "WorkflowTaskFailed": _Converter._task_failed,
    "WorkflowTaskTimedOut": _Converter._task_timed_out,
    "ActivityTaskScheduled": _Converter._activity_scheduled,
    "ActivityTaskStarted": _Converter._activity_started,
    "ActivityTaskCompleted": _Converter._activity_completed,
    "ActivityTaskFailed": _Converter._activity_failed,
    "ActivityTaskTimedOut": _Converter._activity_timed_out,
    "ActivityTaskCancelRequested": _Converter._activity_cancel_requested,
    "ActivityTaskCanceled": _Converter._activity_canceled,
    "TimerStarted": _Converter._timer_started,
    "TimerFired": _Converter._timer_fired,
    "TimerCanceled": _Converter._timer_canceled,
    "MarkerRecorded": _Converter._marker,
    "UpsertWorkflowSearchAttributes": _Converter._upsert_search_attributes,
    "WorkflowExecutionSignaled": _Converter._signaled,
    "WorkflowExecutionCancelRequested": _Converter._cancel_requested,
    "StartChildWorkflowExecutionInitiated": _Converter._child_initiated,
    "StartChildWorkflowExecutionFailed": _Converter._child_start_failed,
    "ChildWorkflowExecutionStarted": _Converter._child_started,
    "ChildWorkflowExecutionCompleted": _Converter._child_completed,
    "ChildWorkflowExecutionFailed": _Converter._child_failed,
    "ChildWorkflowExecutionCanceled": _Converter._child_canceled,
    "ChildWorkflowExecutionTimedOut": _Converter._child_timed_out,
    "ChildWorkflowExecutionTerminated": _Converter._child_terminated,
    "WorkflowExecutionCompleted": _Converter._completed,
    "WorkflowExecutionFailed": _Converter._failed,
    "WorkflowExecutionCanceled": _Converter._canceled,
    "WorkflowExecutionTerminated": _Converter._terminated,
    "WorkflowExecutionTimedOut": _Converter._timed_out,
    "WorkflowExecutionContinuedAsNew": _Converter._continued,
}
