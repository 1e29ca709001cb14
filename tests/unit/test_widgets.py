"""Widget logic in plain Python (no kernel): the launcher's fields, debugger buttons, the monitor, reprs."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
from typing import Literal

import ipywidgets as w
import pytest

import wfkit
from wfkit import ui

E = wfkit.EventType


class Mode(enum.Enum):
    FULL = "full"
    INCREMENTAL = "incremental"


@dataclasses.dataclass
class Window:
    days: int = 7
    label: str = "last week"


received_args: list[object] = []


@wfkit.workflow
async def u_etl(
    source: str,
    limit: int,
    ratio: float = 0.5,
    dry_run: bool = False,
    day: datetime.date = datetime.date(2026, 11, 27),
    tables: list[str] | None = None,
    fmt: Literal["csv", "parquet"] = "csv",
    mode: Mode = Mode.FULL,
    window: Window | None = None,
) -> str:
    received_args[:] = [source, limit, ratio, dry_run, day, tables, fmt, mode, window]
    return "ok"


def _form(engine: wfkit.Engine) -> ui.WorkflowForm:
    return ui.launcher(engine).forms["u_etl"]


async def test_launcher_builds_typed_fields_with_defaults(engine: wfkit.Engine) -> None:
    form = _form(engine)
    kinds = {f.name: type(f.widget).__name__ for f in form.fields}
    assert kinds == {
        "source": "Text",
        "limit": "Text",
        "ratio": "Text",
        "dry_run": "Checkbox",
        "day": "DatePicker",
        "tables": "Textarea",
        "fmt": "Dropdown",
        "mode": "Dropdown",
        "window": "VBox",
    }
    by_name = {f.name: f for f in form.fields}
    assert by_name["ratio"].widget.value == "0.5"
    assert by_name["day"].widget.value == datetime.date(2026, 11, 27)
    assert by_name["fmt"].widget.options == ("csv", "parquet")
    assert by_name["source"].widget.description == "source *"


async def test_launcher_starts_a_run_with_typed_arguments(engine: wfkit.Engine) -> None:
    form = _form(engine)
    by_name = {f.name: f for f in form.fields}
    by_name["source"].widget.value = "orders.csv"
    by_name["limit"].widget.value = "10"
    by_name["tables"].widget.value = "orders\ncustomers"
    by_name["mode"].widget.value = Mode.INCREMENTAL
    form.workflow_id.value = "from-the-form"
    form.start_button.click()
    assert form.last_task is not None
    handle = await form.last_task
    assert await handle.result() == "ok"
    expected = ["orders.csv", 10, 0.5, False, datetime.date(2026, 11, 27), ["orders", "customers"], "csv", Mode.INCREMENTAL, Window(7, "last week")]
    assert received_args == expected
    assert "from-the-form" in form.message.value


async def test_bad_field_input_shows_an_error_and_starts_nothing(engine: wfkit.Engine) -> None:
    form = _form(engine)
    by_name = {f.name: f for f in form.fields}
    by_name["source"].widget.value = "x"
    by_name["limit"].widget.value = "ten"
    assert form.submit() is None
    assert "is not a whole number" in by_name["limit"].error.value
    assert by_name["source"].error.value == ""
    assert engine.runs().fetchall() == []


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.01))
async def u_step(k: int) -> int:
    if k == 2 and wfkit.activity_info().attempt == 1:
        raise ValueError("first try fails")
    return k


@wfkit.workflow
async def u_steps(n: int) -> int:
    total = 0
    for k in range(n):
        total += await u_step(k)
    return total


async def _steps_history(engine: wfkit.Engine) -> wfkit.History:
    handle = await engine.start(u_steps, 4, id="steps")
    await handle.result()
    return engine.history("steps")


async def test_debugger_buttons_move_the_session_and_the_highlight(engine: wfkit.Engine) -> None:
    await _steps_history(engine)
    widget = ui.debugger(engine, "steps")
    assert isinstance(widget, ui.Debugger)
    assert widget.session.position == 0
    widget.forward.click()
    widget.forward.click()
    assert widget.session.position == 2
    assert widget.event_list.value == 2
    assert widget.slider.value == 2
    widget.back.click()
    assert widget.event_list.value == 1
    widget.next_failure.click()
    assert widget.session.snapshot().event is not None
    assert widget.session.snapshot().event.event_type is E.ActivityTaskFailed
    assert "ActivityTaskFailed" in widget.status.value
    widget.slider.value = 10
    assert widget.session.position == 10
    widget.last.click()
    assert widget.forward.disabled
    assert "finished" in widget.status.value
    shapes = widget.timeline.layout.shapes if widget.timeline is not None else ()
    assert len(shapes) == 1  # the cursor at the current event


async def test_debugger_panels_show_stack_locals_and_breakpoints(engine: wfkit.Engine) -> None:
    history = await _steps_history(engine)
    widget = ui.debugger(history, workflows=[u_steps])
    assert isinstance(widget, ui.Debugger)
    widget.break_on.value = "event ActivityTaskCompleted"
    widget.add_break.click()
    widget.to_breakpoint.click()
    assert widget.session.snapshot().event is not None
    assert widget.session.snapshot().event.event_type is E.ActivityTaskCompleted
    widget.forward.click()
    widget.to_breakpoint.click()
    assert "u_steps" in widget.stack.value
    assert "total" in widget.locals.value
    assert "activity" in widget.pending.value


async def test_debugger_for_a_missing_run_shows_a_message(engine: wfkit.Engine) -> None:
    widget = ui.debugger(engine, "no-such-run")
    assert isinstance(widget, w.HTML)
    assert "no run with workflow id &#x27;no-such-run&#x27;" in widget.value


@wfkit.workflow
async def u_waiting() -> str:
    await u_step(1)
    return str(await wfkit.wait_signal("go"))


async def test_monitor_lists_runs_shows_progress_and_acts(engine: wfkit.Engine) -> None:
    await _steps_history(engine)
    waiting = await engine.start(u_waiting, id="waits")
    await asyncio.sleep(0.1)
    monitor = ui.monitor(engine, refresh=0.05)
    try:
        labels = [label for label, _ in monitor.table.options]
        assert any("Completed" in label and "steps" in label for label in labels)
        assert any("Running" in label and "waits" in label for label in labels)
        assert len(monitor.progress.children) == 1
        monitor.table.value = waiting.run_id
        assert monitor.detail.children  # timeline and actions for the selected run
        buttons = {c.description: c for box in monitor.detail.children if isinstance(box, w.HBox) for c in box.children if isinstance(c, w.Button)}
        texts = [c for box in monitor.detail.children if isinstance(box, w.HBox) for c in box.children if isinstance(c, w.Text)]
        texts[0].value, texts[1].value = "go", '"now"'
        buttons["signal"].click()
        assert await waiting.result() == "now"
        await asyncio.sleep(0.15)  # the monitor refreshes by itself
        assert any("Completed" in label and "waits" in label for label, _ in monitor.table.options)
        buttons["debug"].click()
        debuggers = [c for box in monitor.detail.children if isinstance(box, w.VBox) for c in box.children if isinstance(c, ui.Debugger)]
        assert len(debuggers) == 1
    finally:
        monitor.close()


@wfkit.workflow
async def u_tagged(stage: str) -> str:
    wfkit.upsert_search_attributes({"stage": stage})
    return stage


async def test_monitor_filters_runs_by_search_attributes(engine: wfkit.Engine) -> None:
    for stage in ("loaded", "failed", "loaded"):
        await (await engine.start(u_tagged, stage, search_attributes={"team": "data"})).result()
    monitor = ui.monitor(engine, refresh=60)
    try:
        assert len(monitor.table.options) == 3
        monitor.filter.value = "stage=loaded, team=data"
        assert len(monitor.table.options) == 2
        monitor.filter.value = "stage=nothing"
        assert monitor.table.options == ()
        monitor.filter.value = "stage"
        assert "filter: expected name=value, got &#x27;stage&#x27;" in monitor.message.value
        monitor.filter.value = ""
        assert len(monitor.table.options) == 3
    finally:
        monitor.close()


async def test_reprs_are_escaped_html_and_plain_text(engine: wfkit.Engine) -> None:
    @wfkit.workflow(registry=engine.registry)
    async def u_evil() -> str:
        return "<script>alert(1)</script>"

    handle = await engine.start(u_evil, id="<b>evil</b>")
    await handle.result()
    history = engine.history("<b>evil</b>")
    page = history._repr_html_()
    assert "<b>evil</b>" not in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page
    assert "History(workflow_id='<b>evil</b>'" in repr(history)
    card = handle._repr_html_()
    assert "Completed" in card
    assert "&lt;b&gt;evil" in card
    snap = wfkit.ReplaySession(history, workflows=[u_evil]).seek(len(history))
    assert "<script>" not in snap._repr_html_()
    card_widget = ui.status_card(handle)
    assert "Completed" in card_widget.value


@pytest.mark.parametrize("hint", [int, float, str])
def test_empty_required_fields_are_errors(hint: type) -> None:
    from wfkit.ui._forms import field_for

    field = field_for("x", hint)
    if hint is str:
        assert field.value() == ""
    else:
        with pytest.raises(ValueError, match="required"):
            field.value()
