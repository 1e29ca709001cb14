"""The monitor's schedules panel: each schedule's next fire time, last firing and state, backfill progress, pause and trigger."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import ipywidgets as w

from wfkit._engine._engine import Engine
from wfkit._schedules._describe import ScheduleDescription
from wfkit.ui._source import RunSource

__all__ = ["SchedulesPanel"]


def _when(description: ScheduleDescription) -> str:
    upcoming = description.next_fire_time
    return "—" if upcoming is None else upcoming.strftime("%Y-%m-%d %H:%M UTC")


class SchedulesPanel(w.VBox):  # type: ignore[misc]
    """One row per open schedule; over an `Engine` each row has pause/unpause and trigger buttons."""

    def __init__(self, source: RunSource) -> None:
        self.source = source
        self.message = w.HTML()
        self.rows = w.VBox()
        self.descriptions: list[ScheduleDescription] = []
        self._refreshing: asyncio.Future[None] | None = None
        super().__init__([self.rows, self.message])

    async def refresh(self) -> None:
        """Reload the schedules (a query per schedule over an engine; a replay per schedule over histories)."""
        source = self.source
        backfills: dict[str, list[Any]] = {}
        if isinstance(source, Engine):
            handles = source.schedules()
            self.descriptions = [await h.describe() for h in handles]
            backfills = {h.id: await h.backfills() for h in handles}
        else:
            schedules = getattr(source, "schedules", None)
            self.descriptions = schedules() if schedules is not None else []
        self.rows.children = [self._row(d, backfills.get(d.id, [])) for d in self.descriptions]
        self.layout.display = None if self.descriptions else "none"

    def _row(self, description: ScheduleDescription, backfills: list[Any]) -> w.Widget:
        state = "<span style='color:#ef6c00'>paused</span>" if description.paused else "<span style='color:#2e7d32'>active</span>"
        text = (
            f"<b>{html.escape(description.id)}</b> · {html.escape(description.workflow)} · {html.escape(description.spec)} · {state}"
            f" · next {_when(description)} · last: {html.escape(description.last_result())}"
        )
        parts: list[w.Widget] = [w.HTML(text, layout=w.Layout(flex="1"))]
        if isinstance(self.source, Engine):
            handle = self.source.get_schedule(description.id)
            toggle = w.Button(description="unpause" if description.paused else "pause", icon="play" if description.paused else "pause")
            trigger = w.Button(description="trigger", icon="bolt")
            toggle.on_click(lambda _: self._act(handle.unpause() if description.paused else handle.pause("from the monitor"), "done"))
            trigger.on_click(lambda _: self._act(handle.trigger_now(), f"{description.id} triggered"))
            toggle.add_class("wfkit-schedule-toggle")
            trigger.add_class("wfkit-schedule-trigger")
            parts += [toggle, trigger]
        row: list[w.Widget] = [w.HBox(parts)]
        for backfill in backfills:
            bar = w.IntProgress(value=backfill.done, max=max(1, backfill.total), description="backfill", style={"description_width": "70px"})
            row.append(w.HBox([bar, w.Label(f"{backfill.done}/{backfill.total} firings · {backfill.workflow_id}")]))
        return w.VBox(row)

    def _act(self, coro: Any, done_text: str) -> None:
        task = asyncio.ensure_future(coro)

        def finished(t: asyncio.Future[Any]) -> None:
            error = t.exception() if not t.cancelled() else None
            self.message.value = f"<span style='color:#c62828'>{html.escape(str(error))}</span>" if error else html.escape(done_text)
            self._refreshing = asyncio.ensure_future(self.refresh())

        task.add_done_callback(finished)
