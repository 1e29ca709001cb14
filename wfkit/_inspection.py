"""Histories as data: the activity graph (networkx) and the events as a DataFrame (pandas)."""

from __future__ import annotations

import json
from typing import Any

from wfkit._history._events import Event, EventType
from wfkit._history._history import History
from wfkit._history._local import LocalActivityMarker, read_local_activity
from wfkit._history._state import split_activations

__all__ = ["NEXUS_EVENTS", "activity_graph", "history_dataframe", "nexus_label"]

E = EventType

_CLOSES = {
    E.ActivityTaskCompleted: "completed",
    E.ActivityTaskFailed: "failed",
    E.ActivityTaskTimedOut: "timed_out",
    E.ActivityTaskCanceled: "canceled",
    E.TimerFired: "fired",
    E.TimerCanceled: "canceled",
    E.ChildWorkflowExecutionCompleted: "completed",
    E.ChildWorkflowExecutionFailed: "failed",
    E.ChildWorkflowExecutionCanceled: "canceled",
}


# Nexus operations (imported Temporal histories): one node per operation, keyed by its NexusOperationScheduled event.
NEXUS_EVENTS = frozenset(t for t in EventType if t.value.startswith("NexusOperation"))
_NEXUS_CLOSES = {
    E.NexusOperationCompleted: "completed",
    E.NexusOperationFailed: "failed",
    E.NexusOperationCanceled: "canceled",
    E.NexusOperationTimedOut: "timed_out",
}
_CLOSES.update(_NEXUS_CLOSES)


def nexus_label(attrs: dict[str, Any]) -> str:
    """How a Nexus operation is named in the graph and on the timeline: `endpoint/service/operation`."""
    return "/".join(str(attrs.get(key) or "?") for key in ("endpoint", "service", "operation"))


def _nexus_node(event: Event) -> str | None:
    if event.event_type is E.NexusOperationScheduled:
        return f"nexus:{event.event_id}"
    scheduled = event.attributes.get("scheduled_event_id")
    return None if scheduled is None else f"nexus:{scheduled}"


def _node_of(event: Event) -> str | None:
    attrs = event.attributes
    if event.event_type in NEXUS_EVENTS:
        return _nexus_node(event)
    if attrs.get("activity_id") is not None and event.event_type.value.startswith("ActivityTask"):
        return f"activity:{attrs['activity_id']}"
    if attrs.get("timer_id") is not None:
        return f"timer:{attrs['timer_id']}"
    if attrs.get("child_id") is not None:
        return f"child:{attrs['child_id']}"
    if event.event_type is E.WorkflowExecutionSignaled:
        return f"signal:{event.event_id}"
    if event.event_type is E.MarkerRecorded:
        marker = read_local_activity(attrs)
        return marker.node_id(event.event_id) if marker is not None else None
    return None


def _local_marker(event: Event) -> LocalActivityMarker | None:
    """The local activity a `MarkerRecorded` event records, if it records one."""
    return read_local_activity(event.attributes) if event.event_type is E.MarkerRecorded else None


def _add_local_node(graph: Any, node: str, event: Event, marker: LocalActivityMarker) -> None:
    """A local activity's node: it was scheduled, ran and ended where its marker says (one marker holds it all)."""
    label = f"{marker.activity_type or 'local activity'} (local)"
    scheduled = marker.scheduled_time if marker.scheduled_time is not None else event.event_time
    closed = marker.complete_time if marker.complete_time is not None else event.event_time
    graph.add_node(
        node, kind="local", label=label, outcome=marker.outcome, attempts=marker.attempt, scheduled_event_id=event.event_id,
        scheduled_time=scheduled, closed_time=closed,
    )  # fmt: skip
    if marker.started_time is not None:
        graph.nodes[node].update(started_time=marker.started_time, duration=max(closed - marker.started_time, 0.0))
    if marker.failure is not None:
        graph.nodes[node]["failure"] = marker.failure


