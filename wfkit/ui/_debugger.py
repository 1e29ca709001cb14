"""`debugger(...)`: the replay session in a widget."""

from __future__ import annotations

import datetime
import html
from typing import Any

import ipywidgets as w
import plotly.graph_objects as go

from wfkit._history._events import EventType
from wfkit._html import attributes_html, frames_html, locals_html, pending_html
from wfkit._replay._session import ReplaySession, stop_at
from wfkit.plot import graph, timeline
from wfkit.plot._graph import node_states, state_at, state_color

__all__ = ["Debugger"]

#: Events listed around the current one (the list stays light for 10,000-event histories).
WINDOW = 150


class Debugger(w.VBox):  # type: ignore[misc]
    """Step through a run: buttons, a slider, an event list, stack/locals/pending/event panels, timeline and graph.

    The widget only holds the `ReplaySession`; every control calls `session.seek(...)` (or
    `run_to`) and re-renders from `session.snapshot()`.
    """

    def __init__(self, session: ReplaySession, *, show_timeline: bool = True, show_graph: bool = True) -> None:
        self.session = session
        history = session.history
        self._events = history.events
        self._rendering = False
        # Icons for first/last: the ⏮/⏭ glyphs are missing from many fonts; ◀ and ▶ are everywhere.
        self.first = w.Button(description="", icon="fast-backward", tooltip="first event", layout=w.Layout(width="48px"))
        self.back = w.Button(description="◀", tooltip="step back", layout=w.Layout(width="48px"))
        self.forward = w.Button(description="▶", tooltip="step", layout=w.Layout(width="48px"))
        self.last = w.Button(description="", icon="fast-forward", tooltip="last event", layout=w.Layout(width="48px"))
        self.slider = w.IntSlider(min=0, max=len(self._events), value=0, description="event", continuous_update=False, layout=w.Layout(width="420px"))
        self.next_activity = w.Button(description="next activity", icon="forward")
        self.next_failure = w.Button(description="next failure", icon="exclamation-triangle")
        self.to_breakpoint = w.Button(description="run to breakpoint", icon="step-forward")
        kinds = sorted({e.event_type.value for e in self._events})
        activities = sorted({str(e.attributes["activity_type"]) for e in self._events if e.attributes.get("activity_type")})
        self.break_on = w.Dropdown(options=["(choose)"] + [f"event {k}" for k in kinds] + [f"activity {a}" for a in activities], description="break on")
        self.add_break = w.Button(description="add", icon="plus", layout=w.Layout(width="70px"))
        self.breakpoints = w.HTML()
        self.status = w.HTML()
        self.event_list = w.Select(options=[], rows=18, layout=w.Layout(width="440px"))
        self.stack = w.HTML()
        self.locals = w.HTML()
        self.pending = w.HTML()
        self.event = w.HTML()
        self.tabs = w.Tab(children=[self.stack, self.locals, self.pending, self.event])
        for index, title in enumerate(("stack", "locals", "pending & received", "event")):
            self.tabs.set_title(index, title)
        self.tabs.layout = w.Layout(width="100%")
        self.timeline: go.FigureWidget | None = go.FigureWidget(timeline(history)) if show_timeline else None
        self.graph: go.FigureWidget | None = go.FigureWidget(graph(history)) if show_graph and len(self._events) <= 20_000 else None
        self._node_states = node_states(history)

        self.first.on_click(lambda _: self.go(0))
        self.back.on_click(lambda _: self.go(self.session.position - 1))
        self.forward.on_click(lambda _: self.go(self.session.position + 1))
        self.last.on_click(lambda _: self.go(len(self._events)))
        self.next_activity.on_click(lambda _: self.run_to(stop_at.activity()))
        self.next_failure.on_click(lambda _: self.run_to(stop_at.failure()))
        self.to_breakpoint.on_click(lambda _: self.run_to(None))
        self.add_break.on_click(lambda _: self._add_breakpoint())
        self.slider.observe(self._on_slider, names="value")
        self.event_list.observe(self._on_pick, names="value")

        controls = w.HBox([self.first, self.back, self.forward, self.last, self.slider])
        runs = w.HBox([self.next_activity, self.next_failure, self.to_breakpoint, self.break_on, self.add_break, self.breakpoints])
        body = w.HBox([self.event_list, self.tabs])
        children: list[w.Widget] = [controls, runs, self.status, body]
        children += [fig for fig in (self.timeline, self.graph) if fig is not None]
        super().__init__(children)
        self.render()

    #### Actions ####

    def go(self, position: int) -> None:
        """Move to event `position` and re-render."""
        self.session.seek(position)
        self.render()

    def run_to(self, predicate: Any) -> None:
        """Run forward to the next event matching `predicate` (or a breakpoint) and re-render."""
        self.session.run_to(predicate)
        self.render()

    def _add_breakpoint(self) -> None:
        choice = str(self.break_on.value)
        if choice.startswith("event "):
            self.session.add_breakpoint(event_type=EventType(choice.removeprefix("event ")))
        elif choice.startswith("activity "):
            self.session.add_breakpoint(activity=choice.removeprefix("activity "))
        else:
            return
        self._break_labels = [*getattr(self, "_break_labels", []), choice]
        self.breakpoints.value = "breakpoints: " + ", ".join(html.escape(b) for b in self._break_labels)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._rendering:
            self.go(int(change["new"]))

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._rendering and change["new"] is not None:
            self.go(int(change["new"]))

    #### Rendering ####

    def render(self) -> None:
        """Show the session's current snapshot in every panel."""
        snap = self.session.snapshot()
        position = snap.position
        self._rendering = True
        try:
            self.slider.value = position
            low = max(0, position - WINDOW // 2)
            window = self._events[low : low + WINDOW]
            self.event_list.options = [(f"{e.event_id:>5}  {e.describe()}", e.event_id) for e in window]
            self.event_list.value = position if position else None
        finally:
            self._rendering = False
        total = len(self._events)
        where = f"event {position} of {total}" + (f" · <b>{html.escape(snap.event.describe())}</b>" if snap.event else " · before the first event")
        state = " · finished" if snap.finished else ""
        code = "" if snap.has_code else " · <i>no workflow code: events only</i>"
        error = f"<div style='color:#b71c1c;font-weight:bold'>{html.escape(snap.error)}</div>" if snap.error else ""
        self.status.value = f"<div>{where}{state}{code}</div>{error}"
        self.stack.value = frames_html(snap.tasks)
        self.locals.value = locals_html(snap.tasks)
        self.pending.value = pending_html(snap.pending, snap.received)
        self.event.value = attributes_html(snap.event.attributes) if snap.event else ""
        self.back.disabled = self.first.disabled = position == 0
        self.forward.disabled = self.last.disabled = snap.at_end
        self._move_cursor(snap.event.event_time if snap.event else None)
        self._recolor_graph(position)

    def _move_cursor(self, when: float | None) -> None:
        if self.timeline is None:
            return
        shapes = []
        if when is not None:
            at = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc)
            shapes = [{"type": "line", "x0": at, "x1": at, "y0": 0, "y1": 1, "yref": "paper", "line": {"color": "#ff6f00", "width": 2}}]
        self.timeline.layout.shapes = shapes

    def _recolor_graph(self, position: int) -> None:
        if self.graph is None or not self.graph.data:
            return
        nodes = self.graph.data[-1].customdata
        self.graph.data[-1].marker.color = [state_color(state_at(self._node_states, node, position)) for node in nodes]
