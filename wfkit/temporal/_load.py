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

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfkit._history._events import CLOSE_STATUS, Event, EventType
from wfkit._history._history import History
from wfkit.temporal._fields import EVENT_FIELDS, EVENT_TYPE_NUMBERS, EVENT_TYPES
from wfkit.temporal._json import Reader, check_value, enum_value, seed_for_run
from wfkit.temporal._source import attributes_key, canonical_event, pascal_name, read_source

__all__ = ["RUNNING_ON_TEMPORAL", "Loaded", "load", "load_history", "report_unknown", "report_warnings"]

logger = logging.getLogger("wfkit.temporal")
E = EventType

#: `workflows.status` of an imported run that was still open on Temporal (the engine never resumes it).
RUNNING_ON_TEMPORAL = "RunningOnTemporal"

_CLOSE_STATUS = {event.value: status for event, status in CLOSE_STATUS.items()}
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,127}$")

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
    warnings: list[str] = field(default_factory=list)
    """What was kept as it is rather than decoded (a payload that is not valid JSON, a made-up run id), one line each."""
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
    report_warnings(loaded.warnings, loaded.name)
    return loaded.history


def report_warnings(warnings: list[str], name: str | None) -> None:
    """Log what a load kept as it is (logger `wfkit.temporal`), a few lines at most."""
    for line in warnings[:5]:
        logger.warning("%s: %s", name or "history", line)
    if len(warnings) > 5:
        logger.warning("%s: ... and %d more like these", name or "history", len(warnings) - 5)


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
        self.externals: dict[int, int] = {}
        """Signal/RequestCancelExternalWorkflowExecutionInitiated event id -> wfkit external_id (one count for both, as wfkit's runtime)."""
        self.run_id = ""
        self.workflow_id = ""
        self.event_id = 0
        """The id of the event being converted."""
        self.last_task: dict[str, Any] = {}
        """The ids of the last WorkflowTaskCompleted event."""
        self.snake = False
        """True when the history spells its fields in snake_case (proto field names)."""
        self.raw_events: list[Any] = []

    def _note(self, key: str) -> None:
        self.unknown[key] = self.unknown.get(key, 0) + 1

    def convert(self, doc: Any, workflow_id: str | None, run_id: str | None) -> Loaded:
        read = self.read
        if isinstance(doc, list):
            raw_events: Any = doc
            base = "$"
        else:
            top = read.obj(doc, "$")
            base = "$.events"
            if "events" not in top and isinstance(top.get("history"), dict) and "events" in top["history"]:
                top, base = top["history"], "$.history.events"  # a GetWorkflowExecutionHistory response
            if "events" not in top:
                raise read.error("$", "missing 'events' (a Temporal history is {\"events\": [...]})")
            raw_events = top["events"]
            if not isinstance(raw_events, list):
                raise read.error(base, f"expected a list of events, found {type(raw_events).__name__}")
        if not raw_events:
            raise read.error(base, "the history has no events")
        self.raw_events = raw_events
        first = raw_events[0]
        self.snake = isinstance(first, dict) and ("event_id" in first or "event_type" in first) and "eventId" not in first
        events: list[Event] = []
        loaded = Loaded(History("", "", ()), RUNNING_ON_TEMPORAL, self.name)
        for index, raw in enumerate(raw_events):
            path = f"{base}[{index}]"
            events.append(self._event(read.obj(raw, path), path, index + 1, loaded, workflow_id, run_id))
        loaded.history = History.from_events(events, workflow_id=loaded.history.workflow_id, run_id=self.run_id)
        loaded.unknown = self.unknown
        loaded.warnings += read.warnings
        return loaded

    def _event(self, raw: dict[str, Any], path: str, expected_id: int, loaded: Loaded, workflow_id: str | None, run_id: str | None) -> Event:
        # One event's checks in the order of its fields (complexity ~16): each check names the field it reads.
        read = self.read
        check_value(raw, path, self.name)  # storable, and shallow enough for every walk after this one
        canonical = canonical_event(raw, snake=self.snake)
        event_id = read.integer(canonical, "eventId", path, required=True)
        if event_id != expected_id:
            raise read.error(f"{path}.eventId", f"event ids must run 1, 2, 3, ... without gaps: expected {expected_id}, found {event_id}")
        event_time = round(read.time(canonical, "eventTime", path), 6)  # microseconds, as stored (nanoseconds stay under `temporal`)
        pascal = self._type_name(canonical, path)
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
        temporal: dict[str, Any] = {"eventType": pascal, "eventTime": canonical["eventTime"], "attributes": attrs}
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
        if mapper is None:  # a type newer than wfkit: its own (pseudo-member) type, attributes under `temporal` only
            event_type, mapped = EventType.of_name(pascal), {}
        else:
            event_type, mapped = mapper(self, attrs, apath)
        if pascal in _CLOSE_STATUS:
            loaded.status = _CLOSE_STATUS[pascal]
            loaded.close_time = event_time
            loaded.result = mapped.get("result")
            loaded.failure = mapped.get("failure")
        mapped["temporal"] = temporal
        return Event(event_id, event_type, event_time, mapped)

    def _type_name(self, canonical: dict[str, Any], path: str) -> str:
        """The event's type, PascalCase: from `EVENT_TYPE_TIMER_FIRED`, `TimerFired` or the enum number 18."""
        read = self.read
        value = canonical.get("eventType")
        if isinstance(value, int) and not isinstance(value, bool):
            if value not in EVENT_TYPE_NUMBERS:
                raise read.error(f"{path}.eventType", f"unknown event type number {value}")
            return str(EVENT_TYPE_NUMBERS[value])
        pascal = pascal_name(read.string(canonical, "eventType", path, required=True))
        if not pascal:
            raise read.error(f"{path}.eventType", "empty event type")
        if not _TYPE_NAME.match(pascal) or pascal == "Unspecified":
            raise read.error(f"{path}.eventType", f"not an event type: {json.dumps(pascal)[:60]}")
        return pascal

    def _made_up_run_id(self) -> str:
        """A run id for a history that names none: derived from its events, so a re-import finds the same run."""
        digest = hashlib.sha256(json.dumps(self.raw_events, sort_keys=True, ensure_ascii=True).encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def _start(self, attrs: dict[str, Any], path: str, loaded: Loaded, event_time: float, workflow_id: str | None, run_id: str | None) -> None:
        read = self.read
        self.run_id = run_id or read.string(attrs, "originalExecutionRunId", path) or read.string(attrs, "firstExecutionRunId", path)
        if not self.run_id:
            self.run_id = self._made_up_run_id()
            self.read.warnings.append(f"the start event names no run id (originalExecutionRunId): using {self.run_id} (pass run_id= to choose one)")
        wf_id = read.string(attrs, "workflowId", path) or workflow_id or (Path(self.name).name.split(".")[0] if self.name else "")
        loaded.history = History(wf_id, self.run_id, ())
        self.workflow_id = wf_id
        loaded.start_time = event_time
        loaded.workflow_type = read.string(read.child(attrs, "workflowType", path, required=True), "name", f"{path}.workflowType", required=True)
        loaded.task_queue = read.string(read.child(attrs, "taskQueue", path), "name", f"{path}.taskQueue") or None
        parent = read.child(attrs, "parentWorkflowExecution", path)
        loaded.parent_workflow_id = read.string(parent, "workflowId", f"{path}.parentWorkflowExecution") or None
        loaded.parent_run_id = read.string(parent, "runId", f"{path}.parentWorkflowExecution") or None
        loaded.continued_from_run_id = read.string(attrs, "continuedExecutionRunId", path) or None

    #### Mappers: Temporal attributes -> (wfkit event type, wfkit attributes) ####

    def _workflow_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        parent = read.child(a, "parentWorkflowExecution", p)
        return E.WorkflowExecutionStarted, {
            "workflow_type": read.string(read.child(a, "workflowType", p), "name", f"{p}.workflowType"),
            "workflow_id": read.string(a, "workflowId", p) or self.workflow_id or None,
            "input": read.payloads(a, "input", p),
            "task_queue": read.string(read.child(a, "taskQueue", p), "name", f"{p}.taskQueue") or None,
            "random_seed": self._seed(a, p),
            "parent_run_id": read.string(parent, "runId", f"{p}.parentWorkflowExecution") or None,
            "parent_workflow_id": read.string(parent, "workflowId", f"{p}.parentWorkflowExecution") or None,
            "parent_child_id": None,
            "continued_from_run_id": read.string(a, "continuedExecutionRunId", p) or None,
            "run_id": self.run_id,
            "attempt": read.attempt(a, "attempt", p),
            **self._properties(a, p),
        }

    def _properties(self, a: dict[str, Any], p: str) -> dict[str, Any]:
        """The start's search attributes and memo, decoded (wfkit's own seed field is not the user's memo)."""
        out: dict[str, Any] = {}
        search_attributes = self._payload_map(self.read.child(a, "searchAttributes", p), "indexedFields", f"{p}.searchAttributes")
        if search_attributes:
            out["search_attributes"] = search_attributes
        memo = self._payload_map(self.read.child(a, "memo", p), "fields", f"{p}.memo")
        memo.pop("wfkit_random_seed", None)
        if memo:
            out["memo"] = memo
        return out

    def _seed(self, a: dict[str, Any], p: str) -> int:
        """wfkit's seed for `wfkit.random()`: from the memo of a wfkit export, else derived from the run id."""
        fields = self.read.child(self.read.child(a, "memo", p), "fields", f"{p}.memo")
        if "wfkit_random_seed" in fields:
            seed = self.read.payload(fields["wfkit_random_seed"], f"{p}.memo.fields.wfkit_random_seed")["data"]
            if isinstance(seed, int) and not isinstance(seed, bool):
                return seed
        return seed_for_run(self.run_id)

    def _task_scheduled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowTaskScheduled, {"attempt": self.read.attempt(a, "attempt", p)}

    def _task_started(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowTaskStarted, {"scheduled_event_id": self.read.integer(a, "scheduledEventId", p)}

    def _task_completed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        self.last_task = {"scheduled_event_id": read.integer(a, "scheduledEventId", p), "started_event_id": read.integer(a, "startedEventId", p)}
        return E.WorkflowTaskCompleted, dict(self.last_task)

    def _upsert_search_attributes(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        # temporalio's patched() adds one of these (TemporalChangeVersion) after its patch marker by
        # itself; like every upsert it is not a command a wfkit replay looks for.
        return E.UpsertWorkflowSearchAttributes, {
            "search_attributes": self._payload_map(self.read.child(a, "searchAttributes", p), "indexedFields", f"{p}.searchAttributes"),
            "workflow_task_completed_event_id": self.read.integer(a, "workflowTaskCompletedEventId", p) or None,
        }

    def _payload_map(self, parent: dict[str, Any], key: str, p: str) -> dict[str, Any]:
        """A map of payloads (memo fields, search attributes), each decoded to its value (or kept raw)."""
        fields = self.read.child(parent, key, p)
        out: dict[str, Any] = {}
        for name, value in fields.items():
            payload = self.read.payload(value, f"{p}.{key}.{name}")
            out[name] = payload["data"] if payload.get("encoding") == "json/plain" else payload
        return out

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
        return E.WorkflowTaskTimedOut, {
            "scheduled_event_id": read.integer(a, "scheduledEventId", p),
            "started_event_id": read.integer(a, "startedEventId", p),
            "timeout_type": enum_value(read.string(a, "timeoutType", p), "TIMEOUT_TYPE"),
        }

    def _activity_scheduled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        activity_type = read.string(read.child(a, "activityType", p, required=True), "name", f"{p}.activityType", required=True)
        seq = self._activity_seq(read.string(a, "activityId", p))
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

    def _activity_seq(self, activity_id: str | None) -> int:
        """The wfkit activity_id of an activity: its Temporal id where that is a number not taken yet, else the next free one.

        The SDKs number activities in one sequence with local activities (`activityId` "2" after a
        local activity "1"), so their number is what the workflow's code knows it by on replay.
        """
        used = {seq for seq, _ in self.activities.values()}
        if activity_id is not None and activity_id.isascii() and activity_id.isdigit() and 0 < int(activity_id) < 2**31 and int(activity_id) not in used:
            return int(activity_id)
        return max(used, default=0) + 1

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
        attempt = read.attempt(a, "attempt", p)
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
        attrs = {"signal_name": read.string(a, "signalName", p, required=True), "input": read.first_payload(a, "input", p)}
        return E.WorkflowExecutionSignaled, {**attrs, **self._sender(a, p)}

    def _sender(self, a: dict[str, Any], p: str) -> dict[str, Any]:
        """The workflow that sent a signal or cancel request (`externalWorkflowExecution`), as wfkit records it."""
        if not isinstance(a.get("externalWorkflowExecution"), dict):
            return {}
        sender = self._execution(a, "externalWorkflowExecution", p)
        return {"external_workflow_id": sender["workflow_id"], "external_run_id": sender["run_id"]}

    def _cancel_requested(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.WorkflowExecutionCancelRequested, {"reason": read.string(a, "cause", p) or read.string(a, "identity", p), **self._sender(a, p)}

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
        attrs["retry_state"] = enum_value(self.read.string(a, "retryState", p, default="RETRY_STATE_UNSPECIFIED"), "RETRY_STATE")
        return E.ChildWorkflowExecutionTimedOut, attrs

    def _child_terminated(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._child_ref(a, p)
        attrs["failure"] = {"type": "Terminated", "message": "child workflow was terminated", "stack": "", "non_retryable": True}
        return E.ChildWorkflowExecutionTerminated, attrs

    def _child_start_failed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs = self._child_ref(a, p)
        cause = enum_value(read.string(a, "cause", p), "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE")
        kind = "WorkflowAlreadyStartedError" if cause == "WorkflowAlreadyExists" else "StartChildWorkflowFailed"
        attrs["failure"] = {"type": kind, "message": f"child workflow {attrs['workflow_id']} could not start: {cause}", "stack": "", "non_retryable": True}
        attrs["cause"] = cause
        return E.StartChildWorkflowExecutionFailed, attrs

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
        retry_state = enum_value(self.read.string(a, "retryState", p, default="RETRY_STATE_UNSPECIFIED"), "RETRY_STATE")
        failure = {"type": "TimeoutError", "message": "workflow execution timed out", "stack": "", "non_retryable": True}
        return E.WorkflowExecutionTimedOut, {"failure": failure, "retry_state": retry_state, "new_run_id": self.read.string(a, "newExecutionRunId", p) or None}

    def _continued(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.WorkflowExecutionContinuedAsNew, {"input": read.payloads(a, "input", p), "new_run_id": read.string(a, "newExecutionRunId", p) or None}

    #### The types wfkit's engine does not record: their own type, a few typed attributes (all of them under `temporal`) ####

    def _execution(self, a: dict[str, Any], key: str, p: str) -> dict[str, Any]:
        read = self.read
        execution = read.child(a, key, p)
        return {
            "workflow_id": read.string(execution, "workflowId", f"{p}.{key}") or None,
            "run_id": read.string(execution, "runId", f"{p}.{key}") or None,
        }

    def _external_seq(self) -> dict[str, Any]:
        """The wfkit `external_id` of the request this event initiates (what replay resolves its outcome by)."""
        seq = len(self.externals) + 1
        self.externals[self.event_id] = seq
        return {"external_id": seq}

    def _external_signal_initiated(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.SignalExternalWorkflowExecutionInitiated, {
            **self._external_seq(),
            **self._execution(a, "workflowExecution", p),
            "signal_name": read.string(a, "signalName", p),
            "input": read.payloads(a, "input", p),
            "child_workflow_only": read.boolean(a, "childWorkflowOnly", p),
        }

    def _cancel_external_initiated(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.RequestCancelExternalWorkflowExecutionInitiated, {
            **self._external_seq(),
            **self._execution(a, "workflowExecution", p),
            "reason": read.string(a, "reason", p),
            "child_workflow_only": read.boolean(a, "childWorkflowOnly", p),
        }

    def _update_name(self, request: dict[str, Any], p: str) -> dict[str, Any]:
        read = self.read
        meta = read.child(request, "meta", p)
        body = read.child(request, "input", p)
        return {
            "update_id": read.string(meta, "updateId", f"{p}.meta") or None,
            "update_name": read.string(body, "name", f"{p}.input") or None,
            "input": read.payloads(body, "args", f"{p}.input"),
        }

    def _update_admitted(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowExecutionUpdateAdmitted, self._update_name(self.read.child(a, "request", p), f"{p}.request")

    def _update_accepted(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        attrs = self._update_name(self.read.child(a, "acceptedRequest", p), f"{p}.acceptedRequest")
        attrs["protocol_instance_id"] = self.read.string(a, "protocolInstanceId", p) or None
        return E.WorkflowExecutionUpdateAccepted, attrs

    def _update_rejected(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs = self._update_name(read.child(a, "rejectedRequest", p), f"{p}.rejectedRequest")
        if a.get("failure") is not None:
            attrs["failure"] = read.failure(a["failure"], f"{p}.failure")
        return E.WorkflowExecutionUpdateRejected, attrs

    def _update_completed(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        meta = read.child(a, "meta", p)
        outcome = read.child(a, "outcome", p)
        attrs: dict[str, Any] = {
            "update_id": read.string(meta, "updateId", f"{p}.meta") or None,
            "accepted_event_id": read.integer(a, "acceptedEventId", p) or None,
            "result": read.first_payload(outcome, "success", f"{p}.outcome"),
        }
        if outcome.get("failure") is not None:
            attrs["failure"] = read.failure(outcome["failure"], f"{p}.outcome.failure")
        return E.WorkflowExecutionUpdateCompleted, attrs

    def _properties_modified(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return E.WorkflowPropertiesModified, {
            "memo": self._payload_map(self.read.child(a, "upsertedMemo", p), "fields", f"{p}.upsertedMemo"),
            "workflow_task_completed_event_id": self.read.integer(a, "workflowTaskCompletedEventId", p) or None,
        }

    def _nexus_scheduled(self, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        return E.NexusOperationScheduled, {
            "endpoint": read.string(a, "endpoint", p) or None,
            "service": read.string(a, "service", p) or None,
            "operation": read.string(a, "operation", p) or None,
            "input": read.first_payload(a, "input", p) if isinstance(a.get("input"), dict) and "payloads" in a["input"] else None,
            "schedule_to_close": read.duration(a, "scheduleToCloseTimeout", p),
        }


Mapper = Callable[[_Converter, dict[str, Any], str], tuple[EventType, dict[str, Any]]]


_EXTERNAL_CAUSE = {
    E.SignalExternalWorkflowExecutionFailed: "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE",
    E.RequestCancelExternalWorkflowExecutionFailed: "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE",
    E.ExternalWorkflowExecutionSignaled: "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE",
    E.ExternalWorkflowExecutionCancelRequested: "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE",
}
"""The enum prefix of each external event's `cause` (SCREAMING_CASE in Temporal's JSON; wfkit keeps the PascalCase name)."""


def _external_ref(event_type: EventType) -> Mapper:
    def mapper(self: _Converter, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        initiated = read.integer(a, "initiatedEventId", p) or None
        attrs: dict[str, Any] = {**self._execution(a, "workflowExecution", p), "initiated_event_id": initiated}
        if initiated in self.externals:
            attrs["external_id"] = self.externals[initiated]
        if "cause" in a:
            attrs["cause"] = enum_value(read.string(a, "cause", p), _EXTERNAL_CAUSE[event_type])
        return event_type, attrs

    return mapper


def _nexus_ref(event_type: EventType) -> Mapper:
    def mapper(self: _Converter, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        read = self.read
        attrs: dict[str, Any] = {"scheduled_event_id": read.integer(a, "scheduledEventId", p) or None}
        if a.get("failure") is not None:
            attrs["failure"] = read.failure(a["failure"], f"{p}.failure")
        if isinstance(a.get("result"), dict):
            result = read.obj(a["result"], f"{p}.result")
            attrs["result"] = read.payload(result, f"{p}.result") if "payloads" not in result else read.first_payload(a, "result", p)
        for key, name in (("operationToken", "operation_token"), ("operationId", "operation_id")):
            if key in a:
                attrs[name] = read.string(a, key, p)
        return event_type, attrs

    return mapper


def _plain(event_type: EventType) -> Mapper:
    """Types whose attributes need no wfkit column (paused, options updated, ...): all under `temporal`."""

    def mapper(self: _Converter, a: dict[str, Any], p: str) -> tuple[EventType, dict[str, Any]]:
        return event_type, {}

    return mapper


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
    "SignalExternalWorkflowExecutionInitiated": _Converter._external_signal_initiated,
    "SignalExternalWorkflowExecutionFailed": _external_ref(E.SignalExternalWorkflowExecutionFailed),
    "ExternalWorkflowExecutionSignaled": _external_ref(E.ExternalWorkflowExecutionSignaled),
    "RequestCancelExternalWorkflowExecutionInitiated": _Converter._cancel_external_initiated,
    "RequestCancelExternalWorkflowExecutionFailed": _external_ref(E.RequestCancelExternalWorkflowExecutionFailed),
    "ExternalWorkflowExecutionCancelRequested": _external_ref(E.ExternalWorkflowExecutionCancelRequested),
    "WorkflowExecutionUpdateAdmitted": _Converter._update_admitted,
    "WorkflowExecutionUpdateAccepted": _Converter._update_accepted,
    "WorkflowExecutionUpdateRejected": _Converter._update_rejected,
    "WorkflowExecutionUpdateCompleted": _Converter._update_completed,
    "WorkflowPropertiesModified": _Converter._properties_modified,
    "NexusOperationScheduled": _Converter._nexus_scheduled,
    **{
        t.value: _nexus_ref(t)
        for t in (
            E.NexusOperationStarted,
            E.NexusOperationCompleted,
            E.NexusOperationFailed,
            E.NexusOperationCanceled,
            E.NexusOperationTimedOut,
            E.NexusOperationCancelRequested,
            E.NexusOperationCancelRequestCompleted,
            E.NexusOperationCancelRequestFailed,
        )
    },
    **{
        t.value: _plain(t)
        for t in (
            E.WorkflowPropertiesModifiedExternally,
            E.ActivityPropertiesModifiedExternally,
            E.WorkflowExecutionOptionsUpdated,
            E.WorkflowExecutionPaused,
            E.WorkflowExecutionUnpaused,
            E.WorkflowExecutionTimeSkippingTransitioned,
        )
    },
}

assert set(_MAPPERS) == {t.value for t in EventType}, "every EventType has a mapper"
