"""`graph`: the activity graph as a left-to-right DAG."""

from __future__ import annotations

import html
import math
from typing import Any

import networkx as nx
import plotly.graph_objects as go

from wfkit._history._history import History
from wfkit._inspection import activity_graph
from wfkit.plot._timeline import OUTCOME_COLORS

__all__ = ["graph", "layered_layout"]

_FUTURE = "#eceff1"


def layered_layout(g: Any) -> dict[str, tuple[float, float]]:
    """x = topological generation (left to right), y = position within the generation, centred."""
    positions: dict[str, tuple[float, float]] = {}
    dag = g if nx.is_directed_acyclic_graph(g) else nx.DiGraph(list(nx.dfs_edges(g)))
    dag.add_nodes_from(g.nodes)
    for x, generation in enumerate(nx.topological_generations(dag)):
        ordered = sorted(generation, key=lambda n: g.nodes[n].get("scheduled_event_id", 0))
        for i, node in enumerate(ordered):
            positions[node] = (float(x), (len(ordered) - 1) / 2 - i)
    return positions


def graph(history: Any, *, at_event: int | None = None, title: str | None = None) -> go.Figure:
    """The activity graph of a run (see `wfkit.activity_graph`) drawn left to right.

    Nodes are coloured by outcome and sized by duration; causal edges are grey, data-lineage
    edges dashed blue. With `at_event`, nodes take their state as of that event (nodes not yet
    scheduled are pale), with the layout of the whole run so nothing moves while stepping.
    """
    hist = History.coerce(history)
    full = activity_graph(hist)
    positions = layered_layout(full)
    state = full
    if at_event is not None:
        state = activity_graph(History(hist.workflow_id, hist.run_id, hist.events[: max(1, at_event)]))
    fig = go.Figure()
    for kind, color, dash in (("causal", "#90a4ae", "solid"), ("data", "#1e88e5", "dash")):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for a, b, data in full.edges(data=True):
            if (data.get("kind") == "causal") if kind == "causal" else bool(data.get("data")):
                xs += [positions[a][0], positions[b][0], None]
                ys += [positions[a][1], positions[b][1], None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": 1.5, "dash": dash}, name=f"{kind} edge", hoverinfo="skip"))
    nodes = list(full.nodes)
    durations = [full.nodes[n].get("duration") or 0.0 for n in nodes]
    longest = max(durations, default=0.0) or 1.0
    colors, texts, hovers, sizes = [], [], [], []
    for node, duration in zip(nodes, durations, strict=True):
        data = state.nodes[node] if node in state else None
        outcome = data["outcome"] if data is not None else "future"
        colors.append(OUTCOME_COLORS.get(outcome, OUTCOME_COLORS["running"] if outcome == "open" else _FUTURE) if outcome != "future" else _FUTURE)
        label = html.escape(str(full.nodes[node]["label"]))
        texts.append(label)
        attempts = full.nodes[node].get("attempts", 0)
        hover = f"<b>{label}</b> ({html.escape(node)})<br>{outcome}"
        if attempts:
            hover += f", {attempts} attempt{'s' if attempts != 1 else ''}"
        if duration:
            hover += f"<br>{duration * 1000:.1f} ms"
        failure = full.nodes[node].get("failure")
        if failure and outcome in ("failed", "timed_out"):
            hover += f"<br>{html.escape(str(failure.get('type')))}: {html.escape(str(failure.get('message'))[:120])}"
        hovers.append(hover)
        sizes.append(14 + 26 * math.sqrt(duration / longest))
    fig.add_trace(
        go.Scatter(
            x=[positions[n][0] for n in nodes], y=[positions[n][1] for n in nodes], mode="markers+text", text=texts, textposition="top center",
            marker={"color": colors, "size": sizes, "line": {"color": "#37474f", "width": 1}}, hovertext=hovers, hoverinfo="text", name="steps",
            customdata=nodes,
        )
    )  # fmt: skip
    fig.update_layout(
        title=title or f"Activity graph: {html.escape(str(hist.workflow_type or hist.run_id))}",
        showlegend=True,
        height=max(300, 80 + 60 * max((sum(1 for p in positions.values() if p[0] == x) for x in {p[0] for p in positions.values()}), default=1)),
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.05},
    )
    return fig
