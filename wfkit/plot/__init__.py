"""Plots of histories: plain functions returning plotly figures (usable without widgets, and in HTML reports).

`timeline` draws a Gantt chart of a run's activities (every attempt), timers, signals and children;
`graph` draws the activity graph as a left-to-right DAG; `duration_distribution`,
`failures_by_type` and `runs_over_time` summarise many runs; `firings` draws a schedule's firings.
"""

from wfkit.plot._firings import firings
from wfkit.plot._graph import graph
from wfkit.plot._summary import duration_distribution, failures_by_type, runs_over_time
from wfkit.plot._timeline import OUTCOME_COLORS, attempts, timeline

__all__ = ["OUTCOME_COLORS", "attempts", "duration_distribution", "failures_by_type", "firings", "graph", "runs_over_time", "timeline"]
