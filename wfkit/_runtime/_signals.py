"""Signals waiting to be read, and readers waiting for signals: the mailbox behind `wfkit.wait_signal`."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

__all__ = ["SignalMailbox"]


class SignalMailbox:
    """Per signal name: values that arrived before anyone waited, and the futures of waiting readers (FIFO)."""

    def __init__(self) -> None:
        self._values: dict[str, collections.deque[Any]] = collections.defaultdict(collections.deque)
        self.waiters: dict[str, collections.deque[asyncio.Future[Any]]] = collections.defaultdict(collections.deque)

    def deliver(self, name: str, value: Any) -> None:
        """Hand a signal to the first reader still waiting, or keep it for the next one."""
        waiters = self.waiters[name]
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(value)
                return
        self._values[name].append(value)

    async def receive(self, name: str, timeout: float | None, loop: asyncio.AbstractEventLoop) -> Any:
        """The next signal called `name`; with `timeout` (a timer on `loop`), `TimeoutError` if none comes."""
        buffered = self._values.get(name)
        if buffered:
            return buffered.popleft()
        waiter: asyncio.Future[Any] = loop.create_future()
        self.waiters[name].append(waiter)
        if timeout is None:
            return await waiter
        try:
            return await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            # Python 3.10's asyncio.TimeoutError is not the builtin TimeoutError.
            raise TimeoutError(f"no signal {name!r} within {timeout:g}s") from None
