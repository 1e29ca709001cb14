"""Events of a workflow run's history, named as Temporal names them."""

from __future__ import annotations

import enum
import re
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ATTEMPT_RETRYING", "CLOSE_STATUS", "CLOSING_EVENTS", "Event", "EventType"]

#: `retry_state` of an activity failure or timeout after which another attempt follows.
#: Temporal keeps only an activity's last attempt; wfkit records every attempt and marks
#: the ones that were retried with this state so a Temporal export can fold them away.
ATTEMPT_RETRYING = "InProgress"


_PSEUDO_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,127}$")
#: What `EventType(name)` accepts as a type newer than this list: a PascalCase name of two words or
#: more, as every Temporal type is (`FromTheFuture`), so that a damaged store (`'Bogus'`) is still an error.
_TEMPORAL_LIKE = re.compile(r"^[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]{0,120}$")


class EventType(str, enum.Enum):
    """The type of a history event: every type of Temporal's `temporal.api.enums.v1.EventType`, with its names.

    wfkit's own engine records a subset; a Temporal import keeps each event's own type. A type
    newer than this list (a PascalCase name such as `EventType("FromTheFuture")`) becomes a
    pseudo-member that is not listed by iteration but compares, stores and reads back like any
    other, so an imported event never changes its type. (A one-word name, `Unknown`, is a
    pseudo-member only through `EventType.of_name`, which the importer uses: `EventType("Bogus")`
    stays an error, so a damaged store is noticed.)
    """

    # The types wfkit's engine records.
    WorkflowExecutionStarted = "WorkflowExecutionStarted"
    WorkflowExecutionCompleted = "WorkflowExecutionCompleted"
    WorkflowExecutionFailed = "WorkflowExecutionFailed"
    WorkflowExecutionCanceled = "WorkflowExecutionCanceled"
    WorkflowExecutionTerminated = "WorkflowExecutionTerminated"
    WorkflowExecutionContinuedAsNew = "WorkflowExecutionContinuedAsNew"
    WorkflowExecutionCancelRequested = "WorkflowExecutionCancelRequested"
    WorkflowExecutionSignaled = "WorkflowExecutionSignaled"
    WorkflowTaskScheduled = "WorkflowTaskScheduled"
    WorkflowTaskStarted = "WorkflowTaskStarted"
    WorkflowTaskCompleted = "WorkflowTaskCompleted"
    WorkflowTaskFailed = "WorkflowTaskFailed"
    ActivityTaskScheduled = "ActivityTaskScheduled"
    ActivityTaskStarted = "ActivityTaskStarted"
    ActivityTaskCompleted = "ActivityTaskCompleted"
    ActivityTaskFailed = "ActivityTaskFailed"
    ActivityTaskTimedOut = "ActivityTaskTimedOut"
    ActivityTaskCancelRequested = "ActivityTaskCancelRequested"
    ActivityTaskCanceled = "ActivityTaskCanceled"
    TimerStarted = "TimerStarted"
    TimerFired = "TimerFired"
    TimerCanceled = "TimerCanceled"
    MarkerRecorded = "MarkerRecorded"
    StartChildWorkflowExecutionInitiated = "StartChildWorkflowExecutionInitiated"
    ChildWorkflowExecutionStarted = "ChildWorkflowExecutionStarted"
    ChildWorkflowExecutionCompleted = "ChildWorkflowExecutionCompleted"
    ChildWorkflowExecutionFailed = "ChildWorkflowExecutionFailed"
    ChildWorkflowExecutionCanceled = "ChildWorkflowExecutionCanceled"
    # The rest of Temporal's types (its enum number in the comment).
    WorkflowExecutionTimedOut = "WorkflowExecutionTimedOut"  # 4
    WorkflowTaskTimedOut = "WorkflowTaskTimedOut"  # 8
    RequestCancelExternalWorkflowExecutionInitiated = "RequestCancelExternalWorkflowExecutionInitiated"  # 22
    RequestCancelExternalWorkflowExecutionFailed = "RequestCancelExternalWorkflowExecutionFailed"  # 23
    ExternalWorkflowExecutionCancelRequested = "ExternalWorkflowExecutionCancelRequested"  # 24
    StartChildWorkflowExecutionFailed = "StartChildWorkflowExecutionFailed"  # 30
    ChildWorkflowExecutionTimedOut = "ChildWorkflowExecutionTimedOut"  # 35
    ChildWorkflowExecutionTerminated = "ChildWorkflowExecutionTerminated"  # 36
    SignalExternalWorkflowExecutionInitiated = "SignalExternalWorkflowExecutionInitiated"  # 37
    SignalExternalWorkflowExecutionFailed = "SignalExternalWorkflowExecutionFailed"  # 38
    ExternalWorkflowExecutionSignaled = "ExternalWorkflowExecutionSignaled"  # 39
    UpsertWorkflowSearchAttributes = "UpsertWorkflowSearchAttributes"  # 40
    WorkflowExecutionUpdateAccepted = "WorkflowExecutionUpdateAccepted"  # 41
    WorkflowExecutionUpdateRejected = "WorkflowExecutionUpdateRejected"  # 42
    WorkflowExecutionUpdateCompleted = "WorkflowExecutionUpdateCompleted"  # 43
    WorkflowPropertiesModifiedExternally = "WorkflowPropertiesModifiedExternally"  # 44
    ActivityPropertiesModifiedExternally = "ActivityPropertiesModifiedExternally"  # 45
    WorkflowPropertiesModified = "WorkflowPropertiesModified"  # 46
    WorkflowExecutionUpdateAdmitted = "WorkflowExecutionUpdateAdmitted"  # 47
    NexusOperationScheduled = "NexusOperationScheduled"  # 48
    NexusOperationStarted = "NexusOperationStarted"  # 49
    NexusOperationCompleted = "NexusOperationCompleted"  # 50
    NexusOperationFailed = "NexusOperationFailed"  # 51
    NexusOperationCanceled = "NexusOperationCanceled"  # 52
    NexusOperationTimedOut = "NexusOperationTimedOut"  # 53
    NexusOperationCancelRequested = "NexusOperationCancelRequested"  # 54
    WorkflowExecutionOptionsUpdated = "WorkflowExecutionOptionsUpdated"  # 55
    NexusOperationCancelRequestCompleted = "NexusOperationCancelRequestCompleted"  # 56
    NexusOperationCancelRequestFailed = "NexusOperationCancelRequestFailed"  # 57
    WorkflowExecutionPaused = "WorkflowExecutionPaused"  # 58
    WorkflowExecutionUnpaused = "WorkflowExecutionUnpaused"  # 59
    WorkflowExecutionTimeSkippingTransitioned = "WorkflowExecutionTimeSkippingTransitioned"  # 60

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> EventType | None:
        """A type newer than this list (two words or more): a pseudo-member, made once per name (so `is` works)."""
        if not isinstance(value, str) or not _TEMPORAL_LIKE.match(value):
            return None
        return cls.of_name(value)

    @classmethod
    def of_name(cls, value: str) -> EventType:
        """The member named `value`, or a pseudo-member for it (any PascalCase name: what an imported file says).

        Raises:
            ValueError: `value` is not a PascalCase name.
        """
        if value in cls._value2member_map_:
            return cls._value2member_map_[value]  # type: ignore[return-value]
        if not _PSEUDO_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid EventType")
        with _PSEUDO_LOCK:
            member = cls._value2member_map_.get(value)
            if member is None:
                member = str.__new__(cls, value)
                member._name_ = value
                member._value_ = value
                cls._value2member_map_[value] = member
        return member  # type: ignore[return-value]

    @property
    def is_known(self) -> bool:
        """False for a pseudo-member (a type newer than this wfkit)."""
        return self._name_ in type(self).__members__


