"""Commands over schedules: wfkit schedule ls/create/pause/unpause/trigger/delete, and wfkit backfill."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

import wfkit
from wfkit.cli._main import (
    _console,
    _db_option,
    _duration,
    _engine_for,
    _Group,
    _histories,
    _load_module,
    _parse_value,
    _run,
    _table,
    _workflow_target,
    main,
)

if TYPE_CHECKING:
    pass


def _print_schedules(descriptions: Sequence[Any]) -> None:
    rows = [(d.id, d.workflow, d.spec, d.overlap, "paused" if d.paused else "active", d.next_fire_time, d.last_result(), d.firings) for d in descriptions]
    columns = ["schedule", "workflow", "when", "overlap", "state", "next fire (UTC)", "last firing", "firings"]
    _console().print(_table(columns, rows))


@main.group(cls=_Group)
def schedule() -> None:
    """Durable schedules: list them (works while an engine holds the file), create and control them.

    A schedule fires while an engine is open on the file (a notebook, a service); missed firings
    within its catch-up window fire when one next opens.
    """


@schedule.command(name="ls")
@_db_option
def schedule_ls(db: str) -> None:
    """List the open schedules with their next fire time and last firing."""
    with _histories(db) as h:
        descriptions = h.schedules()
    if not descriptions:
        click.echo(f"no schedules in {db}")
        return
    _print_schedules(descriptions)


@schedule.command(name="create")
@click.argument("target", metavar="MODULE:WORKFLOW")
@click.option("--id", "schedule_id", required=True, help="The schedule id, e.g. nightly-etl.")
@click.option("--cron", help="A 5-field cron expression, e.g. '0 2 * * *'.")
@click.option("--every", help="Or an interval: 90s, 15m, 2h, 1d.")
@click.option("--timezone", default="UTC", show_default=True, help="The IANA time zone the cron expression is read in.")
@click.option("--overlap", type=click.Choice(["skip", "buffer_one", "allow_all", "cancel_other", "terminate_other"]), default="skip", show_default=True)
@click.option("--catchup-window", default="1d", show_default=True, help="After downtime, fire what was missed by at most this long.")
@click.option("--arg", "args", multiple=True, metavar="VALUE", help="A workflow argument, repeatable; JSON if it parses, else text.")
@click.option("--paused", is_flag=True, help="Create it paused.")
@_db_option
def schedule_create(
    target: str,
    schedule_id: str,
    cron: str | None,
    every: str | None,
    timezone: str,
    overlap: str,
    catchup_window: str,
    args: tuple[str, ...],
    paused: bool,
    db: str,
) -> None:
    """Create a schedule (or update the one with this id) for a workflow in MODULE."""
    workflow = _workflow_target(target)
    interval = _duration(every, "--every") if every is not None else None
    values = [_parse_value(a) for a in args]

    async def go() -> Any:
        async with wfkit.Engine.open(db) as engine:
            handle = await engine.schedule(
                workflow, *values, id=schedule_id, cron=cron, every=interval, timezone=timezone,
                overlap=overlap, catchup_window=_duration(catchup_window, "--catchup-window"), paused=paused,  # type: ignore[arg-type]
            )  # fmt: skip
            return await handle.describe()

    with _engine_for(db, "create it"):
        described = _run(go())
    click.echo(str(described))


def _control(db: str, schedule_id: str, op: str, changed: Callable[[Any, Any], bool], *, wait_for_run: bool = False) -> None:
    async def go() -> Any:
        async with wfkit.Engine.open(db) as engine:
            handle = engine.get_schedule(schedule_id)
            before = await handle.describe()
            await getattr(handle, op)()
            if op == "delete":
                return None
            for _ in range(100):  # the scheduler applies the signal in its next workflow task
                after = await handle.describe()
                if changed(before, after):
                    break
                await asyncio.sleep(0.05)
            if not changed(before, after):
                click.echo(f"{op} recorded; the schedule applies it when it next runs in an engine", err=True)
            elif wait_for_run and after.last and after.last["action"] == "started":
                click.echo(f"started {after.last['workflow_id']}; waiting for it", err=True)
                await engine.get_handle(after.last["workflow_id"]).result()
            return after

    with _engine_for(db, f"{op} it"):
        described = _run(go())
    click.echo(f"schedule {schedule_id} deleted (its history and the runs it started are kept)" if described is None else str(described))


@schedule.command(name="pause")
@click.argument("schedule_id")
@_db_option
def schedule_pause(schedule_id: str, db: str) -> None:
    """Pause a schedule: no firings until unpaused."""
    _control(db, schedule_id, "pause", lambda _b, a: a.paused)


@schedule.command(name="unpause")
@click.argument("schedule_id")
@_db_option
def schedule_unpause(schedule_id: str, db: str) -> None:
    """Unpause a schedule: it fires again from its next fire time."""
    _control(db, schedule_id, "unpause", lambda _b, a: not a.paused)


@schedule.command(name="trigger")
@click.argument("schedule_id")
@click.option("--module", "modules", multiple=True, help="Import the workflow's module and wait here for the run to finish (repeatable).")
@_db_option
def schedule_trigger(schedule_id: str, modules: tuple[str, ...], db: str) -> None:
    """Fire a schedule once now (its overlap policy applies)."""
    for name in modules:
        _load_module(name)
    _control(db, schedule_id, "trigger_now", lambda b, a: a.last != b.last, wait_for_run=bool(modules))


@schedule.command(name="delete")
@click.argument("schedule_id")
@_db_option
def schedule_delete(schedule_id: str, db: str) -> None:
    """Delete a schedule (its history and the runs it started stay)."""
    _control(db, schedule_id, "delete", lambda _b, _a: True)


@main.command()
@click.argument("schedule_id")
@click.option("--start", required=True, help="First day or time of the range (ISO; read in the schedule's time zone).")
@click.option("--end", required=True, help="End of the range, exclusive (ISO).")
@click.option("--max-concurrent", default=1, show_default=True, type=click.IntRange(1), help="Runs at once.")
@click.option("--module", "modules", multiple=True, required=True, help="The module with the workflow's code (repeatable).")
@_db_option
def backfill(schedule_id: str, start: str, end: str, max_concurrent: int, modules: tuple[str, ...], db: str) -> None:
    """Run the firings a schedule would have had between --start and --end, with a progress bar."""
    for name in modules:
        _load_module(name)

    async def go() -> Any:
        async with wfkit.Engine.open(db) as engine:
            return await engine.backfill(schedule_id, start=start, end=end, max_concurrent=max_concurrent)

    with _engine_for(db, "backfill"):
        report = _run(go())
    failed = [(r["scheduled_time"], r["workflow_id"], r["status"]) for r in report.runs if r["status"] != "Completed"]
    if failed:
        _console().print(_table(["scheduled time", "workflow id", "status"], failed, title="firings that did not complete"))
    click.echo(str(report))
    if failed:
        sys.exit(1)
