"""Local activities as history records them: one `MarkerRecorded` event named "LocalActivity".

A local activity runs in the worker (here: the engine) without a task queue, and only its final
outcome is recorded: Temporal's SDKs write a marker ("LocalActivity" in Go and Java,
"core_local_activity" in the Core-based SDKs) whose details hold a `data` payload (the activity's
id, type, attempt and times) and a `result` payload, or a `failure`. The SDKs spell `data`
differently (Go: `ActivityID`/`ActivityType`/`ReplayTime`/`Attempt`; Java: separate `activityId`,
`type`, `time` details; Core-based SDKs: `seq`/`activity_id`/`activity_type`/`attempt`/
`complete_time`/`original_schedule_time` as `{"seconds", "nanos"}`); `read_local_activity` reads them all. wfkit's engine
writes Core's spelling and adds its own typed keys (`activity_id` = the workflow-local sequence
number, `activity_type`, `attempt`, and times as seconds) next to `details`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from wfkit._history._payload import JSON_ENCODING, Payload

__all__ = ["LOCAL_ACTIVITY_MARKER", "LOCAL_ACTIVITY_MARKERS", "LocalActivityMarker", "local_activity_attributes", "read_local_activity"]

#: The `marker_name` wfkit's engine records for a local activity (as the Go and Java SDKs name it).
LOCAL_ACTIVITY_MARKER = "LocalActivity"
#: Every `marker_name` of a local activity: the Go and Java SDKs' and the Core-based SDKs' (Python, TypeScript, .NET).
LOCAL_ACTIVITY_MARKERS = frozenset({LOCAL_ACTIVITY_MARKER, "core_local_activity"})


@dataclass(frozen=True, slots=True)
class LocalActivityMarker:
    """What a local activity's marker says, whichever SDK wrote it."""

    seq: int | None
    """The workflow-local sequence number of the call (shared with activities), where the marker has one."""
    activity_id: str | None
    """The activity id as the SDK wrote it (`"1"`, a UUID for Java)."""
    activity_type: str | None
    attempt: int
    """The attempt whose outcome is recorded (attempts in all)."""
    result: Payload | None
    failure: dict[str, Any] | None
    scheduled_time: float | None
    """When the first attempt was scheduled (seconds since the epoch), if recorded."""
    started_time: float | None
    """When the final attempt started (seconds since the epoch): wfkit records it, the SDKs do not."""
    complete_time: float | None
    """When the final attempt ended (seconds since the epoch), if recorded."""

    @property
    def completed(self) -> bool:
        """True if the activity returned (its marker has no failure)."""
        return self.failure is None

    @property
    def outcome(self) -> str:
        """completed, timed_out or failed (the words the activity views and plots use)."""
        if self.failure is None:
            return "completed"
        return "timed_out" if self.failure.get("timeout_type") else "failed"

    def node_id(self, event_id: int) -> str:
        """How the activity graph names it: `local:<seq>`, or `local:e<event id>` for a marker without a number."""
        return f"local:{self.seq}" if self.seq is not None else f"local:e{event_id}"


def local_activity_attributes(
    seq: int,
    activity_type: str,
    attempt: int,
    *,
    scheduled_time: float,
    started_time: float,
    complete_time: float,
    result: Payload | None = None,
    failure: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The attributes wfkit's engine records for a local activity's final outcome (without `marker_name`)."""
    data = {
        "seq": seq,
        "attempt": attempt,
        "activity_id": str(seq),
        "activity_type": activity_type,
        "complete_time": _iso(complete_time),
        "original_schedule_time": _iso(scheduled_time),
        "backoff": None,
    }
    details: dict[str, Any] = {"data": [{"encoding": JSON_ENCODING, "data": data}]}
    attrs: dict[str, Any] = {
        "activity_id": seq,
        "activity_type": activity_type,
        "attempt": attempt,
        "scheduled_time": round(scheduled_time, 6),
        "started_time": round(started_time, 6),
        "complete_time": round(complete_time, 6),
        "details": details,
    }
    if failure is not None:
        attrs["failure"] = failure
    else:
        details["result"] = [result] if result is not None else []
    return attrs


def read_local_activity(attrs: dict[str, Any]) -> LocalActivityMarker | None:
    """The local activity a `MarkerRecorded` event's attributes describe, or None for another marker."""
    if attrs.get("marker_name") not in LOCAL_ACTIVITY_MARKERS:
        return None
    details = attrs.get("details")
    details = details if isinstance(details, dict) else {}
    data = _flat(details)
    seq = _int(attrs.get("activity_id"))
    if seq is None:
        seq = _int(data.get("seq"))
    activity_id = data.get("activityid")
    activity_id = str(activity_id) if activity_id is not None else (str(seq) if seq is not None else None)
    if seq is None:
        seq = _int(activity_id)
    activity_type = attrs.get("activity_type") or data.get("activitytype") or data.get("type")
    attempt = _int(attrs.get("attempt")) or _int(data.get("attempt")) or _int(data.get("atpt")) or 1
    results = details.get("result")
    result = results[0] if isinstance(results, list) and results and isinstance(results[0], dict) else None
    failure = attrs.get("failure") if isinstance(attrs.get("failure"), dict) else None
    scheduled = _seconds(attrs.get("scheduled_time")) or _seconds(data.get("originalscheduletime")) or _seconds(data.get("firstskd"))
    complete = _seconds(attrs.get("complete_time")) or _seconds(data.get("completetime")) or _seconds(data.get("replaytime")) or _seconds(data.get("time"))
    started = _seconds(attrs.get("started_time"))
    kind = str(activity_type) if activity_type else None
    return LocalActivityMarker(seq, activity_id, kind, attempt, result, failure, scheduled, started, complete)


def _flat(details: dict[str, Any]) -> dict[str, Any]:
    """Every value the details hold, by key folded to lower case without `_` (`ActivityID`, `activity_id` -> `activityid`).

    `data` is an object payload (Go, Core); Java writes one payload per key (`activityId`, `type`, `time`).
    """
    flat: dict[str, Any] = {}
    for key, payloads in details.items():
        value = _first_value(payloads)
        if key == "data" and isinstance(value, dict):
            for inner, item in value.items():
                flat.setdefault(str(inner).replace("_", "").lower(), item)
        elif key != "result":
            flat.setdefault(str(key).replace("_", "").lower(), value)
    return flat


def _first_value(payloads: Any) -> Any:
    if isinstance(payloads, list) and payloads and isinstance(payloads[0], dict):
        return payloads[0].get("data")
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _seconds(value: Any) -> float | None:
    """A time as seconds since the epoch: seconds, epoch milliseconds (Java), ISO text, or `{"seconds", "nanos"}`."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, dict) and "seconds" in value:
        try:
            return float(value["seconds"]) + float(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        text = value.replace("Z", "+00:00")
        if "." in text:  # Go writes nanoseconds; fromisoformat takes at most microseconds
            head, _, tail = text.partition(".")
            digits = "".join(c for c in tail if c.isdigit())
            zone = tail[len(digits) :]
            text = f"{head}.{digits[:6]}{zone}"
        try:
            return datetime.datetime.fromisoformat(text).timestamp()
        except ValueError:
            return None
    return None


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
