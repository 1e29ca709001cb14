"""Commands over runs and histories: demo, run, ls, show, sql, stats, replay, save-test, report, export, import, purge."""

from __future__ import annotations

import asyncio
import csv
import datetime
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

import wfkit
from wfkit.cli._main import (
    _console,
    _db_option,
    _formats,
    _histories,
    _jsonable,
    _load_module,
    _parse_value,
    _printable,
    _printable_json,
    _progress,
    _run,
    _status,
    _table,
    _text,
    _workflow_target,
    _workflows_in,
    main,
)

if TYPE_CHECKING:
    pass


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
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="NAME=VALUE",
    help="Only runs whose search attribute NAME equals VALUE (or, for a list, contains it); repeat to require several.",
)
@_db_option
def ls(status: str | None, workflow_type: str | None, limit: int, where: tuple[str, ...], db: str) -> None:
    """List runs, newest first (run ids are shortened: any unique prefix of 6+ characters names a run)."""
    search_attributes = _search_filter(where)
    with _histories(db) as h:
        rows = h.runs(status=status, workflow_type=workflow_type, search_attributes=search_attributes, limit=limit).fetchall()
    if not rows:
        click.echo("no runs" + (" match" if status or workflow_type or where else f" in {db}"))
        return
    shown = [
        (wid, rid[:12], wtype, st, started, duration, acts, attempts, failed, events, *([_compact(attrs)] if where else []))
        for wid, rid, wtype, st, started, duration, acts, attempts, failed, events, _parent, attrs, _memo in rows
    ]
    columns = ["workflow id", "run id", "type", "status", "started (UTC)", "duration_s", "activities", "attempts", "failed", "events"]
    columns += ["search attributes"] if where else []
    _console().print(_table(columns, shown, formats=_formats(columns)))


def _search_filter(where: tuple[str, ...]) -> dict[str, str]:
    """`--where NAME=VALUE` options as a search-attribute filter."""
    out: dict[str, str] = {}
    for item in where:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--where")
        out[name.strip()] = value
    return out


def _compact(attributes: Any) -> str:
    """A run's search attributes (JSON text from the `runs` view) on one line."""
    values = json.loads(attributes) if isinstance(attributes, str) else attributes or {}
    return ", ".join(f"{k}={v}" for k, v in values.items())


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


@main.command(name="save-test")
@click.argument("run_id", metavar="RUN")
@click.option("--out", "directory", default="tests/regressions", show_default=True, type=click.Path(file_okay=False), help="Directory for the two files.")
@click.option(
    "--module",
    "-m",
    "module",
    help="The module (dotted name, or a .py file) that defines the workflow; the test imports it. Needed unless the workflow is one of wfkit's own:"
    " a history does not record where its code lives.",
)
@click.option("--name", help="Base name of the files (default: the workflow id and the start of the run id).")
@click.option("--overwrite", is_flag=True, help="Replace files of the same name.")
@_db_option
def save_test(run_id: str, directory: str, module: str | None, name: str | None, overwrite: bool, db: str) -> None:
    """Save a run as a regression test: its history (JSON) and a pytest module that replays it against the current code.

    RUN may be a run id, a workflow id (its latest run) or a unique run-id prefix. The test passes while
    the code issues the commands the run recorded and fails with the nondeterminism error after an
    incompatible change. The module must be importable when pytest runs (from pytest's rootdir, or its
    `pythonpath` setting).
    """
    loaded = _load_module(module) if module is not None else None
    with _histories(db) as h:
        try:
            saved = wfkit.testing.save_test(h, run_id, directory, module=loaded, name=name, overwrite=overwrite)
        except wfkit.ArgumentError as exc:
            if loaded is None:
                raise click.UsageError(f"{exc}; pass --module (a dotted module name or a .py file)") from None
            raise
    click.echo(f"wrote {saved.history} and {saved.test}")
    if module is not None and module.endswith(".py"):
        click.echo(f"the test imports {loaded.__name__ if loaded else module}: run pytest where that module is importable", err=True)


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
