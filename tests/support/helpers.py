"""Small helpers shared by tests in several folders."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import wfkit

T = TypeVar("T")


def run_on_new_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own, then close it.

    Not asyncio.run: it would reset the current loop under pytest-asyncio's feet, and once
    nest-asyncio has patched it (a sync helper called inside a running loop) it leaves its loop open.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def event_types(history: wfkit.History) -> list[str]:
    """The event type names of a history, in order."""
    return [e.event_type.value for e in history]
