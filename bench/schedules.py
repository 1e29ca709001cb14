#!/usr/bin/env python
"""Schedules: what a backfill and a schedule's firings cost beside starting the same runs by hand.

Per rep, in fresh files, three ways to run N two-step runs of the same workflow:
- baseline: `engine.start` N runs, at most --concurrency at a time, and wait for each;
- backfill: `engine.backfill` of a schedule firing every minute over an N-minute range, at the
  same concurrency (each firing is a `wfkit.schedule.run` activity in the backfill's history);
- schedule: a schedule firing every second on a FakeClock, advanced one second at a time, each
  time waiting for the firing's run to complete (a timer, a `wfkit.schedule.fire` activity, the
  run and its two steps, one after another): the latency from a firing's due time to its run's end.
Reported: runs/s of the first two with the backfill's ratio to the baseline from the same rep, and
the firing latency in ms; medians of --reps.

Usage:
  python bench/schedules.py                 # 3 reps of 300 runs
  python bench/schedules.py --reps 5 --n 500 --concurrency 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import tempfile
import time
from pathlib import Path

import wfkit


@wfkit.activity
async def bs_step(i: int) -> int:
    return i + 1


@wfkit.workflow
async def bs_job(i: int) -> int:
    return await bs_step(await bs_step(i))


async def baseline(path: Path, n: int, concurrency: int) -> float:
    async with await wfkit.Engine.open(path) as engine:
        started = time.perf_counter()
        limit = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with limit:
                await (await engine.start(bs_job, i)).result()

        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


async def backfill(path: Path, n: int, concurrency: int) -> float:
    async with await wfkit.Engine.open(path) as engine:
        await engine.schedule(bs_job, 1, id="bench", every=datetime.timedelta(minutes=1))
        start = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
        started = time.perf_counter()
        report = await engine.backfill("bench", start=start, end=start + datetime.timedelta(minutes=n), max_concurrent=concurrency, progress=False)
        assert report.completed == n, report
        return n / (time.perf_counter() - started)


async def scheduled(path: Path, n: int) -> float:
    clock = wfkit.FakeClock(start=datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc).timestamp())
    async with await wfkit.Engine.open(path, clock=clock) as engine:
        await engine.schedule(bs_job, 1, id="bench", every=1, overlap="allow_all")
        first = clock.now()
        started = time.perf_counter()
        for i in range(1, n + 1):
            clock.advance(1)
            workflow_id = f"bench-{datetime.datetime.fromtimestamp(first + i, datetime.timezone.utc).isoformat().replace('+00:00', 'Z')}"
            while True:  # the firing's run appears, then completes
                try:
                    handle = engine.get_handle(workflow_id)
                    break
                except wfkit.WorkflowNotFoundError:
                    await asyncio.sleep(0.0005)
            await handle.result()
        return n / (time.perf_counter() - started)


async def rep(n: int, concurrency: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = await baseline(Path(tmp) / "a.duckdb", n, concurrency)
        filled = await backfill(Path(tmp) / "b.duckdb", n, concurrency)
        fired = await scheduled(Path(tmp) / "c.duckdb", n)
    return base, filled, fired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    results = []
    for i in range(args.reps):
        base, filled, fired = asyncio.run(rep(args.n, args.concurrency))
        results.append((base, filled, fired))
        print(f"rep {i + 1}: start {base:.0f} runs/s, backfill {filled:.0f} runs/s ({filled / base:.2f}x), firing due -> run done {1000 / fired:.1f} ms")
    base, filled, fired = (statistics.median(r[k] for r in results) for k in range(3))
    ratio = statistics.median(r[1] / r[0] for r in results)
    print(f"median: start {base:.0f} runs/s, backfill {filled:.0f} runs/s ({ratio:.2f}x), firing due -> run done {1000 / fired:.1f} ms")


if __name__ == "__main__":
    main()
