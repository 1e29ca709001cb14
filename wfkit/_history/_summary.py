"""`RunSummary`: one run at a glance, as monitors, status cards and `describe()` show it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RunSummary"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A run's status and progress (from `WorkflowHandle.describe()` and `Engine.run_summaries()`)."""

    run_id: str
    """The run id."""
    workflow_id: str
    """The workflow id."""
    workflow_type: str
    """The workflow's registered name."""
    status: str
    """Running, Completed, Failed, Canceled, Terminated or ContinuedAsNew (imported runs may have others)."""
    start_time: float | None
    """Seconds since the epoch."""
    close_time: float | None = None
    """Seconds since the epoch; None while the run is open."""
    history_length: int | None = None
    """Events recorded so far."""
    elapsed: float | None = None
    """Seconds from start to close (to now for an open run)."""
    task_queue: str | None = None
    """The default queue of its activities."""
    parent_workflow_id: str | None = None
    """The parent's workflow id, for a child workflow."""
    current_activities: tuple[str, ...] = ()
    """Types of the activities open right now (open runs only)."""
    activities_done: int | None = None
    """Activities completed so far (open runs only)."""
    activities_total: int | None = None
    """Activities completed plus open (open runs only)."""
    waiting_for_code: bool = False
    """The run's workflow type is not registered in this process: it waits untouched until it is."""
    blocked: str | None = None
    """Why the run is stopped (a nondeterminism error, blocked workflow code) until fixed code is registered."""
    queued: str | None = None
    """The concurrency limits a queued run waits for, e.g. 'warehouse (2 of 2 running)'; None once it runs."""
    search_attributes: Mapping[str, Any] | None = None
    """The run's search attributes (filled in by `Engine.list`; None where not looked up)."""
    memo: Mapping[str, Any] | None = None
    """The run's memo (filled in by `Engine.list`; None where not looked up)."""

    @classmethod
    def from_row(cls, row: dict[str, Any], now: float) -> RunSummary:
        """A closed (or not loaded) run from its `workflows` row."""
        start, close = row.get("start_time"), row.get("close_time")
        return cls(
            run_id=str(row["run_id"]),
            workflow_id=str(row["workflow_id"]),
            workflow_type=str(row["workflow_type"]),
            status=str(row["status"]),
            start_time=start,
            close_time=close,
            history_length=row.get("history_length"),
            elapsed=None if start is None else (close if close is not None else now) - start,
            task_queue=row.get("task_queue"),
            parent_workflow_id=row.get("parent_workflow_id"),
        )
