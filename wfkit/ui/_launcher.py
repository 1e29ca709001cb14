"""`launcher(engine)`: a form per registered workflow, generated from its signature."""

from __future__ import annotations

import asyncio
import html
import inspect
from typing import Any

import ipywidgets as w

from wfkit._definitions import WorkflowDefinition
from wfkit._engine._engine import Engine
from wfkit.ui._forms import Field, field_for

__all__ = ["Launcher", "launcher"]


class WorkflowForm(w.VBox):  # type: ignore[misc]
    """The form of one workflow: its fields, a workflow id, a Start button and a message line."""

    def __init__(self, engine: Engine, definition: WorkflowDefinition[Any, Any], on_started: Any = None) -> None:
        self.engine = engine
        self.definition = definition
        self.fields: list[Field] = [field_for(p.name, definition.hints.get(p.name, Any), p.default) for p in definition.signature.parameters.values()]
        self.workflow_id = w.Text(description="workflow id", placeholder="(generated)", style={"description_width": "140px"}, layout=w.Layout(width="420px"))
        self.start_button = w.Button(description="Start", button_style="primary", icon="play")
        self.message = w.HTML()
        self.started: list[Any] = []
        """Handles of the runs this form started."""
        self.last_task: asyncio.Future[Any] | None = None
        self._on_started = on_started
        self.start_button.on_click(lambda _: self.submit())
        doc = html.escape(inspect.cleandoc(definition.fn.__doc__ or ""))
        header = w.HTML(f"<b>{html.escape(definition.name)}</b><div style='color:#607d8b'>{doc}</div>")
        super().__init__([header, *[f.box for f in self.fields], self.workflow_id, w.HBox([self.start_button, self.message])])

    def values(self) -> list[Any] | None:
        """The parsed arguments, or None (with the errors shown beside their fields)."""
        values, failed = [], False
        for field in self.fields:
            try:
                values.append(field.value())
            except ValueError:
                failed = True
        return None if failed else values

    def submit(self) -> asyncio.Future[Any] | None:
        """Validate and start a run (on the running loop); returns the start task, or None if a field is invalid."""
        values = self.values()
        if values is None:
            self.message.value = "<span style='color:#c62828'>fix the fields marked in red</span>"
            return None
        self.message.value = "starting…"
        task: asyncio.Future[Any] = asyncio.ensure_future(self.engine.start(self.definition, *values, id=self.workflow_id.value.strip() or None))
        task.add_done_callback(self._done)
        self.last_task = task
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            self.message.value = "cancelled"
            return
        error = task.exception()
        if error is not None:
            self.message.value = f"<span style='color:#c62828'>{html.escape(type(error).__name__)}: {html.escape(str(error))}</span>"
            return
        handle = task.result()
        self.started.append(handle)
        self.message.value = f"started <code>{html.escape(handle.workflow_id)}</code> (run {len(self.started)} from this form)"
        if self._on_started is not None:
            self._on_started(handle)


class Launcher(w.Tab):  # type: ignore[misc]
    """One tab per registered workflow (wfkit's own, the scheduler and backfill, are started by `engine.schedule`)."""

    def __init__(self, engine: Engine, on_started: Any = None) -> None:
        workflows = sorted((name, d) for name, d in engine.registry.workflows().items() if not name.startswith("wfkit."))
        self.forms = {name: WorkflowForm(engine, d, on_started) for name, d in workflows}
        super().__init__(children=list(self.forms.values()))
        for index, name in enumerate(self.forms):
            self.set_title(index, name)


def launcher(engine: Engine, *, on_started: Any = None) -> Launcher:
    """A form per registered workflow: fields from the signature and type hints, defaults filled in, a Start button.

    Invalid input shows an error next to its field and starts nothing. `on_started(handle)` is
    called for each run started (the monitor picks runs up by itself).
    """
    return Launcher(engine, on_started)
