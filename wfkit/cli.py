"""The `wfkit` command line: run workflows, look at their histories, query them, share them.

Commands that only read (ls, show, sql, stats, replay, report, export) open the database
read-only, so they work beside another reader but not while an engine in another process holds
the file (DuckDB allows one writer process and no reader beside it); the error names that
process. Exit codes: 0 ok, 1 error (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime
import importlib
import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

import wfkit

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = ["main"]

T = TypeVar("T")

DEFAULT_DB = "wfkit.duckdb"


class _Group(click.Group):
    """Turns every error into one line on stderr and exit code 1 (click keeps 2 for usage errors)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("WFKIT_DEBUG"):
                raise
            click.echo(f"error: {_one_line(exc)}", err=True)
            sys.exit(1)


def _one_line(exc: BaseException) -> str:
    text = _printable(" ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip()))
    if isinstance(exc, (wfkit.WfkitError, FileNotFoundError, FileExistsError, ValueError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Text from a database (or an error quoting it), safe on a terminal: control characters, which can start
    escape sequences that rewrite the screen, the window title or the clipboard, print as `\\x1b`-style escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _printable_json(text: str) -> str:
    """JSON text with the C1 control characters (which json.dumps leaves as they are) written as \\u escapes."""
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(wfkit.__version__, prog_name="wfkit")
def main() -> None:
    """wfkit: durable workflows with their histories in DuckDB.

    Start with `wfkit demo`, then `wfkit ls --db wfkit-demo.duckdb`. Every command takes --db
    (default: $WFKIT_DB or wfkit.duckdb).
    """


def _db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        default=DEFAULT_DB,
        envvar="WFKIT_DB",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The wfkit DuckDB file ($WFKIT_DB).",
    )(fn)


#### Shared helpers ####


def _console(err: bool = False) -> Console:
    from rich.console import Console  # rich loads on use: keeps `wfkit --help` fast

    stream = sys.stderr if err else sys.stdout
    # Not a terminal (a pipe, a file, a test): rich would wrap at 80 columns; tables read better wider.
    return Console(stderr=err, highlight=False, width=None if stream.isatty() else 160)


@contextmanager
def _histories(db: str) -> Iterator[wfkit.Histories]:
    if not Path(db).exists():
        raise FileNotFoundError(f"{db}: no such database (pass --db, set WFKIT_DB, or create one with `wfkit demo` or `wfkit run`)")
    with wfkit.open_histories(db) as histories:
        yield histories


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar fed by the API's progress(step, done, total) callbacks."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"), TimeElapsedColumn())
    # Only on a terminal: in a pipe or a log the bar's last frame would be noise beside the result.
    with Progress(*columns, console=_console(True), transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(description, total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"{description}: {step}", completed=done, total=total)

        yield update


def _text(value: Any) -> Text:
    """A table cell; Text (not a markup string), so payload text like `[bold]` prints as it is."""
    from rich.text import Text

    if value is None:
        return Text("-", style="dim")
    if isinstance(value, datetime.datetime):
        return Text(value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    return Text(_printable(str(value)))


_STATUS_STYLE = {"completed": "green", "failed": "red", "timed_out": "red", "terminated": "red", "running": "cyan", "canceled": "yellow"}


def _status(value: Any) -> Text:
    text = _text(value)
    text.stylize(_STATUS_STYLE.get(str(value).lower(), ""))
    return text


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None, formats: dict[str, Callable[[Any], Text]] | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    formats = formats or {}
    for row in rows:
        table.add_row(*((formats.get(c) or _text)(v) for c, v in zip(columns, row, strict=True)))
    return table


def _seconds(value: Any) -> Text:
    return _text(None if value is None else f"{value:.3f}")


def _rate(value: Any) -> Text:
    return _text(None if value is None else f"{value * 100:.1f}%")


def _formats(columns: Sequence[str]) -> dict[str, Callable[[Any], Text]]:
    out: dict[str, Callable[[Any], Text]] = {}
    for c in columns:
        if c.endswith("_rate"):
            out[c] = _rate
        elif c.endswith("_s"):
            out[c] = _seconds
        elif c == "status":
            out[c] = _status
    return out


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _parse_value(text: str) -> Any:
    """JSON if it parses (`5`, `true`, `[1, 2]`, `"quoted"`), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a loop of its own and close it (asyncio.run does not once nest-asyncio has patched it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _load_module(name: str) -> ModuleType:
    """A module by dotted name (from the current directory first) or by file path."""
    if name.endswith(".py") or os.sep in name:
        path = Path(name).resolve()
        if not path.is_file():
            raise click.BadParameter(f"no such file: {name}", param_hint="module")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise click.BadParameter(f"cannot import {name}", param_hint="module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise click.BadParameter(f"no module named {name!r} (run from the directory that holds it, or give a .py path)", param_hint="module") from None
        raise


def _workflows_in(module: ModuleType) -> list[wfkit.WorkflowDefinition[Any, Any]]:
    return [v for v in vars(module).values() if isinstance(v, wfkit.WorkflowDefinition)]


#### Commands ####


@main.command()
@click.option("--db", default="wfkit-demo.duckdb", show_default=True, help="DuckDB file to record the runs in.")
@click.option("--runs", "count", default=5, show_default=True, type=click.IntRange(1, 10_000), help="Number of nightly pipelines to run.")
def demo(db: str, count: int) -> None:
    """Run a sample ETL pipeline (several workflows, a flaky source, retries) and print a summary."""
    from rich.progress import Progress

    from wfkit import _demo

    console = _console()

    async def run_all() -> tuple[list[float], float, list[tuple[Any, ...]], list[datetime.datetime]]:
        async with wfkit.Engine.open(db) as engine:
            started = time.perf_counter()
            stamp = time.strftime("%Y%m%d-%H%M%S")
            handles = [await engine.start(_demo.nightly, _demo.SOURCES, id=f"nightly-{stamp}-{i}") for i in range(count)]
            results = []
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("running nightly pipelines", total=count)
                for handle in asyncio.as_completed([h.result() for h in handles]):
                    results.append(await handle)
                    progress.advance(task)
            elapsed = time.perf_counter() - started
            nightly = await engine.schedule(_demo.nightly, _demo.SOURCES, id="demo-nightly", cron="0 2 * * *", timezone="Europe/Berlin")
            upcoming = (await nightly.describe()).next_fire_times
            rows = engine.sql(
                "SELECT workflow_type, status, count(*) AS runs, sum(history_length) AS events FROM workflows"
                " WHERE start_time >= now() - INTERVAL 1 DAY AND workflow_type <> 'wfkit.schedule' GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            return results, elapsed, rows, upcoming

    results, elapsed, rows, upcoming = _run(run_all())
    title = f"wfkit demo: {count} nightly pipelines in {elapsed:.2f}s, recorded in {Path(db).resolve()}"
    console.print(_table(["workflow type", "status", "runs", "events"], rows, title=title))
    console.print(f"grand totals: {sorted(set(results))}")
    berlin = [t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %d %b %H:%M") for t in upcoming]
    console.print(f"schedule demo-nightly (0 2 * * *, Europe/Berlin) fires next: {', '.join(berlin)} (while an engine has the file open)")
    console.print(f"[dim]next: wfkit ls --db {db} · wfkit stats --db {db} · wfkit schedule ls --db {db} · wfkit show <run id> --db {db}[/dim]")


def _workflow_target(target: str) -> wfkit.WorkflowDefinition[Any, Any]:
    """The workflow named by MODULE:WORKFLOW."""
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise click.BadParameter("expected MODULE:WORKFLOW, e.g. flows:etl", param_hint="MODULE:WORKFLOW")
    module = _load_module(module_name)
    workflow = getattr(module, attr, None)
    if not isinstance(workflow, wfkit.WorkflowDefinition):
        found = ", ".join(sorted(w.name for w in _workflows_in(module))) or "none"
        raise click.BadParameter(f"{module_name}.{attr} is not a @wfkit.workflow (workflows there: {found})", param_hint="MODULE:WORKFLOW")
    return workflow


@main.command()
@click.argument("target", metavar="MODULE:WORKFLOW")
@click.option("--arg", "args", multiple=True, metavar="VALUE", help="A workflow argument, repeatable; JSON if it parses (5, true, '[1,2]'), else text.")
@click.option("--id", "workflow_id", help="The workflow id (default: generated).")
@_db_option
def run(target: str, args: tuple[str, ...], workflow_id: str | None, db: str) -> None:
    """Run a workflow to completion and print its result as JSON.

    MODULE is a dotted module name importable from the current directory, or a .py file.
    """
    workflow = _workflow_target(target)
    values = [_parse_value(a) for a in args]

    async def go() -> tuple[str, str, Any]:
        async with wfkit.Engine.open(db) as engine:
            handle = await engine.start(workflow, *values, id=workflow_id)
            return handle.workflow_id, handle.run_id, await handle.result()

    wid, run_id, result = _run(go())
    click.echo(f"workflow {wid} run {run_id} completed", err=True)
    click.echo(json.dumps(result, default=_jsonable))


@main.command(name="ls")
@click.option("--status", help="Only runs with this status (Completed, Failed, Running, ...; any case).")
@click.option("--type", "workflow_type", help="Only runs of this workflow type.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="At most this many runs, newest first.")
@_db_option
def ls(status: str | None, workflow_type: str | None, limit: int, db: str) -> None:
    """List runs, newest first (run ids are shortened: any unique prefix of 6+ characters names a run)."""
    with _histories(db) as h:
        rows = h.runs(status=status, workflow_type=workflow_type, limit=limit).fetchall()
    if not rows:
        click.echo("no runs" + (" match" if status or workflow_type else f" in {db}"))
        return
    shown = [
        (wid, rid[:12], wtype, st, started, duration, acts, attempts, failed, events)
        for wid, rid, wtype, st, started, duration, acts, attempts, failed, events, _parent in rows
    ]
    columns = ["workflow id", "run id", "type", "status", "started (UTC)", "duration_s", "activities", "attempts", "failed", "events"]
    _console().print(_table(columns, shown, formats=_formats(columns)))


def _event_summary(event: wfkit.Event) -> str:
    a = event.attributes

    def preview(value: Any) -> str:
        text = json.dumps(value.get("data") if isinstance(value, dict) and "data" in value else value, default=str, ensure_ascii=False)
        return text if len(text) <= 80 else text[:77] + "..."

    parts = []
    if "activity_type" in a:
        parts.append(f"{a['activity_type']} #{a.get('activity_id')}" + (f" attempt {a['attempt']}" if a.get("attempt") is not None else ""))
    for key in ("workflow_type", "signal_name", "marker_name", "cause", "timeout_type", "retry_state"):
        if a.get(key) is not None:
            parts.append(f"{key}={a[key]}")
    if "timer_id" in a:
        parts.append(f"timer {a['timer_id']}" + (f" ({a['duration']}s)" if "duration" in a else ""))
    if "child_id" in a and "workflow_id" in a:
        parts.append(f"child {a['workflow_id']}")
    if event.event_type in (wfkit.EventType.WorkflowExecutionStarted, wfkit.EventType.ActivityTaskScheduled) and a.get("input") is not None:
        parts.append("input " + preview([p.get("data") if isinstance(p, dict) else p for p in a["input"]]))
    if event.event_type is wfkit.EventType.WorkflowExecutionSignaled and a.get("input") is not None:
        parts.append("payload " + preview(a["input"]))
    if a.get("result") is not None:
        parts.append("result " + preview(a["result"]))
    failure = a.get("failure")
    if isinstance(failure, dict):
        parts.append(f"{failure.get('type')}: {failure.get('message')}")
    if a.get("reason"):
        parts.append(f"reason: {a['reason']}")
    return ", ".join(parts)


@main.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the history as wfkit JSON (History.to_json) instead.")
@_db_option
def show(run_id: str, as_json: bool, db: str) -> None:
    """Show a run's history as a table. RUN_ID may be a run id, a workflow id (its latest run) or a unique run-id prefix."""
    with _histories(db) as h:
        resolved = h.resolve(run_id)
        history = h.history(resolved)
        summary = h.sql("SELECT workflow_id, workflow_type, status, start_time, duration_s, event_count FROM runs WHERE run_id = ?", [resolved]).fetchall()
    if as_json:
        click.echo(history.to_json())
        return
    console = _console()
    if summary:
        wid, wtype, status, started, duration, events = summary[0]
        line = _text(f"{wid}  run {resolved}  {wtype}  ")
        line.append_text(_status(status))
        line.append(f"  started {_text(started)}" + (f"  {duration:.3f}s" if duration is not None else "") + f"  {events} events")
        console.print(line)
    start = history.events[0].event_time if history.events else 0.0
    rows = [(e.event_id, f"+{e.event_time - start:.3f}", e.event_type.value, _event_summary(e)) for e in history]
    console.print(_table(["id", "time (s)", "event", "details"], rows))


@main.command()
@click.argument("query")
@click.option("-p", "--param", "params", multiple=True, metavar="VALUE", help="A value for the next ? in QUERY, repeatable (JSON if it parses).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of objects.")
@click.option("--max-rows", default=100, show_default=True, type=click.IntRange(1), help="Rows shown in the table (CSV and JSON print all).")
@_db_option
def sql(query: str, params: tuple[str, ...], as_csv: bool, as_json: bool, max_rows: int, db: str) -> None:
    """Run a read-only SQL query over the histories (tables events, workflows; views runs, activities, timers, signals, activity_stats)."""
    if as_csv and as_json:
        raise click.UsageError("choose one of --csv and --json")
    with _histories(db) as h:
        rel = h.sql(query, [_parse_value(p) for p in params] if params else None)
        if rel is None:
            click.echo("ok")
            return
        columns, rows = list(rel.columns), rel.fetchall()
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_value(v) for v in row] for row in rows])
    elif as_json:
        click.echo(_printable_json(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=_jsonable, ensure_ascii=False)))
    else:
        console = _console()
        console.print(_table(columns, rows[:max_rows], formats={"status": _status}))
        if len(rows) > max_rows:
            console.print(f"[dim]… {len(rows) - max_rows} more rows (use --max-rows, --csv or --json)[/dim]")
        else:
            console.print(f"[dim]{len(rows)} row{'s' if len(rows) != 1 else ''}[/dim]")


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_jsonable)
    return value


