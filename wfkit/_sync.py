"""`wfkit.run` and `wfkit.purge_histories`: synchronous conveniences, for scripts, notebook cells and the CLI."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from wfkit._definitions import WorkflowDefinition
from wfkit._engine._clock import SystemClock
from wfkit._engine._engine import Engine
from wfkit._engine._retention import Before, PurgeReport, Retention, WorkflowFilter
from wfkit._store._store import Store

__all__ = ["purge_histories", "run"]

T = TypeVar("T")


def run(workflow: WorkflowDefinition[Any, Any], *args: Any, db: str | os.PathLike[str] | None = None, id: str | None = None) -> Any:  # noqa: A002
    """Open an engine on `db` (None: in memory), run `workflow(*args)` to completion and return its result.

    Works in a plain script and inside a running Jupyter loop (through nest-asyncio). If this process
    already has an engine open on `db`, the run goes to that engine, which stays open.
    """

    async def main() -> Any:
        live = Engine.live(db) if db is not None else None
        if live is not None:  # this process already has the file open: run there (one engine per file)
            return await (await live.start(workflow, *args, id=id)).result()
        async with Engine.open(db) as engine:
            handle = await engine.start(workflow, *args, id=id)
            return await handle.result()

    return _run_sync(main())


def purge_histories(
    db: str | os.PathLike[str],
    *,
    before: Before = None,
    workflow: WorkflowFilter = None,
    status: str | Sequence[str] | None = None,
    batch_size: int = 100,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PurgeReport:
    """Delete closed runs from the database file `db`; the options are `Engine.purge`'s.

    If this process has an engine open on `db`, that engine purges (it stays open). Otherwise the
    file is opened for writing just for the purge, so no other process may hold it.

    Raises:
        FileNotFoundError: `db` does not exist.
        StoreLockedError: another process has the file open.
    """
    options: dict[str, Any] = {"before": before, "workflow": workflow, "status": status, "batch_size": batch_size, "dry_run": dry_run, "progress": progress}

    async def main() -> PurgeReport:
        live = Engine.live(db)
        if live is not None:
            return await live.purge(**options)
        if not Path(db).exists():
            raise FileNotFoundError(f"{db}: no such database")
        store = Store.open(db)
        try:
            return await Retention(lambda fn: asyncio.to_thread(fn, store), SystemClock()).purge(**options)
        finally:
            store.close()

    return _run_sync(main())


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _run_on_new_loop(coro)
    # Jupyter already runs a loop on this thread; nest-asyncio lets us wait on it re-entrantly.
    import nest_asyncio  # only needed inside a running loop

    nest_asyncio.apply(loop)
    return loop.run_until_complete(coro)


def _run_on_new_loop(coro: Coroutine[Any, Any, T]) -> T:
    # Not asyncio.run: once nest-asyncio has patched it (in a notebook), it no longer closes its loop.
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
