"""`graph`: the activity graph as a left-to-right DAG."""

from __future__ import annotations

import bisect
import html
import math
from collections import Counter
from typing import Any

import networkx as nx
import plotly.graph_objects as go

from wfkit._history._events import EventType
from wfkit._history._history import History
from wfkit._inspection import _CLOSES, _local_marker, _node_of, activity_graph
from wfkit.plot._timeline import OUTCOME_COLORS

__all__ = ["graph", "layered_layout", "node_states", "state_at", "state_color"]

E = EventType

_FUTURE = "#eceff1"

#: Node shapes by kind (the rest are circles): a Nexus operation is a diamond.
_SYMBOLS = {"local": "diamond", "nexus": "hexagon"}


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


StateTimeline = dict[str, tuple[list[int], list[str]]]

_STATE_COLORS = {
    "scheduled": OUTCOME_COLORS["waiting"],
    "running": OUTCOME_COLORS["running"],
    "retrying": OUTCOME_COLORS["timed_out"],
    "received": OUTCOME_COLORS["signal"],
    "future": _FUTURE,
}


def node_states(history: Any) -> StateTimeline:
    """For every node of the activity graph, the event ids at which its state changed and the new states.

    Computed once per history; `state_at` then answers "what was this node's state at event N"
    with a bisection, so a debugger can recolour the graph at every step cheaply.
    """
    timeline: dict[str, tuple[list[int], list[str]]] = {}
    for event in History.coerce(history).events:
        node = _node_of(event)
        if node is None:
            continue
        et = event.event_type
        marker = _local_marker(event)
        if marker is not None:
            state = marker.outcome  # a local activity appears once it ended: its marker is all history has of it
        elif et in (E.ActivityTaskScheduled, E.TimerStarted, E.StartChildWorkflowExecutionInitiated, E.NexusOperationScheduled):
            state = "scheduled"
        elif et in (E.ActivityTaskStarted, E.ChildWorkflowExecutionStarted, E.NexusOperationStarted):
            state = "running"
        elif et is E.WorkflowExecutionSignaled:
            state = "received"
        elif et in _CLOSES:
            state = "retrying" if event.is_retrying_attempt else _CLOSES[et]
        else:
            continue
        ids, states = timeline.setdefault(node, ([], []))
        ids.append(event.event_id)
        states.append(state)
    return timeline


def state_at(timeline: StateTimeline, node: str, event_id: int) -> str:
    """A node's state right after `event_id` ("future" before it was scheduled)."""
    ids, states = timeline.get(node, ([], []))
    index = bisect.bisect_right(ids, event_id)
    return states[index - 1] if index else "future"


def state_color(state: str) -> str:
    """The colour a node state is drawn in."""
    return _STATE_COLORS.get(state) or OUTCOME_COLORS.get(state, _FUTURE)


def graph(history: Any, *, at_event: int | None = None, title: str | None = None, max_edges: int = 5000) -> go.Figure:
    """The activity graph of a run (see `wfkit.activity_graph`) drawn left to right.

    Nodes are coloured by outcome and sized by duration (local activities are diamonds labelled
    "(local)"); causal edges are grey, data-lineage edges dashed blue. With `at_event`, nodes take their state as of that event (nodes not yet
    scheduled are pale), with the layout of the whole run so nothing moves while stepping.
    Waves of fan-out and fan-in connect every node of one wave to every node of the next: above
    `max_edges` an evenly spaced sample is drawn, and the title says so.
    """
    hist = History.coerce(history)
    full = activity_graph(hist)
    positions = layered_layout(full)
    timeline = node_states(hist)
    position = at_event if at_event is not None else len(hist.events)
    fig = go.Figure()
    total_edges = full.number_of_edges()
    stride = max(1, -(-total_edges // max_edges))
    for kind, color, dash in (("causal", "#90a4ae", "solid"), ("data", "#1e88e5", "dash")):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for index, (a, b, data) in enumerate(full.edges(data=True)):
            if index % stride == 0 and ((data.get("kind") == "causal") if kind == "causal" else bool(data.get("data"))):
                xs += [positions[a][0], positions[b][0], None]
                ys += [positions[a][1], positions[b][1], None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": 1.5, "dash": dash}, name=f"{kind} edge", hoverinfo="skip"))
    nodes = list(full.nodes)
    durations = [full.nodes[n].get("duration") or 0.0 for n in nodes]
    longest = max(durations, default=0.0) or 1.0
    colors, texts, hovers, sizes, symbols = [], [], [], [], []
    for node, duration in zip(nodes, durations, strict=True):
        outcome = state_at(timeline, node, position)
        colors.append(state_color(outcome))
        label = html.escape(str(full.nodes[node]["label"]))
        texts.append(label)  # a local activity's label says "(local)"; its marker is a diamond
        attempts = full.nodes[node].get("attempts", 0)
        hover = f"<b>{label}</b> ({html.escape(node)}{', Nexus operation' if full.nodes[node].get('kind') == 'nexus' else ''})<br>{outcome}"
        if attempts:
            hover += f", {attempts} attempt{'s' if attempts != 1 else ''}"
        if duration:
            hover += f"<br>{duration * 1000:.1f} ms"
        failure = full.nodes[node].get("failure")
        if failure and outcome in ("failed", "timed_out"):
            hover += f"<br>{html.escape(str(failure.get('type')))}: {html.escape(str(failure.get('message'))[:120])}"
        hovers.append(hover)
        sizes.append(14 + 26 * math.sqrt(duration / longest))
        symbols.append(_SYMBOLS.get(full.nodes[node].get("kind", ""), "circle"))
    if stride > 1:
        title = title or f"Activity graph: {html.escape(str(hist.workflow_type or hist.run_id))} (showing {total_edges // stride:,} of {total_edges:,} edges)"
    fig.add_trace(
        go.Scatter(
            x=[positions[n][0] for n in nodes], y=[positions[n][1] for n in nodes], mode="markers+text", text=texts, textposition="top center",
            marker={"color": colors, "size": sizes, "symbol": symbols, "line": {"color": "#37474f", "width": 1}}, hovertext=hovers, hoverinfo="text",
            name="steps",
            customdata=nodes,
        )
    )  # fmt: skip
    fig.update_layout(
        title=title or f"Activity graph: {html.escape(str(hist.workflow_type or hist.run_id))}",
        showlegend=True,
        height=min(1600, max(300, 80 + 60 * max(Counter(p[0] for p in positions.values()).values(), default=1))),
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.05},
    )
    return fig
