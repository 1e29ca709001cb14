"""HTML snippets shared by notebook reprs, widgets and reports. Every piece of payload text is escaped."""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wfkit._history._summary import RunSummary

__all__ = ["attributes_html", "comparison_html", "escape", "events_table_html", "frames_html", "locals_html", "pending_html", "status_card_html"]

STYLE = (
    "<style>.wfkit-t{border-collapse:collapse;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}"
    ".wfkit-t td,.wfkit-t th{border-bottom:1px solid #e0e0e0;padding:2px 8px;text-align:left;vertical-align:top}"
    ".wfkit-t tr.cur{background:#fff59d}.wfkit-card{font:13px sans-serif;border:1px solid #cfd8dc;border-radius:6px;padding:6px 10px;display:inline-block}"
    ".wfkit-muted{color:#78909c}.wfkit-err{color:#b71c1c}</style>"
)


def escape(value: Any, limit: int | None = None) -> str:
    """HTML-escaped text of `value`, cut to `limit` characters first."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def events_table_html(events: Sequence[Any], *, current: int | None = None, limit: int = 200) -> str:
    """A compact table of events (id, time, type, short attributes); the `current` event id highlighted."""
    rows = []
    shown = events if len(events) <= limit else events[:limit]
    for event in shown:
        attrs = {k: v for k, v in event.attributes.items() if k not in ("input", "result", "failure", "retry_policy") and v is not None}
        summary = ", ".join(f"{k}={v}" for k, v in attrs.items())
        css = ' class="cur"' if event.event_id == current else ""
        rows.append(
            f"<tr{css}><td>{event.event_id}</td><td>{_time(event.event_time)}</td><td>{escape(event.event_type.value)}</td><td>{escape(summary, 120)}</td></tr>"
        )
    more = f'<tr><td colspan="4" class="wfkit-muted">… {len(events) - limit} more events</td></tr>' if len(events) > limit else ""
    return f'{STYLE}<table class="wfkit-t"><tr><th>id</th><th>time</th><th>event</th><th>attributes</th></tr>{"".join(rows)}{more}</table>'


def attributes_html(attributes: dict[str, Any]) -> str:
    """An event's attributes as escaped, indented JSON."""
    return f"<pre style='font-size:12px;white-space:pre-wrap'>{escape(json.dumps(attributes, indent=2, default=str), 20_000)}</pre>"


def frames_html(tasks: Iterable[Any], *, show_internal: bool = False) -> str:
    """The coroutine stacks of a snapshot: per task, its frames (function, file:line, source line) and what it awaits."""
    parts = [STYLE]
    for task in tasks:
        frames = [f for f in task.frames if show_internal or not f.internal]
        lines = "".join(
            f"<tr><td>{escape(f.function)}</td><td class='wfkit-muted'>{escape(f.filename.rsplit('/', 1)[-1])}:{f.lineno}</td>"
            f"<td>{escape(f.source, 160)}</td></tr>"
            for f in frames
        )
        title = f"{'▶ ' if task.is_main else ''}{escape(task.name)} — waiting for {escape(task.awaiting)}"
        parts.append(f"<div><b>{title}</b>{f'<table class=wfkit-t>{lines}</table>' if lines else ''}</div>")
    if len(parts) == 1:
        parts.append("<i class='wfkit-muted'>no workflow code is running here</i>")
    return "".join(parts)


def locals_html(tasks: Sequence[Any]) -> str:
    """The local variables of the innermost user frame of each task."""
    parts = [STYLE]
    for task in tasks:
        user = [f for f in task.frames if not f.internal]
        if not user:
            continue
        frame = user[-1]
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in frame.locals.items())
        parts.append(f"<div><b>{escape(frame.function)}</b> ({escape(task.name)})<table class='wfkit-t'>{rows}</table></div>")
    if len(parts) == 1:
        parts.append("<i class='wfkit-muted'>no local variables at this point</i>")
    return "".join(parts)


