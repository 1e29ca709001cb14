"""What the engine feeds a workflow (activations and their jobs) and what it gets back (commands)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wfkit._history._payload import Payload

__all__ = [
    "Activation",
    "CancelTimer",
    "CancelWorkflow",
    "Command",
    "CompleteWorkflow",
    "ContinueAsNew",
    "FailWorkflow",
    "FireTimer",
    "Job",
    "RecordMarker",
    "RequestCancelActivity",
    "RequestCancelWorkflow",
    "ResolveActivity",
    "ResolveChild",
    "ScheduleActivity",
    "SignalWorkflow",
    "StartChildWorkflow",
    "StartTimer",
    "StartWorkflow",
]


# #### Jobs (engine -> workflow), in the order an activation applies them ####


@dataclass(frozen=True, slots=True)
class StartWorkflow:
    """Begin running the workflow function with these arguments."""

    args: list[Payload]


@dataclass(frozen=True, slots=True)
class SignalWorkflow:
    """A signal arrived."""

    name: str
    payload: Payload | None


@dataclass(frozen=True, slots=True)
class ResolveActivity:
    """An activity closed: `outcome` is "completed", "failed", "timed_out" or "canceled"."""

    seq: int
    outcome: str
    result: Payload | None = None
    failure: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FireTimer:
    """A durable timer fired."""

    seq: int


@dataclass(frozen=True, slots=True)
class ResolveChild:
    """A child workflow closed: `outcome` is "completed", "failed" or "canceled"."""

    seq: int
    outcome: str
    result: Payload | None = None
    failure: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RequestCancelWorkflow:
    """Someone asked the workflow to cancel."""

    reason: str = ""


Job = StartWorkflow | SignalWorkflow | ResolveActivity | FireTimer | ResolveChild | RequestCancelWorkflow


@dataclass(slots=True)
class Activation:
    """A batch of jobs delivered to a workflow instance at one point of history time."""

    timestamp: float
    """History time of the activation (seconds since the epoch); `wfkit.now()` reads it."""
    jobs: list[Job]
    replaying: bool = False
    """True while the instance is rebuilt from recorded history."""
    recorded_markers: list[dict[str, Any]] = field(default_factory=list)
    """Markers recorded by the original run of this activation (side effects, patches), in order."""


# #### Commands (workflow -> engine) ####


@dataclass(frozen=True, slots=True)
class ScheduleActivity:
    """Run an activity."""

    seq: int
    activity_type: str
    args: list[Payload]
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestCancelActivity:
    """Cancel a scheduled or running activity."""

    seq: int


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Start a durable timer."""

    seq: int
    duration: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel a durable timer that has not fired."""

    seq: int


@dataclass(frozen=True, slots=True)
class StartChildWorkflow:
    """Start a child workflow run."""

    seq: int
    workflow_type: str
    workflow_id: str
    args: list[Payload]
    task_queue: str | None = None


@dataclass(frozen=True, slots=True)
class RecordMarker:
    """Record a value in history (side effects, version patches)."""

    name: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CompleteWorkflow:
    """The workflow returned."""

    result: Payload


@dataclass(frozen=True, slots=True)
class FailWorkflow:
    """The workflow raised."""

    failure: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CancelWorkflow:
    """The workflow ended by cancellation."""

    details: str = ""


@dataclass(frozen=True, slots=True)
class ContinueAsNew:
    """The workflow asked to start over as a new run with new arguments."""

    args: list[Payload]


Command = (
    ScheduleActivity
    | RequestCancelActivity
    | StartTimer
    | CancelTimer
    | StartChildWorkflow
    | RecordMarker
    | CompleteWorkflow
    | FailWorkflow
    | CancelWorkflow
    | ContinueAsNew
)
