"""The sample ETL pipeline behind `wfkit demo`: several sources, a flaky one, retries, children, a timer."""

from __future__ import annotations

import asyncio
import random as _random
import zlib
from dataclasses import dataclass

import wfkit

__all__ = ["SOURCES", "extract", "load", "nightly", "pipeline", "transform"]

SOURCES = ["orders.csv", "customers.csv", "payments.csv", "flaky-api"]


@dataclass
class Summary:
    """What `transform` makes of one source's rows."""

    source: str
    rows: int
    total: float


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=4, initial_interval=0.05), start_to_close=10)
async def extract(source: str) -> list[dict[str, float]]:
    """Pretend to read a source; `flaky-api` fails its first attempt."""
    info = wfkit.activity_info()
    if source == "flaky-api" and info.attempt == 1:
        raise ConnectionError(f"{source}: connection reset by peer")
    await asyncio.sleep(_random.uniform(0.005, 0.03))
    seed = zlib.crc32(source.encode())
    return [{"id": k, "amount": round((k * seed) % 1000 / 10, 2)} for k in range(100)]


@wfkit.activity
def transform(source: str, rows: list[dict[str, float]]) -> Summary:
    """Aggregate the rows of one source (a plain def: runs in a thread)."""
    return Summary(source, len(rows), round(sum(r["amount"] for r in rows), 2))


@wfkit.activity
async def load(summaries: list[Summary]) -> float:
    """Pretend to write the summaries to a warehouse; returns the grand total."""
    await asyncio.sleep(0.005)
    return round(sum(s.total for s in summaries), 2)


@wfkit.workflow
async def pipeline(source: str) -> Summary:
    """One source: extract then transform."""
    rows = await extract(source)
    summary: Summary = await transform(source, rows)
    return summary


@wfkit.workflow
async def nightly(sources: list[str]) -> float:
    """Fan out one child pipeline per source, wait a little (a durable timer), then load."""
    summaries = await asyncio.gather(*(pipeline(s) for s in sources))
    await wfkit.sleep(0.05)
    return await load(list(summaries))
