"""`monitor(engine)`: a live table of runs, progress bars, and actions on the selected run."""

from __future__ import annotations

import asyncio
import datetime
import html
import json
from typing import Any

import ipywidgets as w
import plotly.graph_objects as go

from wfkit._engine._engine import Engine
from wfkit._engine._handle import WorkflowHandle
from wfkit._history._summary import RunSummary
from wfkit._html import status_card_html
from wfkit.plot import timeline
from wfkit.ui._schedules_panel import SchedulesPanel
from wfkit.ui._source import RunSource

__all__ = ["Monitor", "StatusCard"]

_ICONS = {"Running": "●", "Completed": "✔", "Failed": "✖", "Canceled": "⊘", "Terminated": "■", "ContinuedAsNew": "↻"}


def _row_label(run: RunSummary) -> str:
    start = datetime.datetime.fromtimestamp(run.start_time or 0.0, tz=datetime.timezone.utc).strftime("%H:%M:%S")
    current = f"queued for {run.queued}" if run.queued else ", ".join(run.current_activities)
    status, icon = ("Queued", "◌") if run.queued else (run.status, _ICONS.get(run.status, "?"))
    return f"{icon} {status:<10} {run.workflow_type:<14} {run.workflow_id:<28} {start}  {run.elapsed or 0.0:7.2f}s  {current}"


_FILTER_ERROR = "<span class='wfkit-filter-error' style='color:#c62828'>"


def search_filter(text: str) -> dict[str, str]:
    """`"stage=loaded, team=data"` as a search-attribute filter; ValueError naming a part without `=`."""
    wanted: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"filter: expected name=value, got {part!r}")
        wanted[name.strip()] = value.strip()
    return wanted