_WORKFLOW_STATS = ("workflow_type", "runs", "completed", "failed", "running", "failure_rate", "p50_s", "p95_s", "p99_s", "max_s")
_ACTIVITY_STATS = ("activity_type", "activities", "attempts", "failed", "failure_rate", "retry_rate", "p50_s", "p95_s", "p99_s", "p95_queue_wait_s")


@main.command()
@click.option("--all-columns", is_flag=True, help="Show every column of the stats (see docs/analytics.md), not a selection.")
@_db_option
def stats(all_columns: bool, db: str) -> None:
    """Per workflow type and per activity type: counts, failure and retry rates, p50/p95/p99 durations."""
    with _histories(db) as h:
        tables = []
        for by, selection, title in (
            ("workflow", _WORKFLOW_STATS, "workflows (durations: start to close)"),
            ("activity", _ACTIVITY_STATS, "activities (durations: each attempt, started to closed)"),
        ):
            rel = h.stats(by=by)
            columns, rows = list(rel.columns), rel.fetchall()
            if not all_columns:
                keep = [columns.index(c) for c in selection]
                columns, rows = [columns[i] for i in keep], [tuple(row[i] for i in keep) for row in rows]
            tables.append((title, columns, rows))
    if not tables[0][2]:
        click.echo(f"no runs in {db}")
        return
    console = _console()
    for title, columns, rows in tables:
        if rows:
            console.print(_table(columns, rows, title=title, formats=_formats(columns)))