def pending_html(pending: Sequence[Any], received: Sequence[tuple[str, str]] = ()) -> str:
    """What the workflow waits for, and the values it received so far."""
    rows = "".join(f"<tr><td>{escape(p.kind)}</td><td>{escape(p.id)}</td><td>{escape(p.description)}</td></tr>" for p in pending)
    got = "".join(f"<tr><td>{escape(source)}</td><td>{escape(value)}</td></tr>" for source, value in received[-20:])
    return (
        f"{STYLE}<b>pending</b><table class='wfkit-t'>{rows or '<tr><td class=wfkit-muted>nothing</td></tr>'}</table>"
        f"<b>received</b><table class='wfkit-t'>{got or '<tr><td class=wfkit-muted>nothing yet</td></tr>'}</table>"
    )


def status_card_html(summary: RunSummary) -> str:
    """A small card: type, id, status, current activity, elapsed."""
    status = summary.status
    color = {"Running": "#1565c0", "Completed": "#2e7d32", "Failed": "#c62828"}.get(status, "#616161")
    current = f"queued for {summary.queued}" if summary.queued else ", ".join(summary.current_activities) or "—"
    elapsed_text = f"{summary.elapsed:.1f}s" if summary.elapsed is not None else ""
    length = "" if summary.history_length is None else summary.history_length
    return (
        f"{STYLE}<div class='wfkit-card'><b>{escape(summary.workflow_type)}</b> "
        f"<span class='wfkit-muted'>{escape(summary.workflow_id)}</span><br>"
        f"<span style='color:{color};font-weight:bold'>{escape(status)}</span> · current: {escape(current)} · {elapsed_text} · "
        f"{escape(length)} events</div>"
    )


#: How a fork's step came to be, coloured in comparisons (`in_b` of `Histories.compare`).
IN_B_COLORS = {"reused": "#78909c", "edited": "#d81b60", "ran": "#1565c0"}


def comparison_html(rows: Sequence[dict[str, Any]], run_a: str, run_b: str, *, limit: int = 500) -> str:
    """`Histories.compare(a, b)` as a table: per step, its status in both runs, what became of it in `run_b`
    (reused, edited or ran), both results and a short diff; rows whose results differ are highlighted."""
    head = "<tr><th>step</th><th>#</th><th>status in A</th><th>status in B</th><th>in B</th><th>result in A</th><th>result in B</th><th>difference</th></tr>"
    body = []
    for row in rows[:limit]:
        in_b = row.get("in_b")
        badge = f"<b style='color:{IN_B_COLORS.get(str(in_b), '#000')}'>{escape(in_b)}</b>" if in_b else ""
        differs = bool(row.get("result_diff")) or "status" in (row.get("differences") or [])
        css = ' class="cur"' if differs else ""
        cells = [escape(row.get("activity_type")), escape(row.get("occurrence")), escape(row.get("status_a") or "—"), escape(row.get("status_b") or "—"), badge]
        cells += [escape(row.get("result_a") or row.get("failure_a") or "", 90), escape(row.get("result_b") or row.get("failure_b") or "", 90)]
        cells.append(escape(row.get("result_diff") or ", ".join(row.get("differences") or []), 160))
        wrap = "<td style='max-width:260px;overflow-wrap:anywhere'>"
        body.append(f"<tr{css}>" + "".join(f"{wrap}{c}</td>" if i >= 5 else f"<td>{c}</td>" for i, c in enumerate(cells)) + "</tr>")
    counts = {k: sum(1 for r in rows if r.get("in_b") == k) for k in IN_B_COLORS}
    summary = " · ".join(f"<span style='color:{IN_B_COLORS[k]}'>{n} {k}</span>" for k, n in counts.items() if n)
    differing = sum(1 for r in rows if r.get("result_diff"))
    more = f'<tr><td colspan="8" class="wfkit-muted">… {len(rows) - limit} more steps</td></tr>' if len(rows) > limit else ""
    title = f"<div>A = run <code>{escape(run_a)}</code>, B = run <code>{escape(run_b)}</code>: {summary or 'no steps'}; {differing} result(s) differ</div>"
    return f'{STYLE}{title}<table class="wfkit-t">{head}{"".join(body)}{more}</table>'