class Monitor(w.VBox):  # type: ignore[misc]
    """Runs, newest first, refreshed while they progress; select one for its timeline, debugger and actions.

    Over an `Engine` the actions (debug, signal, cancel, fork) are live; over `Histories` the monitor only reads.
    """

    _task: asyncio.Task[None] | None = None

    def __init__(self, engine: RunSource, *, refresh: float = 0.5, limit: int = 50) -> None:
        self.engine = engine
        self.limit = limit
        self.interval = refresh
        self.runs: list[RunSummary] = []
        self.table = w.Select(options=[], rows=12, layout=w.Layout(width="100%"))
        self.table.add_class("wfkit-runs")
        self.progress = w.VBox()
        self.detail = w.VBox()
        self.message = w.HTML()
        self.refresh_button = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="100px"))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.filter = w.Text(placeholder="search attributes, e.g. stage=loaded, team=data", continuous_update=False, layout=w.Layout(width="340px"))
        self.filter.add_class("wfkit-filter")
        self.filter.observe(lambda _: self.refresh(), names="value")
        self.schedules = SchedulesPanel(engine)
        self.table.observe(self._on_select, names="value")
        # A monospace list keeps the columns of the run rows aligned.
        style = "<style>.wfkit-runs select{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}</style>"
        header = w.HTML(f"{style}<b>wfkit runs</b> <span style='color:#78909c'>(newest first; select one for details)</span>")
        super().__init__([w.HBox([header, self.filter, self.refresh_button]), self.schedules, self.table, self.progress, self.message, self.detail])
        self.refresh()
        try:
            self._task = asyncio.get_running_loop().create_task(self._poll())
        except RuntimeError:
            self._task = None  # no running loop (plain script): refresh by hand

    async def _poll(self) -> None:
        ticks = 0
        while not self.engine.closed:
            if ticks % max(1, round(2 / self.interval)) == 0:  # schedules change slowly: every ~2 s
                await self.schedules.refresh()
            await asyncio.sleep(self.interval)
            self.refresh()
            ticks += 1

    def close(self) -> None:
        """Stop refreshing and close the widget."""
        if self._task is not None:
            self._task.cancel()
        super().close()

    def refresh(self) -> None:
        """Reload the run list and progress bars (cheap: one small query plus in-memory state)."""
        if self.engine.closed:
            self.message.value = "<i>the engine is closed</i>"
            return
        try:
            wanted = search_filter(self.filter.value)
        except ValueError as exc:
            self.message.value = f"{_FILTER_ERROR}{html.escape(str(exc))}</span>"
            return
        if self.message.value.startswith(_FILTER_ERROR):
            self.message.value = ""
        self.runs = self.engine.list(search_attributes=wanted, limit=self.limit) if wanted else self.engine.run_summaries(self.limit)
        selected = self.table.value
        self.table.unobserve(self._on_select, names="value")
        try:
            self.table.options = [(_row_label(r), r.run_id) for r in self.runs]
            if selected in {r.run_id for r in self.runs}:
                self.table.value = selected
        finally:
            self.table.observe(self._on_select, names="value")
        bars = []
        for run in self.runs:
            if run.status != "Running" or run.workflow_type == "wfkit.schedule":  # schedules have their own rows above
                continue
            done, total = run.activities_done or 0, run.activities_total or 0
            bar = w.IntProgress(value=done, max=max(1, total), description=run.workflow_id[:20], style={"description_width": "160px"})
            bars.append(w.HBox([bar, w.Label(f"{done}/{total} activities · {', '.join(run.current_activities)}")]))
        self.progress.children = bars

    def _on_select(self, change: dict[str, Any]) -> None:
        run = next((r for r in self.runs if r.run_id == change["new"]), None)
        if run is not None:
            self.show(run)

    def show(self, run: RunSummary) -> None:
        """Open the detail panel of a run: its timeline, actions and a Debug button."""
        history = self.engine.history(run_id=run.run_id)
        figure = go.FigureWidget(timeline(history))
        title = w.HTML(status_card_html(run))
        engine = self.engine
        if not isinstance(engine, Engine):  # read-only histories: no actions
            self.detail.children = [title, figure]
            return
        live = run.status == "Running"
        debug = w.Button(description="debug", icon="bug")
        cancel = w.Button(description="cancel", icon="stop", disabled=not live)
        fork_at = w.BoundedIntText(value=len(history), min=1, max=max(1, len(history)), description="fork at event", style={"description_width": "100px"})
        fork = w.Button(description="fork", icon="code-branch")
        signal_name = w.Text(placeholder="signal name", layout=w.Layout(width="160px"))
        signal_payload = w.Text(placeholder="payload (JSON)", layout=w.Layout(width="200px"))
        send = w.Button(description="signal", icon="paper-plane", disabled=not live)
        debugger_box = w.VBox()

        def open_debugger(_: Any) -> None:
            from wfkit._replay._session import ReplaySession
            from wfkit.ui._debugger import Debugger

            session = ReplaySession(engine.history(run_id=run.run_id), workflows=list(engine.registry.workflows().values()))
            debugger_box.children = [Debugger(session, engine=engine)]

        def signal(_: Any) -> None:
            try:
                payload = json.loads(signal_payload.value) if signal_payload.value.strip() else None
            except json.JSONDecodeError as exc:
                self.message.value = f"<span style='color:#c62828'>payload is not JSON: {html.escape(exc.msg)}</span>"
                return
            self._act(engine.get_handle(run.workflow_id, run.run_id).signal(signal_name.value.strip(), payload), "signal sent")

        debug.on_click(open_debugger)
        cancel.on_click(lambda _: self._act(engine.get_handle(run.workflow_id, run.run_id).cancel("from the monitor"), "cancel requested"))
        fork.on_click(lambda _: self._act(engine.fork(run.run_id, at_event=fork_at.value, id=f"{run.workflow_id}-fork-{len(self.runs)}"), "forked"))
        send.on_click(signal)
        self.detail.children = [title, w.HBox([debug, cancel, fork_at, fork]), w.HBox([signal_name, signal_payload, send]), figure, debugger_box]

    def _act(self, coro: Any, done_text: str) -> None:
        task = asyncio.ensure_future(coro)

        def finished(t: asyncio.Future[Any]) -> None:
            error = t.exception() if not t.cancelled() else None
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(error))}</span>" if error else done_text
            self.refresh()

        task.add_done_callback(finished)


class StatusCard(w.HTML):  # type: ignore[misc]
    """A run's status card that refreshes itself until the run closes."""

    def __init__(self, handle: WorkflowHandle, *, refresh: float = 0.5) -> None:
        super().__init__(value=status_card_html(handle.describe()))
        self.handle = handle
        try:
            self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._poll(refresh))
        except RuntimeError:
            self._task = None

    async def _poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                summary = self.handle.describe()
            except Exception:  # noqa: BLE001 - the engine closed; keep the last card
                return
            self.value = status_card_html(summary)
            if summary.status != "Running":
                return