def _key(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def activity_graph(history: Any) -> Any:
    """The causal graph of a run as a `networkx.DiGraph`.

    Nodes are activity executions (`activity:<id>`, with every attempt folded in), local
    activities (`local:<id>`, kind "local", from their marker), timers (`timer:<id>`), signals
    (`signal:<event id>`), child runs (`child:<id>`) and, in imported Temporal histories, Nexus
    operations (`nexus:<scheduled event id>`, labelled `endpoint/service/operation`), with their
    type, outcome, attempts and times as attributes. An edge A -> B with `kind="causal"` means the
    workflow had received A's result (since it last issued commands) when it scheduled B: a
    `gather` of four extracts followed by a load gives four edges into the load. An edge with
    `kind="data"` means one of B's arguments is A's result (or contains it as an element).
    """
    import networkx as nx  # optional dependency, loaded on use

    hist = History.coerce(history)
    graph = nx.DiGraph(workflow_id=hist.workflow_id, run_id=hist.run_id, workflow_type=hist.workflow_type)
    for event in hist.events:
        node = _node_of(event)
        if node is None:
            continue
        attrs = event.attributes
        et = event.event_type
        marker = _local_marker(event)
        if marker is not None:
            _add_local_node(graph, node, event, marker)
            continue
        if et in (E.ActivityTaskScheduled, E.TimerStarted, E.StartChildWorkflowExecutionInitiated, E.WorkflowExecutionSignaled):
            kind = node.split(":")[0]
            label = attrs.get("activity_type") or attrs.get("workflow_type") or attrs.get("signal_name") or f"timer {attrs.get('duration')}s"
            graph.add_node(node, kind=kind, label=str(label), outcome="open", attempts=0, scheduled_event_id=event.event_id, scheduled_time=event.event_time)
            if kind == "signal":
                graph.nodes[node].update(outcome="received", closed_time=event.event_time)
        if et is E.NexusOperationScheduled:
            graph.add_node(
                node, kind="nexus", label=nexus_label(attrs), outcome="open", attempts=0, scheduled_event_id=event.event_id, scheduled_time=event.event_time
            )
        if node not in graph:
            continue
        data = graph.nodes[node]
        if et is E.NexusOperationStarted:
            data.setdefault("started_time", event.event_time)
        elif et is E.ActivityTaskStarted:
            data["attempts"] = max(data["attempts"], int(attrs.get("attempt") or 0))
            data.setdefault("started_time", event.event_time)
        elif et in _CLOSES and not event.is_retrying_attempt:
            data["outcome"] = _CLOSES[et]
            data["closed_time"] = event.event_time
            data["duration"] = event.event_time - data.get("started_time", data["scheduled_time"])
            if "failure" in attrs:
                data["failure"] = attrs["failure"]
    _add_causal_edges(graph, hist)
    _add_data_edges(graph, hist)
    return graph


def _add_causal_edges(graph: Any, hist: History) -> None:
    received: list[str] = []
    nexus_done = [e for e in hist.events if e.event_type in _NEXUS_CLOSES]  # no workflow job in wfkit: placed by event id
    for task in split_activations(hist.events):
        received += [n for n in map(_node_of, task.job_events) if n is not None and n in graph]
        while nexus_done and nexus_done[0].event_id < task.started_event.event_id:
            node = _node_of(nexus_done.pop(0))
            if node is not None and node in graph:
                received.append(node)
        created = [
            n
            for n in map(_node_of, task.commands)
            if n is not None and n in graph and graph.nodes[n]["scheduled_event_id"] in {c.event_id for c in task.commands}
        ]
        if created:
            sources = list(dict.fromkeys(received))
            for target in created:
                for source in sources:
                    graph.add_edge(source, target, kind="causal")
                if graph.nodes[target]["kind"] == "local":
                    sources = [target]  # its result reached the code here: what the task issues next follows from it
            received = sources if graph.nodes[created[-1]]["kind"] == "local" else []


def _add_data_edges(graph: Any, hist: History) -> None:
    produced: dict[str, str] = {}
    for event in hist.events:
        node = _node_of(event)
        if node is None or node not in graph:
            continue
        marker = _local_marker(event)
        if marker is not None or event.event_type in (E.ActivityTaskCompleted, E.ChildWorkflowExecutionCompleted):
            payload = marker.result if marker is not None else event.attributes.get("result")
            result = (payload or {}).get("data")
            if result is not None and not isinstance(result, (bool, int, float)):
                produced[_key(result)] = node
        elif event.event_type in (E.ActivityTaskScheduled, E.StartChildWorkflowExecutionInitiated):
            for payload in event.attributes.get("input") or []:
                arg = payload.get("data") if isinstance(payload, dict) else None
                candidates = [arg] + (arg if isinstance(arg, list) else [])
                for value in candidates:
                    source = produced.get(_key(value)) if value is not None else None
                    if source is not None and source != node:
                        if graph.has_edge(source, node):
                            graph.edges[source, node]["data"] = True
                        else:
                            graph.add_edge(source, node, kind="data", data=True)


def history_dataframe(history: Any) -> Any:
    """The events of a history as a pandas DataFrame: one row per event, attributes as dicts."""
    import pandas as pd  # optional dependency, loaded on use

    hist = History.coerce(history)
    rows = hist.to_dicts()
    for row, event in zip(rows, hist.events, strict=True):
        row["activity_id"] = event.activity_id
        row["activity_type"] = event.attributes.get("activity_type")
        row["attempt"] = event.attempt
    return pd.DataFrame(rows, columns=["run_id", "event_id", "event_time", "event_type", "activity_id", "activity_type", "attempt", "attributes"])