@main.command()
@click.argument("run_id")
@click.option("--module", "-m", "modules", multiple=True, required=True, help="Module (dotted name or .py file) defining the workflow code; repeatable.")
@_db_option
def replay(run_id: str, modules: tuple[str, ...], db: str) -> None:
    """Replay a recorded run against the workflow code in --module; exit 1 on nondeterminism."""
    workflows = [w for name in modules for w in _workflows_in(_load_module(name))]
    if not workflows:
        raise click.BadParameter(f"no @wfkit.workflow in {', '.join(modules)}", param_hint="--module")
    with _histories(db) as h:
        history = h.history(run_id)
    result = wfkit.Replayer(workflows=workflows).replay(history)
    outcome = "completed" if result.closed and result.failure is None else ("failed" if result.failure else "still open")
    click.echo(
        f"run {_printable(history.run_id)} ({_printable(str(history.workflow_type))}): {len(history)} events replayed,"
        f" {len(result.commands)} commands matched the history;"
        f" the workflow {outcome}: the code is deterministic for this run"
    )


@main.command()
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The HTML file to write (default: report-<workflow id>.html).")
@_db_option
def report(run_id: str, output: str | None, db: str) -> None:
    """Write a run as one self-contained HTML file (summary, timeline, activity graph, history) that opens offline."""
    with _histories(db) as h:
        resolved = h.resolve(run_id)
        if output is None:
            wid = h.sql("SELECT workflow_id FROM workflows WHERE run_id = ?", [resolved]).fetchall()[0][0]
            output = "report-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in str(wid)) + ".html"
        path = h.report(resolved, output)
    click.echo(f"wrote {path} ({Path(path).stat().st_size / 1024:.0f} KiB)")


