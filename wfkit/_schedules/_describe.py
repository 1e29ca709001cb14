"""What a schedule looks like from its scheduler's state: `ScheduleDescription`, live or from a history.

The engine asks a running scheduler for its state (a query); a reader without an engine (the CLI,
`Histories.schedules()`, a second notebook over live reads) replays the scheduler's history with
the same code and asks the replayed instance the same query: a history is all there is to know.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wfkit._history._events import Event, EventType
from wfkit._history._payload import JsonConverter
from wfkit._runtime._driver import instance_for_history, replay_into
from wfkit._schedules._spec import ScheduleSpec
from wfkit._schedules._workflows import STATE_QUERY, fire, schedule_workflow

__all__ = ["ScheduleDescription", "describe_state", "firings_from_history", "state_from_history"]

UTC = datetime.timezone.utc


@dataclass(frozen=True)
class ScheduleDescription:
    """What `ScheduleHandle.describe()` reports."""

    id: str
    workflow: str
    spec: str
    """'cron 0 2 * * * (Europe/Berlin)' or 'every 15m'."""
    overlap: str
    paused: bool
    note: str
    next_fire_times: list[datetime.datetime]
    """The next 5 fire times (UTC; empty while paused or once the schedule has ended)."""
    recent: list[dict[str, Any]]
    """The latest firings, oldest first: scheduled_time, action ('started', 'buffered' or 'skipped'), workflow_id, run_id or reason."""
    running: list[str]
    """Workflow ids of runs it started that are still running."""
    firings: int
    """Firings so far (started and skipped)."""

    @property
    def last(self) -> dict[str, Any] | None:
        """The latest firing, if any."""
        return self.recent[-1] if self.recent else None

    @property
    def next_fire_time(self) -> datetime.datetime | None:
        """The next fire time, if any."""
        return self.next_fire_times[0] if self.next_fire_times else None

    def last_result(self) -> str:
        """'started nightly-2026-12-01T01:00:00Z', 'skipped: ... still running (overlap=skip)' or 'never fired'."""
        last = self.last
        if last is None:
            return "never fired"
        if last["action"] == "skipped":
            return f"skipped: {last.get('reason', '')}"
        return f"{last['action']} {last.get('workflow_id') or ''}".rstrip()

    def __str__(self) -> str:
        head = f"schedule {self.id}: {self.workflow} {self.spec}, overlap={self.overlap}" + (" (paused)" if self.paused else "")
        upcoming = ", ".join(t.strftime("%Y-%m-%d %H:%M:%SZ") for t in self.next_fire_times) or "none"
        return f"{head}\n  next: {upcoming}\n  last: {self.last_result()} ({self.firings} firings)"


def describe_state(state: dict[str, Any], now: float, is_open: Callable[[str], bool]) -> ScheduleDescription:
    """The description of a scheduler's state at time `now`; `is_open(workflow_id)` says which runs still run."""
    spec = ScheduleSpec.from_dict(state["spec"])
    upcoming = [] if state["paused"] else spec.upcoming(max(state["cursor"], now), 5)
    return ScheduleDescription(
        id=state["id"],
        workflow=state["workflow"],
        spec=spec.describe(),
        overlap=state["overlap"],
        paused=state["paused"],
        note=state["note"],
        next_fire_times=[datetime.datetime.fromtimestamp(t, UTC) for t in upcoming],
        recent=list(state["recent"]),
        running=[w for w in state["running"] if is_open(w)],
        firings=state["firings"],
    )


def state_from_history(events: Sequence[Event], run_id: str) -> dict[str, Any]:
    """The state of the scheduler run whose history is `events`, by replaying it."""
    instance = instance_for_history(schedule_workflow, events, converter=JsonConverter(), run_id=run_id)
    replay_into(instance, events, run_id)
    state: dict[str, Any] = instance.query(STATE_QUERY, ())
    return state


def firings_from_history(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Every firing a scheduler's history records, in order: the results of its `wfkit.schedule.fire` activities.

    Each is a dict with scheduled_time (ISO), action ('started', 'buffered' or 'skipped'), workflow_id,
    and run_id or reason.
    """
    fire_ids = {e.event_id for e in events if e.event_type is EventType.ActivityTaskScheduled and e.attributes.get("activity_type") == fire.name}
    converter = JsonConverter()
    firings = []
    for event in events:
        result = event.attributes.get("result")
        if event.event_type is EventType.ActivityTaskCompleted and event.attributes.get("scheduled_event_id") in fire_ids and isinstance(result, dict):
            outcome = converter.from_payload(result, Any)
            if isinstance(outcome, dict):
                firings.append(outcome)
    return firings
