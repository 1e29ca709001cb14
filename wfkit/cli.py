"""The `wfkit` command line."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import click

import wfkit

__all__ = ["main"]


class _Group(click.Group):
    """Turns wfkit errors into one-line messages and exit code 1 (click uses 2 for usage errors)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except wfkit.WfkitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(wfkit.__version__, prog_name="wfkit")
def main() -> None:
    """wfkit: durable workflows with their histories in DuckDB."""


@main.command()
@click.option("--db", default="wfkit-demo.duckdb", show_default=True, help="DuckDB file to record the runs in.")
@click.option("--runs", "count", default=5, show_default=True, type=click.IntRange(1, 10_000), help="Number of nightly pipelines to run.")
def demo(db: str, count: int) -> None:
    """Run a sample ETL pipeline (several workflows, a flaky source, retries) and print a summary."""
    from rich.console import Console  # imported on use: keeps `wfkit --help` fast
    from rich.progress import Progress
    from rich.table import Table

    from wfkit import _demo

    console = Console()

    async def run_all() -> tuple[list[float], float, list[tuple[Any, ...]]]:
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
            rows = engine.sql(
                "SELECT workflow_type, status, count(*) AS runs, sum(history_length) AS events FROM workflows"
                " WHERE start_time >= now() - INTERVAL 1 DAY GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            return results, elapsed, rows

    results, elapsed, rows = asyncio.run(run_all())
    table = Table(title=f"wfkit demo: {count} nightly pipelines in {elapsed:.2f}s, recorded in {Path(db).resolve()}")
    for column in ("workflow type", "status", "runs", "events"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"grand totals: {sorted(set(results))}")
    console.print(f'[dim]the histories are SQL: duckdb.connect({db!r}).sql("select event_type, count(*) from events group by 1")[/dim]')
