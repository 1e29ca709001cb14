"""Where the engine gets time from, so tests can move it by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Cancellable(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""
        ...


class Clock(Protocol):
    """Wall-clock time and callbacks at a wall-clock time."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def call_at(self, when: float, callback: Callable[[], Any]) -> Cancellable:
        """Run `callback` on the running loop at wall-clock time `when` (at once if past)."""
        ...


class SystemClock:
    """The real clock, with callbacks on the running asyncio loop."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()

    def call_at(self, when: float, callback: Callable[[], Any]) -> Cancellable:
        """Schedule on the running loop."""
        return asyncio.get_running_loop().call_later(max(0.0, when - time.time()), callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], Any]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that only moves when told to: `advance(seconds)` runs what falls due."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _FakeTimer]] = []
        self._counter = itertools.count()
        self._due_soon = 0
        """Callbacks already due (`call_at` with a past time) that wait for their loop turn."""

    def now(self) -> float:
        """The fake time."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], Any]) -> Cancellable:
        """Run `callback` once `advance` reaches `when`; a past `when` runs on the next loop turn."""
        timer = _FakeTimer(callback)
        if when <= self._now:
            self._due_soon += 1
            asyncio.get_running_loop().call_soon(self._fire_soon, timer)
        else:
            heapq.heappush(self._heap, (when, next(self._counter), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward and run every callback that falls due, in time order."""
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to `when` (never back) and run every callback due by then, in time order."""
        target = max(self._now, when)
        while self._heap and self._heap[0][0] <= target:
            due, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            self._fire(timer)
        self._now = target

    def next_deadline(self) -> float | None:
        """When the next callback is due: `now()` if one is due and waits for its loop turn, None if none is scheduled.

        A time-skipping test engine (`wfkit.testing.engine`) jumps here whenever the engine is idle.
        """
        if self._due_soon:
            return self._now
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _fire_soon(self, timer: _FakeTimer) -> None:
        self._due_soon -= 1
        self._fire(timer)

    @staticmethod
    def _fire(timer: _FakeTimer) -> None:
        if not timer.cancelled:
            timer.callback()
