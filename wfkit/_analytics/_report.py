"""A run as one self-contained HTML file: summary, timeline, activity graph, attempts and history.

Everything is inline (plotly's JavaScript included), so the file opens offline and can be mailed.
Every piece of text that comes from a history (ids, types, payloads, failure messages) is
HTML-escaped, and the figures' JSON has `<`, `>` and `&` escaped, so a payload can never add
markup or a script to the page.
"""

from __future__ import annotations

import datetime
import html
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wfkit._analytics._queries import Source, run_activities, run_summary
from wfkit._history._history import History
from wfkit._html import comparison_html
from wfkit._schedules._describe import firings_from_history
from wfkit._version import __version__

__all__ = ["render_comparison", "render_report", "write_comparison", "write_report"]

_MAX_TEXT = 3000


def write_report(source: Source, run_id: str, path: str | os.PathLike[str], history: History) -> Path:
    """Write the report of run `run_id` (whose events are `history`) to `path`; returns the path."""
    page = render_report(history, run_summary(source, run_id), run_activities(source, run_id))
    target = Path(path)
    target.write_text(page, encoding="utf-8")
    return target


def write_comparison(rows: Sequence[dict[str, Any]], run_a: str, run_b: str, path: str | os.PathLike[str]) -> Path:
    """Write `Histories.compare(run_a, run_b)`'s rows as a self-contained HTML page; returns the path."""
    target = Path(path)
    target.write_text(render_comparison(rows, run_a, run_b), encoding="utf-8")
    return target


def render_comparison(rows: Sequence[dict[str, Any]], run_a: str, run_b: str) -> str:
    """Two runs side by side (which steps were reused, edited and re-run, which results differ) as an HTML page."""
    title = f"wfkit: run {run_a} vs run {run_b}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head><body>",
            f"<h1>{_e(title)}</h1>",
            comparison_html(rows, run_a, run_b),
            f"<footer>written by wfkit {_e(__version__)} at {_e(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))}</footer>",
            "</body></html>",
        ]
    )


