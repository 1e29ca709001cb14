"""Timing helper shared by the bench scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["median_ms"]


def median_ms(fn: Callable[[], Any], reps: int) -> float:
    """Median wall time of `reps` calls of `fn`, in milliseconds."""
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)