_PSEUDO_LOCK = threading.Lock()


CLOSING_EVENTS = frozenset(
    {
        EventType.WorkflowExecutionCompleted,
        EventType.WorkflowExecutionFailed,
        EventType.WorkflowExecutionCanceled,
        EventType.WorkflowExecutionTerminated,
        EventType.WorkflowExecutionContinuedAsNew,
        EventType.WorkflowExecutionTimedOut,
    }
)

#: The `workflows.status` a run gets from its closing event (the one status map: engine, store, analytics and imports use it).
CLOSE_STATUS: dict[EventType, str] = {
    EventType.WorkflowExecutionCompleted: "Completed",
    EventType.WorkflowExecutionFailed: "Failed",
    EventType.WorkflowExecutionCanceled: "Canceled",
    EventType.WorkflowExecutionTerminated: "Terminated",
    EventType.WorkflowExecutionContinuedAsNew: "ContinuedAsNew",
    EventType.WorkflowExecutionTimedOut: "TimedOut",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable entry of a run's history."""

    event_id: int
    """Position in the run's history, gapless from 1."""
    event_type: EventType
    """What happened."""
    event_time: float
    """When it happened, in seconds since the Unix epoch (UTC)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """The event's details: activity type, input/result payloads, failure, attempt, ids of related events."""

    @property
    def activity_id(self) -> int | None:
        """The workflow-local sequence number of the activity this event concerns, if any."""
        value = self.attributes.get("activity_id")
        return None if value is None else int(value)

    @property
    def timer_id(self) -> int | None:
        """The workflow-local sequence number of the timer this event concerns, if any."""
        value = self.attributes.get("timer_id")
        return None if value is None else int(value)

    @property
    def child_id(self) -> int | None:
        """The workflow-local sequence number of the child workflow this event concerns, if any."""
        value = self.attributes.get("child_id")
        return None if value is None else int(value)

    @property
    def attempt(self) -> int | None:
        """The activity attempt this event belongs to, if any."""
        value = self.attributes.get("attempt")
        return None if value is None else int(value)

    @property
    def is_retrying_attempt(self) -> bool:
        """True for an activity failure or timeout that was followed by another attempt."""
        return self.attributes.get("retry_state") == ATTEMPT_RETRYING

    def describe(self) -> str:
        """A short human-readable description, used in error messages."""
        attrs = self.attributes
        for key in ("activity_type", "workflow_type", "signal_name", "marker_name", "update_name", "update_id"):
            if key in attrs:
                return f"{self.event_type.value}({attrs[key]})"
        if "duration" in attrs:
            return f"{self.event_type.value}({attrs['duration']}s)"
        return self.event_type.value
