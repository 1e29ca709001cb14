"""Notebook widgets (ipywidgets 8 and plotly FigureWidget): launch runs, watch them, step through their histories.

```python
wfkit.ui.launcher(engine)            # a form per registered workflow
wfkit.ui.monitor(engine)             # live table of runs, progress, timeline, actions
wfkit.ui.debugger(engine, "etl-1")   # step through a run's history against its code
```
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from wfkit._engine._handle import WorkflowHandle
from wfkit._replay._session import ReplaySession
from wfkit.errors import WfkitError
from wfkit.ui._debugger import Debugger
from wfkit.ui._launcher import Launcher, WorkflowForm, launcher
from wfkit.ui._monitor import Monitor, StatusCard
from wfkit.ui._source import RunSource

__all__ = ["Debugger", "Launcher", "Monitor", "RunSource", "StatusCard", "WorkflowForm", "debugger", "launcher", "monitor", "status_card"]


def monitor(engine: RunSource, *, refresh: float = 0.5, limit: int = 50) -> Monitor:
    """A live table of runs (status, type, start, duration, current activity), refreshed every `refresh` seconds
    without blocking the kernel, with a progress bar per running workflow; selecting a run shows its timeline
    and buttons to debug, signal, cancel and fork it."""
    return Monitor(engine, refresh=refresh, limit=limit)


def debugger(source: Any, workflow_id: str | None = None, *, workflows: Any = None, run_id: str | None = None) -> w.Widget:
    """The replay debugger: `debugger(engine, "etl-1")`, or `debugger(history, workflows=[etl])`.

    A run that does not exist gives a readable message in place of the widget, not a traceback.
    """
    try:
        if hasattr(source, "history") and hasattr(source, "registry"):
            history = source.history(workflow_id, run_id=run_id)
            code = list(workflows) if workflows is not None else list(source.registry.workflows().values())
        else:
            history, code = source, list(workflows or [])
        return Debugger(ReplaySession(history, workflows=code))
    except (WfkitError, ValueError) as exc:
        return w.HTML(f"<div style='color:#b71c1c'><b>wfkit debugger:</b> {html.escape(str(exc))}</div>")


def status_card(handle: WorkflowHandle) -> StatusCard:
    """A small live status card of a run (type, id, status, current activity, elapsed)."""
    return StatusCard(handle)
