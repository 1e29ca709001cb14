"""`timeline`: a Gantt chart of one or several runs."""

from __future__ import annotations

import dataclasses
import datetime
import html
import json
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from wfkit._history._events import Event, EventType
from wfkit._history._history import History
from wfkit._history._local import LocalActivityMarker, read_local_activity
from wfkit._history._state import LOST_ATTEMPT
from wfkit._inspection import nexus_label

__all__ = ["OUTCOME_COLORS", "Attempt", "attempts", "nexus_bars", "preview", "timeline"]

E = EventType

OUTCOME_COLORS = {
    "completed": "#2e7d32",
    "failed": "#c62828",
    "timed_out": "#ef6c00",
    "canceled": "#757575",
    "running": "#1565c0",
    "lost": "#f9a825",
    "waiting": "#b0bec5",
    "fired": "#6a1b9a",
    "timer": "#8e24aa",
    "signal": "#00838f",
    "workflow task": "#9e9d24",
    "edited": "#d81b60",
}
"""Colours by outcome, shared by the timeline, the graph and the widgets."""

#: Above this many bars the timeline draws WebGL line segments instead of SVG bars.
WEBGL_THRESHOLD = 2000

_CLOSE_OUTCOME = {
    E.ActivityTaskCompleted: "completed",
    E.ActivityTaskFailed: "failed",
    E.ActivityTaskTimedOut: "timed_out",
    E.ActivityTaskCanceled: "canceled",
    E.ChildWorkflowExecutionCompleted: "completed",
    E.ChildWorkflowExecutionFailed: "failed",
    E.ChildWorkflowExecutionCanceled: "canceled",
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One bar of the timeline: an activity attempt (a child run, a Nexus operation), from queueing to its end."""

    run_id: str
    lane: str
    kind: str
    """"activity", "local" (a local activity: its final attempt, from its marker), "child" or "nexus" (a Nexus operation of an imported Temporal history)."""
    name: str
    attempt: int
    queued: float
    """When it became ready to start: scheduled, or the end of the previous attempt."""
    started: float | None
    ended: float | None
    outcome: str
    """completed, failed, timed_out, lost (with its engine: a crash or a close), canceled, or running (not closed in this history)."""
    detail: tuple[str, ...]
    """Short previews of the input and the result or failure, one per line (not yet HTML-escaped)."""
    edited: bool = False
    """True when a what-if fork replaced this attempt's recorded result or failure (its close event has `what_if`)."""

    @property
    def queue_wait(self) -> float:
        """Seconds between becoming ready and starting."""
        return (self.started - self.queued) if self.started is not None else 0.0

    @property
    def duration(self) -> float | None:
        """Seconds of execution, if it started and ended."""
        return self.ended - self.started if self.started is not None and self.ended is not None else None


def preview(value: Any, limit: int = 120) -> str:
    """A one-line preview of a payload or failure (for hover text; escape it before showing as HTML)."""
    if isinstance(value, dict) and "encoding" in value and "data" in value:
        value = value["data"]
    if isinstance(value, list) and value and all(isinstance(p, dict) and "data" in p for p in value):
        value = [p["data"] for p in value]
    if isinstance(value, dict) and "message" in value and "type" in value:
        text = f"{value['type']}: {value['message']}"
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def attempts(history: Any) -> list[Attempt]:
    """Every activity attempt, child run and Nexus operation of a history, in the order they were queued."""
    hist = History.coerce(history)
    bars: list[Attempt] = []
    activities: dict[int, dict[str, Any]] = {}
    children: dict[int, dict[str, Any]] = {}

    def close(state: dict[str, Any], ended: float | None, outcome: str, detail: tuple[str, ...], attempt: int = 1, edited: bool = False) -> None:
        bars.append(
            Attempt(hist.run_id, state["lane"], state["kind"], state["name"], attempt, state["queued"], state["started"], ended, outcome, detail, edited)
        )

    for event in hist.events:
        attrs, et = event.attributes, event.event_type
        if et is E.ActivityTaskScheduled:
            name = attrs.get("activity_type", "?")
            activities[int(attrs["activity_id"])] = {
                "lane": f"{html.escape(str(name))} #{attrs['activity_id']}", "kind": "activity", "name": name,
                "queued": event.event_time, "started": None, "attempt": 0, "input": attrs.get("input"),
            }  # fmt: skip
        elif et is E.StartChildWorkflowExecutionInitiated:
            name = attrs.get("workflow_type", "?")
            children[int(attrs["child_id"])] = {
                "lane": f"child {html.escape(str(name))} ({html.escape(str(attrs.get('workflow_id')))})", "kind": "child", "name": name,
                "queued": event.event_time, "started": None, "attempt": 1, "input": attrs.get("input"),
            }  # fmt: skip
        elif et is E.MarkerRecorded and (marker := read_local_activity(attrs)) is not None:
            bars.append(_local_bar(hist.run_id, event, marker))
        elif et is E.ActivityTaskStarted and attrs.get("activity_id") in activities:
            state = activities[attrs["activity_id"]]
            state["started"], state["attempt"] = event.event_time, int(attrs.get("attempt") or state["attempt"] + 1)
        elif et is E.ChildWorkflowExecutionStarted and attrs.get("child_id") in children:
            children[attrs["child_id"]]["started"] = event.event_time
        elif et in _CLOSE_OUTCOME:
            pool, key = (activities, attrs.get("activity_id")) if et.value.startswith("Activity") else (children, attrs.get("child_id"))
            if key not in pool:
                continue
            state = pool[key]
            completed = et in (E.ActivityTaskCompleted, E.ChildWorkflowExecutionCompleted)
            outcome = f"result: {preview(attrs.get('result'))}" if completed else f"failure: {preview(attrs.get('failure'))}"
            ended, kind = event.event_time, _CLOSE_OUTCOME[et]
            if et is E.ActivityTaskTimedOut and attrs.get("timeout_type") in LOST_ATTEMPT:
                # Lost with its engine: it ran until the engine was last known alive, not until the restart.
                ended, kind = float(attrs.get("last_alive_time") or state["started"] or ended), "lost"
            detail: tuple[str, ...] = (f"input: {preview(state['input'])}", outcome)
            original = attrs.get("what_if")
            if isinstance(original, dict):
                was = original.get("result") if original.get("result") is not None else original.get("failure")
                detail += (f"what-if: edited; recorded {preview(was)}",)
            close(state, ended, kind, detail, int(attrs.get("attempt") or state["attempt"] or 1), edited=original is not None)
            if event.is_retrying_attempt:
                state["queued"], state["started"] = event.event_time, None
            else:
                del pool[key]
    end = hist.events[-1].event_time if hist.events else 0.0
    for state in [*activities.values(), *children.values()]:
        running = state["started"] is not None
        close(state, end if running else None, "running" if running else "waiting", (f"input: {preview(state['input'])}",), max(1, state["attempt"]))
    bars += nexus_bars(hist)
    bars.sort(key=lambda b: (b.queued, b.lane, b.attempt))
    return bars


_NEXUS_OUTCOME = {
    E.NexusOperationCompleted: "completed",
    E.NexusOperationFailed: "failed",
    E.NexusOperationCanceled: "canceled",
    E.NexusOperationTimedOut: "timed_out",
}


def nexus_bars(history: Any) -> list[Attempt]:
    """The Nexus operations of an (imported) history as bars: from `NexusOperationScheduled` to its outcome.

    The lane is `nexus endpoint/service/operation #<scheduled event id>`. The bar runs from the
    operation's start (`NexusOperationStarted`; an operation that completed synchronously has none
    and runs from its scheduling); one still open at the end of the history is "running".
    """
    hist = History.coerce(history)
    open_ops: dict[int, dict[str, Any]] = {}
    bars: list[Attempt] = []
    for event in hist.events:
        attrs, et = event.attributes, event.event_type
        if et is E.NexusOperationScheduled:
            label = nexus_label(attrs)
            lane = f"nexus {html.escape(label)} #{event.event_id}"
            open_ops[event.event_id] = {"lane": lane, "name": label, "queued": event.event_time, "started": None, "input": attrs.get("input"), "notes": []}
            continue
        state = open_ops.get(int(attrs.get("scheduled_event_id") or 0)) if et.value.startswith("NexusOperation") else None
        if state is None:
            continue
        if et is E.NexusOperationStarted:
            state["started"] = event.event_time
        elif et is E.NexusOperationCancelRequested:
            state["notes"].append("cancel requested")
        elif et in _NEXUS_OUTCOME:
            result = f"result: {preview(attrs.get('result'))}" if et is E.NexusOperationCompleted else f"failure: {preview(attrs.get('failure'))}"
            started = state["started"] if state["started"] is not None else state["queued"]
            detail = (f"input: {preview(state['input'])}", *state["notes"], result)
            bars.append(Attempt(hist.run_id, state["lane"], "nexus", state["name"], 1, state["queued"], started, event.event_time, _NEXUS_OUTCOME[et], detail))
            del open_ops[int(attrs["scheduled_event_id"])]
    end = hist.events[-1].event_time if hist.events else 0.0
    for state in open_ops.values():
        started = state["started"] if state["started"] is not None else state["queued"]
        detail = (f"input: {preview(state['input'])}", *state["notes"])
        bars.append(Attempt(hist.run_id, state["lane"], "nexus", state["name"], 1, state["queued"], started, end, "running", detail))
    return bars


def _local_bar(run_id: str, event: Event, marker: LocalActivityMarker) -> Attempt:
    """A local activity's bar: its final attempt where the marker has its times (wfkit's do), else a sliver at the marker."""
    name = marker.activity_type or "local activity"
    number = marker.seq if marker.seq is not None else marker.activity_id or event.event_id
    ended = marker.complete_time if marker.complete_time is not None else event.event_time
    started = marker.started_time if marker.started_time is not None else ended
    queued = min(marker.scheduled_time if marker.scheduled_time is not None else started, started)
    outcome = f"result: {preview(marker.result)}" if marker.failure is None else f"failure: {preview(marker.failure)}"
    lane = f"{html.escape(name)} #{html.escape(str(number))} (local)"
    return Attempt(run_id, lane, "local", name, marker.attempt, queued, started, ended, marker.outcome, ("local activity", outcome))


def _dt(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def _hover(bar: Attempt) -> str:
    what = "Nexus operation" if bar.kind == "nexus" else f"attempt {bar.attempt}"
    lines = [f"<b>{html.escape(bar.name)}</b> {what} · {bar.outcome}"]
    if bar.queue_wait:
        lines.append(f"waited {bar.queue_wait * 1000:.1f} ms")
    if bar.duration is not None:
        lines.append(f"ran {bar.duration * 1000:.1f} ms")
    lines += [html.escape(line) for line in bar.detail]
    return "<br>".join(lines)


def _markers(hist: History, run_label: str, workflow_tasks: bool) -> list[tuple[str, str, float, str]]:
    marks: list[tuple[str, str, float, str]] = []
    for event in hist.events:
        attrs = event.attributes
        if event.event_type is E.TimerStarted:
            marks.append(("timer", f"{run_label}timer #{attrs['timer_id']}", event.event_time, f"timer {attrs.get('duration')}s started"))
        elif event.event_type in (E.TimerFired, E.TimerCanceled):
            word = "fired" if event.event_type is E.TimerFired else "cancelled"
            marks.append(("fired", f"{run_label}timer #{attrs['timer_id']}", event.event_time, f"timer {word}"))
        elif event.event_type is E.WorkflowExecutionSignaled:
            text = f"signal {html.escape(str(attrs.get('signal_name')))}: {html.escape(preview(attrs.get('input')))}"
            marks.append(("signal", f"{run_label}signals", event.event_time, text))
        elif workflow_tasks and event.event_type is E.WorkflowTaskStarted:
            marks.append(("workflow task", f"{run_label}workflow", event.event_time, f"workflow task at event {event.event_id}"))
    return marks


def timeline(history_or_runs: Any, *, workflow_tasks: bool = False, title: str | None = None) -> go.Figure:
    """A Gantt chart of one run, or several runs in lane groups.

    One lane per activity (per child run, per Nexus operation of an imported history, hatched): a light bar for the wait before each attempt
    (queueing or retry backoff) and a bar coloured by outcome for its execution, every attempt
    in the same lane; a local activity's lane ends in "(local)" and shows its final attempt;
    timers and signals as markers; workflow tasks as markers if asked. Hover shows type,
    attempt, durations and an HTML-escaped preview of input and result or failure. Above a
    few thousand bars it switches to WebGL line segments so 10,000 activities stay responsive.
    """
    histories = [History.coerce(h) for h in _as_list(history_or_runs)]
    several = len(histories) > 1
    bars: list[Attempt] = []
    marks: list[tuple[str, str, float, str]] = []
    for hist in histories:
        label = f"{html.escape(hist.workflow_id or hist.run_id[:8])} · " if several else ""  # lanes are tick labels: plotly reads tags in them
        for bar in attempts(hist):
            bars.append(dataclasses.replace(bar, lane=label + bar.lane) if several else bar)
        marks += _markers(hist, label, workflow_tasks)
    lanes = list(dict.fromkeys([b.lane for b in bars] + [m[1] for m in marks]))
    fig = go.Figure()
    if len(bars) > WEBGL_THRESHOLD:
        _add_segments(fig, bars, lanes)
    else:
        _add_bars(fig, bars)
    for kind in dict.fromkeys(m[0] for m in marks):
        chosen = [m for m in marks if m[0] == kind]
        y = [lanes.index(m[1]) for m in chosen] if len(bars) > WEBGL_THRESHOLD else [m[1] for m in chosen]
        symbol = {"timer": "triangle-right", "fired": "x", "signal": "star", "workflow task": "line-ns-open"}[kind]
        fig.add_trace(
            go.Scatter(
                x=[_dt(m[2]) for m in chosen], y=y, mode="markers", name=kind, marker={"symbol": symbol, "size": 10, "color": OUTCOME_COLORS[kind]},
                hovertext=[m[3] for m in chosen], hoverinfo="text",
            )
        )  # fmt: skip
    height = max(260, min(1400, 60 + 22 * len(lanes)))
    name = histories[0].workflow_type if histories and not several else f"{len(histories)} runs"
    fig.update_layout(
        title=title or f"Timeline: {html.escape(str(name))}",
        barmode="overlay",
        height=height,
        xaxis={"type": "date", "title": "time (UTC)"},
        yaxis={"autorange": "reversed", "title": None},
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    if len(bars) > WEBGL_THRESHOLD:
        fig.update_yaxes(tickmode="array", tickvals=list(range(0, len(lanes), max(1, len(lanes) // 40))), ticktext=lanes[:: max(1, len(lanes) // 40)])
    else:
        fig.update_yaxes(type="category", categoryorder="array", categoryarray=lanes)
    return fig


def _add_bars(fig: go.Figure, bars: list[Attempt]) -> None:
    waits = [b for b in bars if b.queue_wait > 0 or (b.started is None and b.outcome == "waiting")]
    if waits:
        ends = [(b.started if b.started is not None else b.queued) for b in waits]
        fig.add_trace(
            go.Bar(
                y=[b.lane for b in waits], base=[_dt(b.queued) for b in waits], x=[max((e - b.queued) * 1000, 0.5) for b, e in zip(waits, ends, strict=True)],
                orientation="h", name="waiting", marker={"color": OUTCOME_COLORS["waiting"]}, opacity=0.6,
                hovertext=[_hover(b) for b in waits], hoverinfo="text",
            )
        )  # fmt: skip
    for outcome, chosen in _by_outcome(bars):
        fig.add_trace(
            go.Bar(
                y=[b.lane for b in chosen], base=[_dt(b.started) for b in chosen if b.started is not None],
                x=[max(((b.ended or b.started) - b.started) * 1000, 0.5) for b in chosen if b.started is not None],
                orientation="h", name=_legend_name(outcome),
                marker={"color": OUTCOME_COLORS[outcome], "pattern": {"shape": [_PATTERN.get(b.kind, "") for b in chosen]}},
                hovertext=[_hover(b) for b in chosen], hoverinfo="text",
            )
        )  # fmt: skip


#: Bar fill patterns by kind (the rest are solid): a Nexus operation is hatched.
_PATTERN = {"nexus": "/"}


def _by_outcome(bars: list[Attempt]) -> list[tuple[str, list[Attempt]]]:
    """The started bars grouped by outcome, one trace each; a what-if fork's edited steps form their own
    group ("edited", its own colour and legend entry), whatever their outcome."""
    groups = [
        (o, [b for b in bars if b.outcome == o and not b.edited and b.started is not None])
        for o in ("completed", "failed", "timed_out", "lost", "canceled", "running")
    ]
    groups.append(("edited", [b for b in bars if b.edited and b.started is not None]))
    return [(outcome, chosen) for outcome, chosen in groups if chosen]


def _legend_name(outcome: str) -> str:
    return "edited (what-if)" if outcome == "edited" else outcome.replace("_", " ")


def _add_segments(fig: go.Figure, bars: list[Attempt], lanes: list[str]) -> None:
    index = {lane: i for i, lane in enumerate(lanes)}
    for outcome, chosen in _by_outcome(bars):
        xs: list[Any] = []
        ys: list[Any] = []
        for b in chosen:
            assert b.started is not None
            xs += [_dt(b.started), _dt(b.ended or b.started), None]
            ys += [index[b.lane], index[b.lane], None]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line={"width": 6, "color": OUTCOME_COLORS[outcome]}, name=_legend_name(outcome), hoverinfo="skip"))
        fig.add_trace(
            go.Scattergl(
                x=[_dt((b.started or 0) + ((b.ended or b.started or 0) - (b.started or 0)) / 2) for b in chosen], y=[index[b.lane] for b in chosen],
                mode="markers", marker={"size": 6, "color": OUTCOME_COLORS[outcome], "opacity": 0.01}, showlegend=False,
                hovertext=[_hover(b) for b in chosen], hoverinfo="text",
            )
        )  # fmt: skip


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], Event):
        return list(value)
    return [value]