def render_report(history: History, summary: dict[str, Any], activities: Sequence[dict[str, Any]]) -> str:
    """The report as an HTML string."""
    figures, notes = _figures(history)
    title = f"wfkit run {summary.get('workflow_id') or history.workflow_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{_e(title)} <span class='status {_e(str(summary.get('status', '')).lower())}'>{_e(summary.get('status'))}</span></h1>",
        "<h2>Summary</h2>",
        _summary_table(summary),
        *_firings_section(history, figures, notes),
        "<h2>Timeline</h2>",
        _figure_block("timeline", figures, notes),
        "<h2>Activity graph</h2>",
        _figure_block("graph", figures, notes),
        f"<h2>Activity attempts <small>({len(activities)})</small></h2>",
        _activities_table(activities),
        f"<h2>History <small>({len(history)} events)</small></h2>",
        _history_table(history),
        f"<footer>written by wfkit {_e(__version__)} at {_e(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))}</footer>",
    ]
    if figures:
        from plotly.offline import get_plotlyjs  # plotly loads only when a report is written

        parts.append(f"<script>{get_plotlyjs()}</script>")
        calls = "\n".join(
            f"Plotly.newPlot('fig-{name}', fig_{name}.data || [], fig_{name}.layout || {{}}, {{responsive: true, displaylogo: false}});" for name in figures
        )
        data = "\n".join(f"var fig_{name} = {_script_json(text)};" for name, text in figures.items())
        parts.append(f"<script>\n{data}\n{calls}\n</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _figures(history: History) -> tuple[dict[str, str], dict[str, str]]:
    """Plotly figures as JSON text, by name; and notes for figures that could not be drawn."""
    try:
        import wfkit.plot as plot  # the plotting layer (and plotly) loads only when a report is written
    except ImportError as exc:
        note = f"figures are unavailable: {exc}"
        return {}, {"timeline": note, "graph": note}
    figures: dict[str, str] = {}
    drawings: list[tuple[str, Callable[[History], Any]]] = [("timeline", plot.timeline), ("graph", plot.graph)]
    if _is_schedule(history):
        drawings.append(("firings", plot.firings))
    for name, draw in drawings:
        figure = draw(history)
        figures[name] = figure.to_json() if hasattr(figure, "to_json") else json.dumps(figure)
    return figures, {}


def _is_schedule(history: History) -> bool:
    return bool(history.events) and history.events[0].attributes.get("workflow_type") == "wfkit.schedule"


def _firings_section(history: History, figures: dict[str, str], notes: dict[str, str]) -> list[str]:
    """For a schedule's scheduler run: its firings on a timeline and in a table."""
    if not _is_schedule(history):
        return []
    rows = firings_from_history(history.events)
    cells = "".join(
        "<tr>" + "".join(f"<td>{_e(r.get(key) or '')}</td>" for key in ("scheduled_time", "action", "workflow_id", "reason")) + "</tr>" for r in rows
    )
    table = f"<table><tr><th>scheduled time</th><th>action</th><th>workflow id</th><th>reason</th></tr>{cells}</table>"
    return [f"<h2>Firings <small>({len(rows)})</small></h2>", _figure_block("firings", figures, notes), table]


def _figure_block(name: str, figures: dict[str, str], notes: dict[str, str]) -> str:
    if name in figures:
        return f"<div id='fig-{name}' class='figure'></div>"
    return f"<p class='note'>{_e(notes.get(name, 'no figure'))}</p>"


def _script_json(text: str) -> str:
    """JSON made safe inside a <script> element: no `<`, `>` or `&` can end it or open a tag."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_SUMMARY_FIELDS = (
    ("workflow_id", "workflow id"),
    ("run_id", "run id"),
    ("workflow_type", "workflow type"),
    ("status", "status"),
    ("task_queue", "task queue"),
    ("start_time", "started"),
    ("close_time", "closed"),
    ("duration_s", "duration (s)"),
    ("event_count", "events"),
    ("activity_count", "activities"),
    ("activity_attempts", "activity attempts"),
    ("failed_attempts", "failed attempts"),
    ("timer_count", "timers"),
    ("signal_count", "signals"),
    ("child_count", "child workflows"),
    ("external_signal_count", "signals sent"),
    ("external_cancel_count", "cancel requests sent"),
    ("nexus_operation_count", "Nexus operations"),
    ("parent_workflow_id", "parent workflow"),
    ("continued_from_run_id", "continued from run"),
    ("forked_from_run_id", "forked from run"),
    ("input", "input"),
    ("result", "result"),
    ("failure_type", "failure type"),
    ("failure_message", "failure message"),
    ("reason", "reason"),
)


#: Counts the summary shows only when a run has some (most runs send no external requests and have no Nexus operations).
_ONLY_IF_ANY = frozenset({"external_signal_count", "external_cancel_count", "nexus_operation_count"})


def _summary_table(summary: dict[str, Any]) -> str:
    rows = [
        f"<tr><th>{_e(label)}</th><td>{_cell(summary.get(key))}</td></tr>"
        for key, label in _SUMMARY_FIELDS
        if (summary.get(key) is not None or key in ("status", "result")) and not (key in _ONLY_IF_ANY and not summary.get(key))
    ]
    return "<table class='summary'>" + "".join(rows) + "</table>"


_ACTIVITY_COLUMNS = (
    ("activity_id", "id"),
    ("activity_type", "activity"),
    ("attempt", "attempt"),
    ("status", "status"),
    ("task_queue", "queue"),
    ("started_time", "started"),
    ("queue_wait_s", "queue wait (s)"),
    ("duration_s", "duration (s)"),
    ("retry_state", "retry state"),
    ("failure_type", "failure"),
    ("failure_message", "message"),
    ("result", "result"),
)


def _activities_table(activities: Sequence[dict[str, Any]]) -> str:
    if not activities:
        return "<p class='note'>no activities</p>"
    head = "".join(f"<th>{_e(label)}</th>" for _, label in _ACTIVITY_COLUMNS)
    body = "".join(
        f"<tr class='{_e(str(row.get('status')))}'>" + "".join(f"<td>{_cell(row.get(key))}</td>" for key, _ in _ACTIVITY_COLUMNS) + "</tr>"
        for row in activities
    )
    return f"<table class='grid'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _history_table(history: History) -> str:
    start = history.events[0].event_time if history.events else 0.0
    rows = []
    for event in history:
        when = datetime.datetime.fromtimestamp(event.event_time, tz=datetime.timezone.utc).isoformat(timespec="microseconds")
        details = json.dumps(event.attributes, ensure_ascii=False, default=str)
        rows.append(
            f"<tr><td>{event.event_id}</td><td title='{_e(when)}'>+{event.event_time - start:.6f}</td>"
            f"<td>{_e(event.event_type.value)}</td><td><code>{_e(_truncate(details))}</code></td></tr>"
        )
    return (
        "<table class='grid'><thead><tr><th>id</th><th>time (s)</th><th>event</th><th>attributes</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "<span class='null'>&ndash;</span>"
    if isinstance(value, datetime.datetime):
        return _e(value.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds"))
    if isinstance(value, float):
        return _e(f"{value:.6g}")
    return _e(_truncate(str(value)))


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else f"{text[:_MAX_TEXT]}… ({len(text) - _MAX_TEXT} more characters)"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; } small { color: #656d76; font-weight: normal; }
table { border-collapse: collapse; } .grid { width: 100%; font-size: 12px; }
th, td { text-align: left; vertical-align: top; padding: 3px 8px; border-bottom: 1px solid #eaeef2; }
.summary th { color: #656d76; font-weight: normal; white-space: nowrap; }
code { white-space: pre-wrap; word-break: break-all; font-size: 11px; }
.status { font-size: .8rem; padding: 2px 8px; border-radius: 10px; background: #eaeef2; vertical-align: middle; }
.status.completed { background: #dafbe1; } .status.failed, .status.terminated { background: #ffebe9; } .status.running { background: #ddf4ff; }
tr.failed td, tr.timed_out td { background: #fff5f5; }
tr.lost td { background: #fffbea; } .null { color: #8c959f; } .note { color: #656d76; font-style: italic; }
.figure { min-height: 320px; } footer { margin-top: 3rem; color: #8c959f; font-size: 12px; }
"""