@main.command(name="export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True, help="File format.")
@click.option("--partition/--no-partition", default=None, help="Partition each table by date (default: only past a million events).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in DIRECTORY.")
@_db_option
def export_(directory: str, fmt: str, partition: bool | None, overwrite: bool, db: str) -> None:
    """Write events, workflows, runs and activities as Parquet (or JSON lines) files under DIRECTORY."""
    with _histories(db) as h, _progress("exporting") as progress:
        manifest = h.export(directory, fmt, partition_by_date=partition, overwrite=overwrite, progress=progress)
    rows = [(table, count) for table, count in manifest["rows"].items()]
    layout = "partitioned by date" if manifest["partitioned_by_date"] else "one file per table"
    _console().print(_table(["table", "rows"], rows, title=f"exported to {directory} ({fmt}, {layout})"))


@main.command(name="import")
@click.argument("source", type=click.Path(exists=True))
@_db_option
def import_(source: str, db: str) -> None:
    """Store the runs of an export directory (from `wfkit export`) in --db (created if missing); runs already there are skipped."""
    with _progress("importing") as progress:
        counts = wfkit.import_histories(source, db=db, progress=progress)
    click.echo(f"imported {counts['runs']} runs ({counts['events']} events) into {db}; {counts['skipped_runs']} already there, skipped")


@main.command()
@click.option("--before", help="Runs that closed before this ISO date/time (naive: UTC), e.g. 2026-11-01.")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0, min_open=True), help="Runs that closed more than this many days ago.")
@click.option("--workflow", "workflows", multiple=True, metavar="TYPE", help="Only runs of this workflow type (repeatable).")
@click.option("--status", "statuses", multiple=True, help="Only runs with this close status (Completed, Failed, ...; repeatable).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@_db_option
def purge(before: str | None, older_than: float | None, workflows: tuple[str, ...], statuses: tuple[str, ...], dry_run: bool, db: str) -> None:
    """Delete closed runs with their histories (open runs are never deleted).

    The file must not be open in an engine elsewhere (DuckDB allows one writer); use
    `engine.purge(...)` or `Engine.open(..., retention=...)` from the process that runs the engine.
    """
    if before is not None and older_than is not None:
        raise click.UsageError("pass --before or --older-than, not both")
    if not Path(db).exists():
        raise FileNotFoundError(f"{db}: no such database (pass --db or set WFKIT_DB)")
    cutoff: str | datetime.timedelta | None = datetime.timedelta(days=older_than) if older_than is not None else before
    report = wfkit.purge_histories(db, before=cutoff, workflow=list(workflows) or None, status=list(statuses) or None, dry_run=dry_run)
    if dry_run:
        shown = [(rid[:12],) for rid in report.run_ids[:50]]
        if shown:
            _console().print(_table(["run id"], shown, title=f"would delete {report.runs} runs ({report.events} events)"))
        click.echo(f"dry run: would delete {report.runs} runs ({report.events} events) from {db}" + (" (first 50 listed)" if report.runs > 50 else ""))
    else:
        click.echo(f"deleted {report.runs} runs ({report.events} events) from {db} in {report.batches} batches; {report.free_blocks} blocks free for new data")


#### Schedules and backfills ####


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def _duration(text: str, option: str) -> datetime.timedelta:
    """'90', '90s', '15m', '2h' or '1d' as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"expected a duration such as 90s, 15m, 2h or 1d, got {text!r}", param_hint=option)
    size = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return datetime.timedelta(seconds=float(match.group(1)) * size)


@contextmanager
def _engine_for(db: str, action: str) -> Iterator[None]:
    """A clearer error than StoreLockedError for control commands run beside a live engine."""
    try:
        yield
    except wfkit.StoreLockedError:
        raise click.ClickException(
            f"{db} is held by another process's engine; {action} from there (e.g. engine.get_schedule(...)), or close it first"
        ) from None


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
