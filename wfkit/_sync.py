"""`wfkit.run`: the one synchronous convenience, for scripts and notebook cells."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from wfkit._definitions import WorkflowDefinition

__all__ = ["run"]


def run(workflow: WorkflowDefinition[Any, Any], *args: Any, db: str | os.PathLike[str] | None = None, id: str | None = None) -> Any:  # noqa: A002
    """Open an engine on `db` (None: in memory), run `workflow(*args)` to completion and return its result.

    Works in a plain script and inside a running Jupyter loop (through nest-asyncio).
    """
    from wfkit._engine._engine import Engine

    async def main() -> Any:
        async with Engine.open(db) as engine:
            handle = await engine.start(workflow, *args, id=id)
            return await handle.result()

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Jupyter already runs a loop on this thread; nest-asyncio lets us wait on it re-entrantly.
    import nest_asyncio

    nest_asyncio.apply(loop)
    return loop.run_until_complete(main())
