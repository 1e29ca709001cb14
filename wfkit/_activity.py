"""What an activity can learn about itself while it runs: `wfkit.activity_info()` and `wfkit.heartbeat()`."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wfkit.errors import WfkitError

__all__ = ["ActivityInfo", "activity_info", "heartbeat"]


@dataclass(frozen=True, slots=True)
class ActivityInfo:
    """Facts about the activity attempt that is running."""

    activity_type: str
    """The registered name of the activity."""
    activity_id: int
    """The activity's sequence number within its workflow run."""
    attempt: int
    """1 for the first attempt; higher after a failure, timeout or engine restart."""
    workflow_id: str
    """The calling workflow's id."""
    run_id: str
    """The calling workflow run's id."""
    idempotency_key: str
    """Stable across attempts: use it to make side effects safe to repeat (activities run at least once)."""
    heartbeat_details: Any = None
    """The details given to the last `heartbeat()` of an earlier attempt, to resume from."""


@dataclass(slots=True)
class _ActivityContext:
    info: ActivityInfo
    clock: Callable[[], float]
    """The engine clock's `now`, so heartbeat timeouts follow a FakeClock too."""
    last_heartbeat: float = 0.0
    details: Any = None
    services: Any = None
    """The engine part that carries out wfkit's own activities (the schedules'), if any."""

    def __post_init__(self) -> None:
        self.last_heartbeat = self.clock()


_current: contextvars.ContextVar[_ActivityContext | None] = contextvars.ContextVar("wfkit_activity", default=None)


def activity_info() -> ActivityInfo:
    """The running activity's `ActivityInfo`; raises `WfkitError` outside an activity run by an engine."""
    ctx = _current.get()
    if ctx is None:
        raise WfkitError("wfkit.activity_info() can only be called inside an activity run by a wfkit engine")
    return ctx.info


def service() -> Any:
    """The engine part behind wfkit's built-in activities; raises `WfkitError` outside an engine."""
    ctx = _current.get()
    if ctx is None or ctx.services is None:
        raise WfkitError("wfkit's built-in activities only run inside a wfkit engine")
    return ctx.services


def heartbeat(details: Any = None) -> None:
    """Tell the engine the activity is alive (resets its heartbeat timeout); `details` are kept for a retry.

    Outside an engine-run activity (for example when unit-testing the function) it does nothing.
    """
    ctx = _current.get()
    if ctx is not None:
        ctx.last_heartbeat = ctx.clock()
        ctx.details = details
