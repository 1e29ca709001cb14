"""What the engine feeds a workflow (activations and their jobs) and what it gets back (commands)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wfkit._history._payload import Payload

__all__ = [
    "AcceptUpdate",
    "Activation",
    "CancelTimer",
    "CancelWorkflow",
    "Command",
    "CompleteUpdate",
    "CompleteWorkflow",
    "ContinueAsNew",
    "DoUpdate",
    "FailWorkflow",
    "FireTimer",
    "Job",
    "RecordMarker",
    "RejectUpdate",
    "RequestCancelActivity",
    "RequestCancelExternal",
    "RequestCancelWorkflow",
    "ResolveActivity",
    "ResolveChild",
    "ResolveExternal",
    "ScheduleActivity",
    "ScheduleLocalActivity",
    "SignalExternal",
    "SignalWorkflow",
    "StartChildWorkflow",
    "StartTimer",
    "StartWorkflow",
    "UNCHECKED_COMMANDS",
    "UpsertMemo",
    "UpsertSearchAttributes",
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


@dataclass(frozen=True, slots=True)
class DoUpdate:
    """An update request: validate it, then (if accepted) run its handler."""

    update_id: str
    name: str
    args: list[Payload]


@dataclass(frozen=True, slots=True)
class ResolveExternal:
    """A signal or cancel request to another workflow was delivered (`outcome` "completed") or could not be ("failed")."""

    seq: int
    outcome: str
    failure: dict[str, Any] | None = None


Job = StartWorkflow | SignalWorkflow | ResolveActivity | FireTimer | ResolveChild | RequestCancelWorkflow | DoUpdate | ResolveExternal


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
    local_results: list[dict[str, Any]] = field(default_factory=list)
    """Local activities that ended, as the attributes of their `LocalActivity` markers: live, from the
    engine; on replay, the task's recorded markers. The instance resolves each call from its marker
    and records the marker again (a command), so history holds the marker and nothing else."""


# #### Commands (workflow -> engine) ####


@dataclass(frozen=True, slots=True)
class ScheduleActivity:
    """Run an activity."""

    seq: int
    activity_type: str
    args: list[Payload]
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScheduleLocalActivity:
    """Run a local activity: the engine runs it (retrying as its policy says) without recording anything
    until its final outcome, which comes back in `Activation.local_results`. Not a `Command`: it has no event."""

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
class SignalExternal:
    """Signal another workflow (`SignalExternalWorkflowExecutionInitiated`); `run_id` None: its open run."""

    seq: int
    workflow_id: str
    run_id: str | None
    signal_name: str
    args: list[Payload]


@dataclass(frozen=True, slots=True)
class RequestCancelExternal:
    """Ask another workflow to cancel (`RequestCancelExternalWorkflowExecutionInitiated`); `run_id` None: its open run."""

    seq: int
    workflow_id: str
    run_id: str | None


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


@dataclass(frozen=True, slots=True)
class AcceptUpdate:
    """The update passed its validator: its handler runs now (`WorkflowExecutionUpdateAccepted`)."""

    update_id: str
    name: str
    args: list[Payload]


@dataclass(frozen=True, slots=True)
class CompleteUpdate:
    """The update's handler returned (`result`) or raised (`failure`): `WorkflowExecutionUpdateCompleted`."""

    update_id: str
    result: Payload | None = None
    failure: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RejectUpdate:
    """No handler, or its validator raised: the caller gets `failure` and history records nothing, as in Temporal."""

    update_id: str
    failure: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpsertSearchAttributes:
    """Set search attributes of the run (`UpsertWorkflowSearchAttributes`); not checked on replay, as in Temporal's SDKs."""

    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpsertMemo:
    """Set memo fields of the run (`WorkflowPropertiesModified`); not checked on replay."""

    memo: dict[str, Any]


UNCHECKED_COMMANDS = (UpsertSearchAttributes, UpsertMemo)
"""Commands a replay does not compare with history (an SDK may add upserts of its own, e.g. temporalio's patches)."""


Command = (
    ScheduleActivity
    | RequestCancelActivity
    | StartTimer
    | CancelTimer
    | StartChildWorkflow
    | SignalExternal
    | RequestCancelExternal
    | RecordMarker
    | CompleteWorkflow
    | FailWorkflow
    | CancelWorkflow
    | ContinueAsNew
    | AcceptUpdate
    | CompleteUpdate
    | RejectUpdate
    | UpsertSearchAttributes
    | UpsertMemo
)


# #### Construction speed ####

_T = TypeVar("_T")


def _fill_slots_directly(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted dataclass an `__init__` that writes its slots through their descriptors.

    The `__init__` dataclasses generates for a frozen class calls `object.__setattr__` once per
    field; a job and a command are made for every workflow step and again for every replayed
    one, and that is a fifth of replaying a simple history. Same parameters, defaults and
    annotations; the instances stay frozen (only `__init__` bypasses `__setattr__`, as before).
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    namespace: dict[str, Any] = {}
    params = []
    for f in fields:
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in fields)
    exec(f"def __init__(self, {', '.join(params)}):\n{body}", namespace)  # as dataclasses itself builds __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


_FROZEN: tuple[type[Any], ...] = (
    StartWorkflow,
    SignalWorkflow,
    ResolveActivity,
    FireTimer,
    ResolveChild,
    RequestCancelWorkflow,
    DoUpdate,
    ResolveExternal,
    ScheduleActivity,
    ScheduleLocalActivity,
    RequestCancelActivity,
    StartTimer,
    CancelTimer,
    StartChildWorkflow,
    SignalExternal,
    RequestCancelExternal,
    RecordMarker,
    CompleteWorkflow,
    FailWorkflow,
    CancelWorkflow,
    ContinueAsNew,
    AcceptUpdate,
    CompleteUpdate,
    RejectUpdate,
    UpsertSearchAttributes,
    UpsertMemo,
)
for _cls in _FROZEN:
    _fill_slots_directly(_cls)
