"""wfkit histories -> Temporal JSON (what `WorkflowHistory.from_json` reads).

Events imported from Temporal are written back from the original they carry under `temporal`,
unchanged. Events wfkit recorded itself are translated; wfkit's extra per-attempt events are
folded away first, because Temporal records only an activity's last attempt: retried attempts'
`ActivityTaskFailed`/`ActivityTaskTimedOut` (retry state `InProgress`) and all but the last
`ActivityTaskStarted` of an activity are dropped (the last one carries the previous attempt's
failure as `lastFailure`), and event ids are renumbered with every reference to them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wfkit._history._events import ATTEMPT_RETRYING, Event, EventType
from wfkit._history._history import History
from wfkit.temporal._json import encode_payload, format_duration, format_time

__all__ = ["export_history", "fold_attempts", "to_temporal_json"]

E = EventType
_IDENTITY = "wfkit"
_REF_KEYS = ("scheduled_event_id", "started_event_id", "initiated_event_id")


def _snake_upper(pascal: str) -> str:
    return "".join("_" + c if c.isupper() and i else c for i, c in enumerate(pascal)).upper()


def _enum(prefix: str, value: Any, default: str) -> str:
    text = str(value or default)
    return text if text.startswith(prefix) else f"{prefix}_{_snake_upper(text)}"


def _payloads(values: Any) -> dict[str, Any]:
    items = values if isinstance(values, list) else [] if values is None else [values]
    return {"payloads": [encode_payload(p) for p in items]}


_SEARCH_ATTRIBUTE_TYPES = ((bool, "Bool"), (int, "Int"), (float, "Double"), (list, "KeywordList"))


def _payload_map(values: dict[str, Any], *, typed: bool = False) -> dict[str, Any]:
    """Memo fields or search attributes as Temporal payloads (search attributes carry their type, as Temporal's do)."""
    out = {}
    for name, value in values.items():
        payload: dict[str, Any] = {"encoding": "json/plain", "data": value}
        if typed:
            kind = next((label for cls, label in _SEARCH_ATTRIBUTE_TYPES if isinstance(value, cls)), "Keyword")
            payload["metadata"] = {"encoding": "json/plain", "type": kind}
        out[name] = encode_payload(payload)
    return out


def _failure(failure: Any) -> dict[str, Any]:
    if not isinstance(failure, dict):
        return {"message": str(failure or ""), "applicationFailureInfo": {"type": "Error"}}
    out: dict[str, Any] = {"message": str(failure.get("message", "")), "stackTrace": str(failure.get("stack", "")), "source": "wfkit"}
    kind = str(failure.get("type", "Error"))
    if kind == "TimeoutError" and failure.get("timeout_type"):
        out["timeoutFailureInfo"] = {"timeoutType": _timeout_type(failure.get("timeout_type"))}
    elif kind == "Canceled":
        out["canceledFailureInfo"] = {}
    elif kind == "Terminated":
        out["terminatedFailureInfo"] = {}
    else:
        out["applicationFailureInfo"] = {"type": kind, "nonRetryable": bool(failure.get("non_retryable"))}
    if isinstance(failure.get("cause"), dict):
        out["cause"] = _failure(failure["cause"])
    return out


def _execution(attrs: dict[str, Any]) -> dict[str, str]:
    """The target of a signal or cancel request to another workflow."""
    return {"workflowId": str(attrs.get("workflow_id") or ""), "runId": str(attrs.get("run_id") or "")}


def _sender(attrs: dict[str, Any]) -> dict[str, Any]:
    """`externalWorkflowExecution`: the workflow that sent a signal or cancel request, if one did."""
    if not attrs.get("external_workflow_id"):
        return {}
    return {"externalWorkflowExecution": {"workflowId": str(attrs["external_workflow_id"]), "runId": str(attrs.get("external_run_id") or "")}}


def _timeout_type(value: Any) -> str:
    known = {"StartToClose", "ScheduleToStart", "ScheduleToClose", "Heartbeat"}
    return _enum("TIMEOUT_TYPE", value if value in known else "StartToClose", "StartToClose")


def _retry_policy(policy: Any) -> dict[str, Any] | None:
    if not isinstance(policy, dict):
        return None
    return {
        "initialInterval": format_duration(float(policy.get("initial_interval") or 1.0)),
        "backoffCoefficient": float(policy.get("backoff_coefficient") or 2.0),
        "maximumInterval": format_duration(float(policy.get("maximum_interval") or 100.0)),
        "maximumAttempts": int(policy.get("max_attempts") or 0),
        "nonRetryableErrorTypes": list(policy.get("non_retryable_error_types") or []),
    }


def fold_attempts(events: list[Event]) -> list[tuple[Event, dict[str, Any] | None]]:
    """The events a Temporal history would hold, each with the failure of the attempt before it (for `lastFailure`)."""
    last_started: dict[int, int] = {}
    for event in events:
        if event.event_type is E.ActivityTaskStarted and "temporal" not in event.attributes:
            last_started[int(event.attributes["activity_id"])] = event.event_id
    kept: list[tuple[Event, dict[str, Any] | None]] = []
    previous_failure: dict[int, dict[str, Any]] = {}
    for event in events:
        attrs = event.attributes
        if "temporal" in attrs:
            kept.append((event, None))
            continue
        if event.event_type in (E.ActivityTaskFailed, E.ActivityTaskTimedOut) and attrs.get("retry_state") == ATTEMPT_RETRYING:
            if isinstance(attrs.get("failure"), dict):
                previous_failure[int(attrs["activity_id"])] = attrs["failure"]
            continue
        if event.event_type is E.ActivityTaskStarted and last_started.get(int(attrs["activity_id"])) != event.event_id:
            continue
        last = previous_failure.get(int(attrs["activity_id"])) if event.event_type is E.ActivityTaskStarted else None
        kept.append((event, last))
    return kept


def to_temporal_json(history: History) -> dict[str, Any]:
    """The history as a Temporal JSON document (`{"events": [...]}`)."""
    folded = fold_attempts(list(history.events))
    new_ids = {event.event_id: index for index, (event, _) in enumerate(folded, start=1)}
    writer = _Writer(history, new_ids)
    return {"events": [writer.event(index, event, last) for index, (event, last) in enumerate(folded, start=1)]}


def export_history(history: History, path: str | os.PathLike[str]) -> Path:
    """Write `history` as Temporal JSON to `path` (as the SDK's `to_json` does: indented, UTF-8)."""
    target = Path(path)
    target.write_text(json.dumps(to_temporal_json(history), indent=2) + "\n", encoding="utf-8")
    return target


class _Writer:
    def __init__(self, history: History, new_ids: dict[int, int]) -> None:
        self.history = history
        self.new_ids = new_ids
        self.task_queue = "default"
        self.last_completed = 0
        self.child_started: dict[int, int] = {}
        self.activity_started: dict[int, int] = {}
        self.cancel_requested: dict[int, int] = {}
        self.update_accepted: dict[str, int] = {}

    def ref(self, value: Any) -> str:
        if value is None:
            return "0"
        return str(self.new_ids.get(int(value), int(value)))

    def event(self, event_id: int, event: Event, last_failure: dict[str, Any] | None) -> dict[str, Any]:
        attrs = event.attributes
        original = attrs.get("temporal")
        if isinstance(original, dict) and isinstance(original.get("attributes"), dict):
            pascal = str(original.get("eventType") or event.event_type.value)
            out: dict[str, Any] = {
                "eventId": str(event_id),
                "eventTime": format_time(event.event_time, original.get("eventTime")),
                "eventType": f"EVENT_TYPE_{_snake_upper(pascal)}",
            }
            for key, value in original.items():
                if key not in ("eventType", "eventTime", "attributes"):
                    out[key] = value
            out[pascal[:1].lower() + pascal[1:] + "EventAttributes"] = original["attributes"]
            if event.event_type is E.WorkflowTaskCompleted:
                self.last_completed = event_id
            return out
        pascal = event.event_type.value
        body = getattr(self, "_" + pascal)(event, event_id, last_failure)
        if event.event_type is E.WorkflowTaskCompleted:
            self.last_completed = event_id
        return {
            "eventId": str(event_id),
            "eventTime": format_time(event.event_time),
            "eventType": f"EVENT_TYPE_{_snake_upper(pascal)}",
            "taskId": str(event_id),
            pascal[:1].lower() + pascal[1:] + "EventAttributes": body,
        }

    def _queue(self, name: Any = None) -> dict[str, Any]:
        return {"name": str(name or self.task_queue), "kind": "TASK_QUEUE_KIND_NORMAL"}

    def _completed_ref(self) -> dict[str, Any]:
        return {"workflowTaskCompletedEventId": str(self.last_completed)} if self.last_completed else {}

    #### One method per wfkit event type ####

    def _WorkflowExecutionStarted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        self.task_queue = str(a.get("task_queue") or "default")
        run_id = self.history.run_id or str(a.get("run_id") or "")
        body: dict[str, Any] = {
            "workflowType": {"name": str(a.get("workflow_type"))},
            "taskQueue": self._queue(),
            "input": _payloads(a.get("input") or []),
            "workflowTaskTimeout": "10s",
            "originalExecutionRunId": run_id,
            "identity": _IDENTITY,
            "firstExecutionRunId": run_id,
            "attempt": 1,
            "firstWorkflowTaskBackoff": "0s",
            "workflowId": str(a.get("workflow_id") or self.history.workflow_id),
        }
        if a.get("random_seed") is not None:  # so that wfkit.random() replays alike after a round trip
            body["memo"] = {"fields": {"wfkit_random_seed": encode_payload({"encoding": "json/plain", "data": int(a["random_seed"])})}}
        if a.get("memo"):
            body.setdefault("memo", {"fields": {}})["fields"].update(_payload_map(a["memo"]))
        if a.get("search_attributes"):
            body["searchAttributes"] = {"indexedFields": _payload_map(a["search_attributes"], typed=True)}
        if a.get("parent_workflow_id"):
            body["parentWorkflowExecution"] = {"workflowId": str(a["parent_workflow_id"]), "runId": str(a.get("parent_run_id") or "")}
            body["parentWorkflowNamespace"] = "default"
        if a.get("continued_from_run_id"):
            body["continuedExecutionRunId"] = str(a["continued_from_run_id"])
            body["initiator"] = "CONTINUE_AS_NEW_INITIATOR_WORKFLOW"
        return body

    def _WorkflowTaskScheduled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"taskQueue": self._queue(), "startToCloseTimeout": "10s", "attempt": int(event.attributes.get("attempt") or 1)}

    def _WorkflowTaskStarted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"scheduledEventId": self.ref(event.attributes.get("scheduled_event_id") or event_id - 1), "identity": _IDENTITY}

    def _WorkflowTaskCompleted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {
            "scheduledEventId": self.ref(a.get("scheduled_event_id") or event_id - 2),
            "startedEventId": self.ref(a.get("started_event_id") or event_id - 1),
            "identity": _IDENTITY,
        }

    def _WorkflowTaskFailed(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        cause = "NonDeterministicError" if a.get("cause") == "Nondeterminism" else "WorkflowWorkerUnhandledFailure"
        return {
            "scheduledEventId": self.ref(a.get("scheduled_event_id") or event_id - 2),
            "startedEventId": self.ref(a.get("started_event_id") or event_id - 1),
            "cause": _enum("WORKFLOW_TASK_FAILED_CAUSE", cause, cause),
            "failure": _failure(a.get("failure")),
            "identity": _IDENTITY,
        }

    def _ActivityTaskScheduled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        body: dict[str, Any] = {
            "activityId": str(a.get("activity_id")),
            "activityType": {"name": str(a.get("activity_type"))},
            "taskQueue": self._queue(a.get("task_queue")),
            "header": {},
            "input": _payloads(a.get("input") or []),
            "scheduleToCloseTimeout": format_duration(a.get("schedule_to_close")),
            "scheduleToStartTimeout": "0s",
            "startToCloseTimeout": format_duration(a.get("start_to_close")),
            "heartbeatTimeout": format_duration(a.get("heartbeat_timeout")),
            **self._completed_ref(),
        }
        policy = _retry_policy(a.get("retry_policy"))
        if policy is not None:
            body["retryPolicy"] = policy
        return body

    def _ActivityTaskStarted(self, event: Event, event_id: int, last_failure: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        self.activity_started[int(a["activity_id"])] = event_id
        body: dict[str, Any] = {"scheduledEventId": self.ref(a.get("scheduled_event_id")), "identity": _IDENTITY, "attempt": int(a.get("attempt") or 1)}
        if last_failure is not None:
            body["lastFailure"] = _failure(last_failure)
        return body

    def _activity_end(self, event: Event) -> dict[str, Any]:
        a = event.attributes
        started = self.activity_started.get(int(a["activity_id"]))
        return {"scheduledEventId": self.ref(a.get("scheduled_event_id")), "startedEventId": str(started or 0), "identity": _IDENTITY}

    def _ActivityTaskCompleted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"result": _payloads(event.attributes.get("result")), **self._activity_end(event)}

    def _ActivityTaskFailed(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {
            "failure": _failure(a.get("failure")),
            **self._activity_end(event),
            "retryState": _enum("RETRY_STATE", a.get("retry_state"), "NonRetryableFailure"),
        }

    def _ActivityTaskTimedOut(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        failure = dict(a.get("failure") or {})
        failure.setdefault("type", "TimeoutError")
        failure["type"] = "TimeoutError"
        failure["timeout_type"] = a.get("timeout_type") or "StartToClose"
        body = {"failure": _failure(failure), **self._activity_end(event), "retryState": _enum("RETRY_STATE", a.get("retry_state"), "Timeout")}
        body.pop("identity", None)
        return body

    def _ActivityTaskCancelRequested(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        self.cancel_requested[int(a["activity_id"])] = event_id
        return {"scheduledEventId": self.ref(a.get("scheduled_event_id") or self._scheduled_of(int(a["activity_id"]))), **self._completed_ref()}

    def _scheduled_of(self, activity_id: int) -> int:
        for event in self.history.events:
            if event.event_type is E.ActivityTaskScheduled and event.attributes.get("activity_id") == activity_id:
                return event.event_id
        return 0

    def _ActivityTaskCanceled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        body = self._activity_end(event)
        body["latestCancelRequestedEventId"] = str(self.cancel_requested.get(int(a["activity_id"]), 0))
        return body

    def _TimerStarted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {"timerId": str(a.get("timer_id")), "startToFireTimeout": format_duration(float(a.get("duration") or 0.0)), **self._completed_ref()}

    def _TimerFired(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {"timerId": str(a.get("timer_id")), "startedEventId": self.ref(a.get("started_event_id"))}

    def _TimerCanceled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        started = a.get("started_event_id") or self._timer_started(int(a.get("timer_id") or 0))
        return {"timerId": str(a.get("timer_id")), "startedEventId": self.ref(started), **self._completed_ref(), "identity": _IDENTITY}

    def _timer_started(self, timer_id: int) -> int:
        for event in self.history.events:
            if event.event_type is E.TimerStarted and event.attributes.get("timer_id") == timer_id:
                return event.event_id
        return 0

    def _MarkerRecorded(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        name = str(a.get("marker_name"))
        if name == "patch":
            details: dict[str, Any] = {"patch-data": _payloads([{"encoding": "json/plain", "data": {"id": a.get("patch_id"), "deprecated": False}}])}
            return {"markerName": "core_patch", "details": details, **self._completed_ref()}
        if name == "LocalActivity" and isinstance(a.get("details"), dict):  # wfkit's local activity: Temporal's details as they are
            body = {"markerName": name, "details": {key: _payloads(value) for key, value in a["details"].items()}, **self._completed_ref()}
            if a.get("failure") is not None:
                body["failure"] = _failure(a["failure"])
            return body
        details = {}
        for key, value in a.items():
            if key != "marker_name":
                details[key] = _payloads([value if isinstance(value, dict) and "encoding" in value else {"encoding": "json/plain", "data": value}])
        return {"markerName": name, "details": details, **self._completed_ref()}

    def _WorkflowExecutionSignaled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        request = {"requestId": str(a["request_id"])} if a.get("request_id") else {}
        return {"signalName": str(a.get("signal_name")), "input": _payloads(a.get("input")), "identity": _IDENTITY, **_sender(a), **request}

    def _WorkflowExecutionCancelRequested(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        initiated = {"externalInitiatedEventId": str(a["external_initiated_event_id"])} if a.get("external_initiated_event_id") else {}
        return {"cause": str(a.get("reason") or ""), "identity": _IDENTITY, **_sender(a), **initiated}  # the id is in the sender's history

    #### Signals and cancel requests to other workflows ####

    def _SignalExternalWorkflowExecutionInitiated(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {
            **self._completed_ref(),
            "namespace": "default",
            "workflowExecution": _execution(a),
            "signalName": str(a.get("signal_name") or ""),
            "input": _payloads(a.get("input") or []),
            "childWorkflowOnly": bool(a.get("child_workflow_only")),
        }

    def _RequestCancelExternalWorkflowExecutionInitiated(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {
            **self._completed_ref(),
            "namespace": "default",
            "workflowExecution": _execution(a),
            "childWorkflowOnly": bool(a.get("child_workflow_only")),
            "reason": str(a.get("reason") or ""),
        }

    def _external_outcome(self, event: Event) -> dict[str, Any]:
        a = event.attributes
        return {"initiatedEventId": self.ref(a.get("initiated_event_id")), "namespace": "default", "workflowExecution": _execution(a)}

    def _external_failed(self, event: Event, prefix: str) -> dict[str, Any]:
        cause = _enum(prefix, event.attributes.get("cause"), "ExternalWorkflowExecutionNotFound")
        return {**self._completed_ref(), **self._external_outcome(event), "cause": cause}

    def _ExternalWorkflowExecutionSignaled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return self._external_outcome(event)

    def _ExternalWorkflowExecutionCancelRequested(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return self._external_outcome(event)

    def _SignalExternalWorkflowExecutionFailed(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return self._external_failed(event, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE")

    def _RequestCancelExternalWorkflowExecutionFailed(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return self._external_failed(event, "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE")

    def _StartChildWorkflowExecutionInitiated(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {
            "namespace": "default",
            "workflowId": str(a.get("workflow_id")),
            "workflowType": {"name": str(a.get("workflow_type"))},
            "taskQueue": self._queue(a.get("task_queue")),
            "input": _payloads(a.get("input") or []),
            "parentClosePolicy": "PARENT_CLOSE_POLICY_TERMINATE",
            **self._completed_ref(),
        }

    def _child(self, event: Event) -> dict[str, Any]:
        a = event.attributes
        return {
            "namespace": "default",
            "workflowExecution": {"workflowId": str(a.get("workflow_id") or ""), "runId": str(a.get("run_id") or "")},
            "workflowType": {"name": self._child_type(int(a.get("child_id") or 0))},
            "initiatedEventId": self.ref(a.get("initiated_event_id")),
        }

    def _child_type(self, child_id: int) -> str:
        for event in self.history.events:
            if event.event_type is E.StartChildWorkflowExecutionInitiated and event.attributes.get("child_id") == child_id:
                return str(event.attributes.get("workflow_type"))
        return ""

    def _ChildWorkflowExecutionStarted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        self.child_started[int(event.attributes.get("child_id") or 0)] = event_id
        return self._child(event)

    def _child_end(self, event: Event) -> dict[str, Any]:
        return {**self._child(event), "startedEventId": str(self.child_started.get(int(event.attributes.get("child_id") or 0), 0))}

    def _ChildWorkflowExecutionCompleted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"result": _payloads(event.attributes.get("result")), **self._child_end(event)}

    def _ChildWorkflowExecutionFailed(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"failure": _failure(event.attributes.get("failure")), **self._child_end(event), "retryState": "RETRY_STATE_NON_RETRYABLE_FAILURE"}

    def _ChildWorkflowExecutionCanceled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return self._child_end(event)

    def _WorkflowExecutionCompleted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"result": _payloads(event.attributes.get("result")), **self._completed_ref()}

    def _WorkflowExecutionFailed(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"failure": _failure(event.attributes.get("failure")), "retryState": "RETRY_STATE_RETRY_POLICY_NOT_SET", **self._completed_ref()}

    def _WorkflowExecutionCanceled(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return dict(self._completed_ref())

    def _WorkflowExecutionTerminated(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"reason": str(event.attributes.get("reason") or ""), "identity": _IDENTITY}

    def _UpsertWorkflowSearchAttributes(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        fields = _payload_map(event.attributes.get("search_attributes") or {}, typed=True)
        return {**self._completed_ref(), "searchAttributes": {"indexedFields": fields}}

    def _WorkflowPropertiesModified(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {**self._completed_ref(), "upsertedMemo": {"fields": _payload_map(event.attributes.get("memo") or {})}}

    def _update_request(self, a: dict[str, Any]) -> dict[str, Any]:
        update_id = str(a.get("update_id") or "")
        return {
            "meta": {"updateId": update_id, "identity": _IDENTITY},
            "input": {"name": str(a.get("update_name") or ""), "args": _payloads(a.get("input") or [])},
        }

    def _WorkflowExecutionUpdateAdmitted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        return {"request": self._update_request(event.attributes), "origin": "UPDATE_ADMITTED_EVENT_ORIGIN_UNSPECIFIED"}

    def _WorkflowExecutionUpdateAccepted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        self.update_accepted[str(a.get("update_id") or "")] = event_id
        return {
            "protocolInstanceId": str(a.get("update_id") or ""),
            "acceptedRequestMessageId": f"{a.get('update_id')}/request",
            "acceptedRequestSequencingEventId": str(max(self.last_completed - 1, 0)),
            "acceptedRequest": self._update_request(a),
        }

    def _WorkflowExecutionUpdateCompleted(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        update_id = str(a.get("update_id") or "")
        outcome = {"failure": _failure(a["failure"])} if a.get("failure") is not None else {"success": _payloads([a.get("result")])}
        return {"meta": {"updateId": update_id}, "acceptedEventId": str(self.update_accepted.get(update_id, 0)), "outcome": outcome}

    def _WorkflowExecutionContinuedAsNew(self, event: Event, event_id: int, _: Any) -> dict[str, Any]:  # noqa: N802
        a = event.attributes
        return {
            "newExecutionRunId": str(a.get("new_run_id") or ""),
            "workflowType": {"name": str(self.history.workflow_type or "")},
            "taskQueue": self._queue(),
            "input": _payloads(a.get("input") or []),
            "workflowTaskTimeout": "10s",
            "initiator": "CONTINUE_AS_NEW_INITIATOR_WORKFLOW",
            **self._completed_ref(),
        }
