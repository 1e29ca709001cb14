"""Events of a workflow run's history, named as Temporal names them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ATTEMPT_RETRYING", "CLOSE_STATUS", "CLOSING_EVENTS", "Event", "EventType"]

#: `retry_state` of an activity failure or timeout after which another attempt follows.
#: Temporal keeps only an activity's last attempt; wfkit records every attempt and marks
#: the ones that were retried with this state so a Temporal export can fold them away.
ATTEMPT_RETRYING = "InProgress"


class EventType(str, enum.Enum):
    """The type of a history event (Temporal's names)."""

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

    def __str__(self) -> str:
        return self.value


CLOSING_EVENTS = frozenset(
    {
        EventType.WorkflowExecutionCompleted,
        EventType.WorkflowExecutionFailed,
        EventType.WorkflowExecutionCanceled,
        EventType.WorkflowExecutionTerminated,
        EventType.WorkflowExecutionContinuedAsNew,
    }
)

#: The `workflows.status` a run gets from its closing event (the one status map: engine, store, analytics and imports use it).
CLOSE_STATUS: dict[EventType, str] = {
    EventType.WorkflowExecutionCompleted: "Completed",
    EventType.WorkflowExecutionFailed: "Failed",
    EventType.WorkflowExecutionCanceled: "Canceled",
    EventType.WorkflowExecutionTerminated: "Terminated",
    EventType.WorkflowExecutionContinuedAsNew: "ContinuedAsNew",
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
        for key in ("activity_type", "workflow_type", "signal_name", "marker_name"):
            if key in attrs:
                return f"{self.event_type.value}({attrs[key]})"
        if "duration" in attrs:
            return f"{self.event_type.value}({attrs['duration']}s)"
        return self.event_type.value
