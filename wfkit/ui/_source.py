"""`RunSource`: what the monitor widget reads runs from, satisfied by `wfkit.Engine` and `wfkit.Histories` alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from wfkit._history._history import History
from wfkit._history._summary import RunSummary

__all__ = ["RunSource"]


class RunSource(Protocol):
    """Recent runs and their histories (an engine, or histories opened read-only)."""

    @property
    def closed(self) -> bool:
        """True once the source can no longer be read."""
        ...

    def run_summaries(self, limit: int = 50) -> list[RunSummary]:
        """The most recent runs, newest first."""
        ...

    def list(self, *, search_attributes: Mapping[str, Any] | None = None, limit: int | None = 50) -> list[RunSummary]:
        """Runs whose search attributes match, newest first."""
        ...

    def history(self, workflow_id: str | None = None, *, run_id: str | None = None) -> History:
        """A run's events."""
        ...
