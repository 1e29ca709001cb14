"""Small helpers shared by tests in several folders."""

from __future__ import annotations

import wfkit


def event_types(history: wfkit.History) -> list[str]:
    """The event type names of a history, in order."""
    return [e.event_type.value for e in history]
