"""Notebook widgets (ipywidgets 8 and plotly FigureWidget): launch runs, watch them, step through their histories.

```python
wfkit.ui.launcher(engine)            # a form per registered workflow
wfkit.ui.monitor(engine)             # live table of runs, progress, timeline, actions
wfkit.ui.debugger(engine, "etl-1")   # step through a run's history against its code
wfkit.ui.compare(engine, "etl-1", fork.run_id)  # a run and its (what-if) fork side by side
```
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import plotly.graph_objects as go

from wfkit._engine._engine import Engine
from wfkit._engine._handle import WorkflowHandle
from wfkit._html import comparison_html
from wfkit._replay._session import ReplaySession
from wfkit.errors import WfkitError
from wfkit.plot import timeline
from wfkit.ui._debugger import Debugger
from wfkit.ui._launcher import Launcher, WorkflowForm, launcher
from wfkit.ui._monitor import Monitor, StatusCard
from wfkit.ui._source import RunSource

__all__ = ["Debugger", "Launcher", "Monitor", "RunSource", "StatusCard", "WorkflowForm", "compare", "debugger", "launcher", "monitor", "status_card"]


def monitor(engine: RunSource, *, refresh: float = 0.5, limit: int = 50) -> Monitor:
    """A live table of runs (status, type, start, duration, current activity), refreshed every `refresh` seconds
    without blocking the kernel, with a progress bar per running workflow; selecting a run shows its timeline
    and buttons to debug, signal, cancel and fork it."""
    return Monitor(engine, refresh=refresh, limit=limit)


def debugger(source: Any, workflow_id: str | None = None, *, workflows: Any = None, run_id: str | None = None) -> w.Widget:
    """The replay debugger: `debugger(engine, "etl-1")`, or `debugger(history, workflows=[etl])`.

    Over an engine the widget can also fork the run from the event shown and save it as a test.
    A run that does not exist gives a readable message in place of the widget, not a traceback.
    """
    try:
        if hasattr(source, "history") and hasattr(source, "registry"):
            history = source.history(workflow_id, run_id=run_id)
            code = list(workflows) if workflows is not None else list(source.registry.workflows().values())
        else:
            history, code = source, list(workflows or [])
        return Debugger(ReplaySession(history, workflows=code), engine=source if isinstance(source, Engine) else None)
    except (WfkitError, ValueError) as exc:
        return w.HTML(f"<div style='color:#b71c1c'><b>wfkit debugger:</b> {html.escape(str(exc))}</div>")


def status_card(handle: WorkflowHandle) -> StatusCard:
    """A small live status card of a run (type, id, status, current activity, elapsed)."""
    return StatusCard(handle)


def compare(source: Any, run_a: str, run_b: str) -> w.Widget:
    """Two runs side by side (`source` is an engine or `Histories`): a table of their steps, which were reused,
    edited or re-ran in `run_b` and which results differ, above both runs' timelines in one chart."""
    histories = source.histories if isinstance(source, Engine) else source
    try:
        rows = histories.compare_rows(run_a, run_b)
        a, b = histories.resolve(run_a), histories.resolve(run_b)
        both = [histories.history(run_id=a), histories.history(run_id=b)]
    except (WfkitError, ValueError) as exc:
        return w.HTML(f"<div style='color:#b71c1c'><b>wfkit compare:</b> {html.escape(str(exc))}</div>")
    return w.VBox([w.HTML(comparison_html(rows, a, b)), go.FigureWidget(timeline(both, title="A (top) and B"))])
