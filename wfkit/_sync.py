"""`wfkit.run`: the one synchronous convenience, for scripts and notebook cells."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from wfkit._definitions import WorkflowDefinition
from wfkit._engine._engine import Engine

__all__ = ["run"]


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

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _run_on_new_loop(main())
    # Jupyter already runs a loop on this thread; nest-asyncio lets us wait on it re-entrantly.
    import nest_asyncio  # only needed inside a running loop

    nest_asyncio.apply(loop)
    return loop.run_until_complete(main())


def _run_on_new_loop(coro: Any) -> Any:
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
