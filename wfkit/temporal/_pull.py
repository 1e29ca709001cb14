"""Import histories straight from a Temporal cluster through its visibility API."""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wfkit.temporal._import import store_loaded
from wfkit.temporal._load import RUNNING_ON_TEMPORAL, load, report_unknown

if TYPE_CHECKING:
    import temporalio.client

    from wfkit._engine._engine import Engine

__all__ = ["PullReport", "pull"]


@dataclass(slots=True)
class PullReport:
    """What a pull listed, fetched and stored."""

    listed: int = 0
    """Runs the query matched."""
    fetched: list[str] = field(default_factory=list)
    """Run ids whose history was fetched (new runs, and runs that were open at the last pull)."""
    skipped: list[str] = field(default_factory=list)
    """Run ids already stored closed: nothing can have changed, nothing was fetched."""
    events: int = 0
    """Events appended to the store."""
    unknown: dict[str, int] = field(default_factory=dict)


async def pull(
    client: temporalio.client.Client,
    query: str | None = None,
    *,
    db: Engine | str | os.PathLike[str],
    limit: int | None = None,
) -> PullReport:
    """Import the histories of the workflow runs `query` matches (Temporal list-filter syntax).

    Incremental: a run stored closed is skipped without fetching; a run stored open (status
    `RunningOnTemporal`) is fetched again and only its new events are appended.

    Args:
        client: a connected `temporalio.client.Client`.
        query: a visibility query such as `"WorkflowType='etl'"` (None: every run).
        db: the engine to store into, or a DuckDB path (opened and closed here).
        limit: stop after this many runs.
    """
    from wfkit._engine._engine import Engine

    if not isinstance(db, Engine):
        async with Engine.open(db) as engine:
            return await pull(client, query, db=engine, limit=limit)
    engine = db
    loop = asyncio.get_running_loop()
    report = PullReport()
    async for execution in client.list_workflows(query, limit=limit):
        report.listed += 1
        stored: dict[str, Any] | None = engine.store.get_run(execution.run_id)
        closed_now = execution.close_time is not None
        if stored is not None and stored["status"] != RUNNING_ON_TEMPORAL and closed_now:
            report.skipped.append(execution.run_id)
            continue
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        name = f"temporal:{execution.id}/{execution.run_id}"
        convert = functools.partial(load, history.to_json_dict(), workflow_id=execution.id, run_id=execution.run_id, name=name)
        loaded = await loop.run_in_executor(None, convert)
        report.events += await engine.in_store_thread(functools.partial(store_loaded, loaded=loaded))
        report.fetched.append(execution.run_id)
        for key, count in loaded.unknown.items():
            report.unknown[key] = report.unknown.get(key, 0) + count
    report_unknown(report.unknown, "pull")
    return report
