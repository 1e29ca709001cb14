"""A schedule's firings on a timeline: one marker per firing at its scheduled time, by what it did."""

from __future__ import annotations

import datetime
import html
from typing import Any

import plotly.graph_objects as go

from wfkit._history._history import History
from wfkit._schedules._describe import firings_from_history

__all__ = ["firings"]

_COLORS = {"started": "#2e7d32", "buffered": "#1565c0", "skipped": "#ef6c00"}


def firings(history: History) -> go.Figure:
    """The firings a scheduler's history (`schedule/<id>`) records, at their scheduled times (UTC)."""
    rows = firings_from_history(history.events)
    figure = go.Figure()
    for action, color in _COLORS.items():
        chosen = [r for r in rows if r.get("action") == action]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                x=[datetime.datetime.fromisoformat(str(r["scheduled_time"]).replace("Z", "+00:00")) for r in chosen],
                y=[action] * len(chosen),
                mode="markers",
                name=f"{action} ({len(chosen)})",
                marker={"color": color, "size": 10, "symbol": "diamond" if action == "skipped" else "circle"},
                hovertext=[_hover(r) for r in chosen],
                hoverinfo="text",
            )
        )
    title = f"firings of {history.workflow_id or 'the schedule'}" + ("" if rows else " (none yet)")
    figure.update_layout(title=title, height=260, margin={"l": 80, "r": 20, "t": 40, "b": 40}, xaxis_title="scheduled time (UTC)", showlegend=True)
    return figure


def _hover(firing: dict[str, Any]) -> str:
    detail = firing.get("workflow_id") or firing.get("reason") or ""
    return html.escape(f"{firing.get('scheduled_time')} {firing.get('action')}: {detail}")
