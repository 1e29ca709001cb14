"""Worker process for tests/integration/test_schedules.py: a backfill that the test kills with SIGKILL.

Usage: BF_SIDE_FILE=side.txt python backfill_worker.py DB

Creates the daily schedule `bf-nightly` and backfills November 2026 (30 firings) three at a
time. Each firing's run appends "<scheduled time> <run id>" to $BF_SIDE_FILE from an activity, so the
test can count executions after it has killed this process and resumed the backfill.
"""

from __future__ import annotations

import asyncio
import os
import sys

import wfkit


@wfkit.activity
def bf_record(line: str) -> None:
    with open(os.environ["BF_SIDE_FILE"], "a", encoding="utf-8") as side:
        side.write(line + "\n")


@wfkit.workflow
async def bf_partition(table: str) -> str:
    info = wfkit.info()
    assert info.scheduled_time is not None
    await wfkit.sleep(0.15)  # the partition's work
    await bf_record(f"{info.scheduled_time.isoformat()} {info.run_id}")
    return f"{table}:{info.scheduled_time.date()}"


async def main(db: str) -> None:
    async with await wfkit.Engine.open(db) as engine:
        await engine.schedule(bf_partition, "orders", id="bf-nightly", cron="0 2 * * *", timezone="Europe/Berlin")
        print("ready", flush=True)
        await engine.backfill("bf-nightly", start="2026-11-01", end="2026-12-01", max_concurrent=3, progress=False)
        print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
