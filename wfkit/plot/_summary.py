"""Summary charts over many runs."""

from __future__ import annotations

import datetime
import html
from collections import Counter, defaultdict
from typing import Any

import plotly.graph_objects as go

from wfkit.plot._timeline import OUTCOME_COLORS, attempts

__all__ = ["duration_distribution", "failures_by_type", "runs_over_time"]


def _attempt_rows(histories: Any) -> list[dict[str, Any]]:
    """Rows with activity_type, attempt, outcome, duration (s): from histories, or a DataFrame/records of the `activities` view."""
    if hasattr(histories, "to_dict") and hasattr(histories, "columns"):
        histories = histories.to_dict(orient="records")
    rows = list(histories)
    if rows and isinstance(rows[0], dict):
        return [
            {
                "activity_type": r.get("activity_type"),
                "attempt": r.get("attempt") or 1,
                "outcome": r.get("outcome") or r.get("status"),
                "duration": r.get("duration") if r.get("duration") is not None else r.get("execution_time"),
            }
            for r in rows
        ]
    out = []
    for history in rows:
        for bar in attempts(history):
            if bar.kind in ("activity", "local"):
                out.append({"activity_type": bar.name, "attempt": bar.attempt, "outcome": bar.outcome, "duration": bar.duration})
    return out


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta) or hasattr(value, "total_seconds"):
        return float(value.total_seconds())
    return float(value)


def duration_distribution(histories_or_activities: Any) -> go.Figure:
    """Box plots of execution time (ms) per activity type."""
    by_type: dict[str, list[float]] = defaultdict(list)
    for row in _attempt_rows(histories_or_activities):
        seconds = _seconds(row["duration"])
        if seconds is not None:
            by_type[str(row["activity_type"])].append(seconds * 1000)
    # Names become tick labels, where plotly reads tags: escaped, like every text that comes from a history.
    fig = go.Figure([go.Box(y=values, name=html.escape(name), boxpoints="outliers") for name, values in sorted(by_type.items())])
    fig.update_layout(title="Execution time per activity type", yaxis_title="ms", showlegend=False)
    return fig


def failures_by_type(histories_or_activities: Any) -> go.Figure:
    """Per activity type: attempts that failed or timed out, and attempts that were retries."""
    failed: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    for row in _attempt_rows(histories_or_activities):
        name = str(row["activity_type"])
        failed[name] += row["outcome"] in ("failed", "timed_out")
        retries[name] += int(row["attempt"] or 1) > 1
    names = sorted(set(failed) | set(retries))
    labels = [html.escape(n) for n in names]
    fig = go.Figure(
        [
            go.Bar(x=labels, y=[failed[n] for n in names], name="failed attempts", marker={"color": OUTCOME_COLORS["failed"]}),
            go.Bar(x=labels, y=[retries[n] for n in names], name="retries", marker={"color": OUTCOME_COLORS["timed_out"]}),
        ]
    )
    fig.update_layout(title="Failures and retries per activity type", barmode="group")
    return fig


def runs_over_time(runs: Any, *, bucket: str = "minute") -> go.Figure:
    """Runs started per time bucket ("second", "minute", "hour", "day"), stacked by status.

    `runs` is a DataFrame or records with `start_time` and `status` (e.g. `engine.runs().df()`).
    """
    if hasattr(runs, "to_dict") and hasattr(runs, "columns"):
        runs = runs.to_dict(orient="records")
    fmt = {"second": "%Y-%m-%d %H:%M:%S", "minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d"}[bucket]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in runs:
        when = row["start_time"]
        if not isinstance(when, datetime.datetime):
            when = datetime.datetime.fromtimestamp(float(when), tz=datetime.timezone.utc)
        counts[str(row["status"])][when.strftime(fmt)] += 1
    buckets = sorted({b for c in counts.values() for b in c})
    colors = {"Completed": OUTCOME_COLORS["completed"], "Failed": OUTCOME_COLORS["failed"], "Running": OUTCOME_COLORS["running"]}
    fig = go.Figure(
        [
            go.Bar(x=buckets, y=[c[b] for b in buckets], name=html.escape(status), marker={"color": colors.get(status, OUTCOME_COLORS["canceled"])})
            for status, c in sorted(counts.items())
        ]
    )
    fig.update_layout(title=f"Runs started per {bucket}", barmode="stack", xaxis_title=bucket, yaxis_title="runs")
    return fig
