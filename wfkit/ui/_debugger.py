"""`debugger(...)`: the replay session in a widget."""

from __future__ import annotations

import asyncio
import datetime
import html
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import plotly.graph_objects as go

from wfkit._history._events import EventType
from wfkit._html import attributes_html, frames_html, locals_html, pending_html
from wfkit._replay._session import ReplaySession, stop_at
from wfkit.errors import ForkPointError
from wfkit.plot import graph, timeline
from wfkit.plot._graph import node_states, state_at, state_color

if TYPE_CHECKING:
    from wfkit._engine._engine import Engine

__all__ = ["Debugger"]

#: Events listed around the current one (the list stays light for 10,000-event histories).
WINDOW = 150


class Debugger(w.VBox):  # type: ignore[misc]
    """Step through a run: buttons, a slider, an event list, stack/locals/pending/event panels, timeline and graph.

    The widget holds the `ReplaySession`; every control calls `session.seek(...)` (or `run_to`) and
    re-renders from `session.snapshot()`. Given the `engine` the run belongs to, "fork from here"
    forks the run at the current event (`engine.fork`) and "save as test" writes it as a regression
    test (`engine.save_test`).
    """

    def __init__(self, session: ReplaySession, *, engine: Engine | None = None, show_timeline: bool = True, show_graph: bool = True) -> None:
        self.session = session
        self.engine = engine
        self.forks: list[Any] = []
        """The handles of the runs forked from this widget, oldest first."""
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
        self.to_breakpoint = w.Button(description="run to breakpoint", icon="step-forward", layout=w.Layout(width="170px"))
        kinds = sorted({e.event_type.value for e in self._events})
        activities = sorted({str(e.attributes["activity_type"]) for e in self._events if e.attributes.get("activity_type")})
        self.break_on = w.Dropdown(options=["(choose)"] + [f"event {k}" for k in kinds] + [f"activity {a}" for a in activities], description="break on")
        self.add_break = w.Button(description="add", icon="plus", layout=w.Layout(width="70px"))
        self.breakpoints = w.HTML()
        self.break_on_exception = w.Checkbox(value=True, description="break on workflow exception", indent=False, layout=w.Layout(width="220px"))
        self.line_input = w.Text(placeholder="line (or file.py:line)", layout=w.Layout(width="170px"))
        self.add_line = w.Button(description="break on line", icon="circle", layout=w.Layout(width="130px"))
        self.source = session.source()
        self.code = w.Select(options=[], rows=14, layout=w.Layout(width="100%"))
        self.code.add_class("wfkit-code")
        live = engine is not None
        self.fork_here = w.Button(
            description="fork from here", icon="code-branch", disabled=not live, tooltip="fork the run at the current event with the current code"
        )
        self.test_dir = w.Text(value="tests/regressions", placeholder="directory", layout=w.Layout(width="170px"), disabled=not live)
        self.test_module = w.Text(placeholder="module (if in a notebook)", layout=w.Layout(width="190px"), disabled=not live)
        self.save_as_test = w.Button(description="save as test", icon="check-square", disabled=not live, tooltip="write this run as a pytest regression test")
        self.message = w.HTML()
        self.status = w.HTML()
        self.event_list = w.Select(options=[], rows=18, layout=w.Layout(width="440px"))
        self.stack = w.HTML()
        self.locals = w.HTML()
        self.pending = w.HTML()
        self.event = w.HTML()
        code_help = w.HTML("<span style='color:#78909c'>click a line to set or clear a breakpoint there (●); ▶ marks where the code is</span>")
        self.tabs = w.Tab(children=[self.stack, self.locals, self.pending, self.event, w.VBox([code_help, self.code])])
        for index, title in enumerate(("stack", "locals", "pending & received", "event", "code")):
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
        self.add_line.on_click(lambda _: self._add_line_breakpoint())
        self.code.observe(self._on_code_click, names="value")
        self.fork_here.on_click(lambda _: self.fork())
        self.save_as_test.on_click(lambda _: self.save_test())
        self.slider.observe(self._on_slider, names="value")
        self.event_list.observe(self._on_pick, names="value")

        controls = w.HBox([self.first, self.back, self.forward, self.last, self.slider])
        runs = w.HBox([self.next_activity, self.next_failure, self.to_breakpoint, self.break_on, self.add_break])
        lines = w.HBox([self.break_on_exception, self.line_input, self.add_line, self.breakpoints])
        actions = w.HBox([self.fork_here, self.save_as_test, self.test_dir, self.test_module, self.message])
        body = w.HBox([self.event_list, self.tabs])
        style = w.HTML("<style>.wfkit-code select{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}</style>")
        children: list[w.Widget] = [controls, runs, lines, *([actions] if live else []), self.status, body, style]
        children += [fig for fig in (self.timeline, self.graph) if fig is not None]
        super().__init__(children)
        self.render()

    #### Actions ####

    def go(self, position: int) -> None:
        """Move to event `position` and re-render."""
        self.session.seek(position)
        self.render()

    def run_to(self, predicate: Any) -> None:
        """Run forward to the next event matching `predicate` (or a breakpoint, or a workflow exception) and re-render."""
        self.session.run_to(predicate, break_on_exception=self.break_on_exception.value)
        self.render()

    def fork(self) -> asyncio.Future[Any] | None:
        """Fork the run at the current event with the current code (`engine.fork(run, at_event=position)`).

        Inside a workflow task (where a stop at a workflow exception is), it forks at the resume point
        just before that task, so the task runs again with the fixed code; at event 0 or at the end,
        at the latest resume point. The message line says where it forked."""
        if self.engine is None:
            return None
        engine, position, total = self.engine, self.session.position, len(self._events)
        at_event = position if 0 < position < total else None
        run_id = self.session.history.run_id

        async def forked() -> str:
            where = f"event {at_event}" if at_event is not None else "its latest resume point"
            try:
                handle = await engine.fork(run_id, at_event=at_event)
            except ForkPointError as exc:
                if exc.before is None:
                    raise
                handle = await engine.fork(run_id, at_event=exc.before)
                where = f"event {exc.before}, the resume point before event {at_event}"
            self.forks.append(handle)
            return f"forked at {where} as run {handle.run_id[:12]} (workflow id {handle.workflow_id})"

        return self._act(forked)

    def save_test(self) -> None:
        """Save the run as a regression test (`engine.save_test`) in the directory typed next to the button."""
        if self.engine is None:
            return
        try:
            saved = self.engine.save_test(
                self.session.history.run_id, self.test_dir.value.strip() or "tests/regressions", module=self.test_module.value.strip() or None, overwrite=True
            )
        except Exception as exc:  # noqa: BLE001 - shown in the widget: an unknown module, an unwritable directory
            self._say(str(exc), error=True)
            return
        self._say(f"saved as test {saved.test}")

    def _act(self, make: Callable[[], Awaitable[str]]) -> asyncio.Future[Any]:
        self._say("working…")
        task = asyncio.ensure_future(make())

        def finished(t: asyncio.Future[Any]) -> None:
            error = t.exception() if not t.cancelled() else None
            self._say(str(error) if error else t.result(), error=error is not None)

        task.add_done_callback(finished)
        return task

    def _say(self, text: str, *, error: bool = False) -> None:
        color = "#b71c1c" if error else "#2e7d32"
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def toggle_line(self, line: int, file: str | None = None) -> None:
        """Set a line breakpoint there, or clear the one that is set."""
        where = (file or (self.source[0] if self.source else "")).rsplit("/", 1)[-1]
        if any(f.endswith(where) and n == line for f, n in self.session.line_breakpoints):
            self.session.remove_breakpoint(line=line, file=file)
        else:
            self.session.add_breakpoint(line=line, file=file)
        self._show_breakpoints()
        self.render()

    def _add_line_breakpoint(self) -> None:
        text = self.line_input.value.strip()
        file, _, number = text.rpartition(":")
        if not number.isdigit():
            self.status.value = f"<div style='color:#b71c1c'>break on line: expected a line number or file.py:line, got {html.escape(text)!r}</div>"
            return
        try:
            self.toggle_line(int(number), file or None)
        except ValueError as exc:  # ArgumentError: no code and no file
            self.status.value = f"<div style='color:#b71c1c'>{html.escape(str(exc))}</div>"

    def _on_code_click(self, change: dict[str, Any]) -> None:
        if not self._rendering and change["new"] is not None:
            self.toggle_line(int(change["new"]))

    def _show_breakpoints(self) -> None:
        labels = [*getattr(self, "_break_labels", []), *(f"line {f.rsplit('/', 1)[-1]}:{n}" for f, n in self.session.line_breakpoints)]
        self.breakpoints.value = "breakpoints: " + ", ".join(html.escape(b) for b in labels) if labels else ""

    def _add_breakpoint(self) -> None:
        choice = str(self.break_on.value)
        if choice.startswith("event "):
            self.session.add_breakpoint(event_type=EventType(choice.removeprefix("event ")))
        elif choice.startswith("activity "):
            self.session.add_breakpoint(activity=choice.removeprefix("activity "))
        else:
            return
        self._break_labels = [*getattr(self, "_break_labels", []), choice]
        self._show_breakpoints()

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
        if snap.exception is not None:
            at = snap.exception.where
            line = f" at line {at.lineno}: <code>{html.escape(at.source)}</code>" if at else ""
            raised = f"{html.escape(snap.exception.type)}: {html.escape(snap.exception.message)}"
            error += f"<div style='color:#b71c1c;font-weight:bold'>the workflow code raised {raised}{line}</div>"
        if snap.line_hit is not None:
            error += f"<div style='color:#1565c0;font-weight:bold'>stopped at line breakpoint {snap.line_hit.lineno} (the line has not run yet)</div>"
        self.status.value = f"<div>{where}{state}{code}</div>{error}"
        tasks = snap.shown_tasks
        self.stack.value = frames_html(tasks)
        self.locals.value = locals_html(tasks)
        self._render_code(snap.current_line)
        self.pending.value = pending_html(snap.pending, snap.received)
        self.event.value = attributes_html(snap.event.attributes) if snap.event else ""
        self.back.disabled = self.first.disabled = position == 0
        self.forward.disabled = self.last.disabled = snap.at_end
        self._move_cursor(snap.event.event_time if snap.event else None)
        self._recolor_graph(position)

    def _render_code(self, current: tuple[str, int] | None) -> None:
        """The workflow's source, ● on breakpoint lines, ▶ on the current line (the list scrolls to it)."""
        if self.source is None:
            self.code.options = [("(the workflow's source is not available)", None)]
            return
        file, first, lines = self.source
        marks = {n for f, n in self.session.line_breakpoints if file.endswith(f.rsplit("/", 1)[-1])}
        here = current[1] if current is not None and current[0] == file else None
        options = [(f"{'▶' if n == here else ' '}{'●' if n in marks else ' '} {n:>4}  {text}", n) for n, text in enumerate(lines, start=first)]
        self._rendering = True
        try:
            self.code.options = options
            self.code.value = here if here is not None else None
        finally:
            self._rendering = False

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
