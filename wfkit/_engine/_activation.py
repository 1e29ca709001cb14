"""Running workflow code off the engine's loop, with a deadline, so blocking workflow code cannot freeze the engine.

Workflow code must never block (it runs between awaits on a deterministic loop), but a
`time.sleep()` or a synchronous HTTP call slips in easily. The engine therefore runs each
batch of activations on a thread and waits for it at most `timeout` seconds. If one
activation is still running then, its run's workflow task fails with the file and line the
code is stuck at; the rest of the batch runs on a fresh thread, and the stuck thread's
results are discarded whenever it finishes (as Temporal's deadlock detector does).
"""

from __future__ import annotations

import asyncio
import linecache
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from wfkit._history._commands import Activation, Command
from wfkit._runtime._instance import WorkflowInstance

__all__ = ["ActivationThread"]


@dataclass(slots=True, eq=False)
class _Activation:
    """One run's activation in a batch, and what came of it."""

    run: Any
    instance: WorkflowInstance
    activation: Activation
    scheduled_id: int
    started_id: int
    commands: list[Command] = field(default_factory=list)
    error: Exception | None = None
    stuck: str | None = None
    """Where the code was stuck ("file.py:12 in etl: time.sleep(10)"), if it blew the deadline."""
    done: bool = False


class _Batch:
    def __init__(self, items: Sequence[_Activation]) -> None:
        self.items = list(items)
        self.position = 0
        self.started_at = time.monotonic()
        self.thread_id: int | None = None
        self.abandoned = False


class ActivationThread:
    """Runs batches of activations on worker threads with a per-activation deadline."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wfkit-workflow")
        self.busy: set[str] = set()
        """Run ids whose workflow code is being run now (queries wait for them)."""

    async def run(self, items: Sequence[_Activation]) -> None:
        """Activate every item; on return each has `commands`, an `error`, or `stuck` set."""
        pending = list(items)
        loop = asyncio.get_running_loop()
        poll = min(0.25, self.timeout / 2)
        self.busy = {item.run.run_id for item in items}
        try:
            await self._run(pending, loop, poll)
        finally:
            self.busy = set()

    async def _run(self, pending: list[_Activation], loop: asyncio.AbstractEventLoop, poll: float) -> None:
        while pending:
            batch = _Batch(pending)
            future = loop.run_in_executor(self._pool, self._work, batch)
            while True:
                done, _ = await asyncio.wait({future}, timeout=poll)
                if done:
                    future.result()
                    return
                if time.monotonic() - batch.started_at > self.timeout:
                    break
            batch.abandoned = True
            stuck = batch.items[batch.position]
            stuck.stuck = _where(batch.thread_id)
            pending = batch.items[batch.position + 1 :]

    @staticmethod
    def _work(batch: _Batch) -> None:
        batch.thread_id = threading.get_ident()
        for index, item in enumerate(batch.items):
            if batch.abandoned:
                return
            batch.position = index
            batch.started_at = time.monotonic()
            try:
                commands = item.instance.activate(item.activation)
            except Exception as exc:  # noqa: BLE001 - activate() should not raise; if it does, that run fails
                item.error = exc
            else:
                if not batch.abandoned:
                    item.commands = commands
            item.done = True
        batch.position = len(batch.items)

    def close(self) -> None:
        """Stop taking work (a thread stuck in workflow code finishes on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _where(thread_id: int | None) -> str:
    """The innermost workflow-code frame of a thread's stack, as "file:line in function: source"."""
    frame = sys._current_frames().get(thread_id) if thread_id is not None else None
    if frame is None:
        return "an unknown place"
    stack = traceback.extract_stack(frame)
    package = __file__.rsplit("/", 2)[0]
    plumbing = ("/asyncio/", "/concurrent/", "/threading.py")
    user = [f for f in stack if not f.filename.startswith(package) and not any(p in f.filename for p in plumbing)]
    chosen = user[0] if user else stack[-1]
    # The outermost user frame is the workflow function; report where it is, and the innermost call.
    source = (chosen.line or linecache.getline(chosen.filename, chosen.lineno or 0)).strip()
    innermost = stack[-1]
    deeper = f" (inside {innermost.name} at {innermost.filename.rsplit('/', 1)[-1]}:{innermost.lineno})" if innermost is not chosen else ""
    return f"{chosen.filename}:{chosen.lineno} in {chosen.name}: {source}{deeper}"
