"""Worker process for tests/integration/test_crash_recovery.py: runs ETL workflows against a DuckDB file until they all finish.

Usage: python crash_worker.py DB SIDE_FILE N_WORKFLOWS [LIMIT [EXTRA_BATCHES]]

The test SIGKILLs this process at random moments and starts it again. Every start opens the
engine (open runs resume), prints "ready", starts those of the first LIMIT workflow ids
(default: all N_WORKFLOWS) that were never started, waits for all of them and prints
"done <json results>". The test raises LIMIT from run to run so that new work keeps arriving
while the kills go on, and gives every workflow EXTRA_BATCHES more batches (default 0) when
it makes more kills than the default 20, so that there is work for all of them.

Every activity attempt appends one line to SIDE_FILE (fsynced) before it does any work, so the
test can compare what really ran with what the history says ran.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
import time
import zlib

import wfkit

SOURCES = ("orders", "customers", "payments")
ROWS_PER_EXTRACT = 20

_side_fd: int | None = None


def workflow_id(index: int) -> str:
    return f"etl-{index:02d}"


def _record_start(activity: str) -> None:
    """Append (workflow, run, activity id, attempt, idempotency key) to the side file, durably, before any work."""
    info = wfkit.activity_info()
    line = {
        "workflow_id": info.workflow_id,
        "run_id": info.run_id,
        "activity_id": info.activity_id,
        "activity_type": info.activity_type,
        "attempt": info.attempt,
        "idempotency_key": info.idempotency_key,
        "name": activity,
        "pid": os.getpid(),
    }
    assert _side_fd is not None, "the side file is not open"
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    # One write() on an O_APPEND descriptor: a line is either wholly in the file or not at all.
    written = os.write(_side_fd, data)
    assert written == len(data), f"short write to the side file ({written} of {len(data)} bytes)"
    os.fsync(_side_fd)


def _work_seconds() -> float:
    return random.uniform(0.005, 0.06)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.02), start_to_close=30)
async def extract(source: str, batch: int) -> list[int]:
    """Read one batch of one source (async: runs on the engine loop)."""
    _record_start("extract")
    await asyncio.sleep(_work_seconds())
    seed = zlib.crc32(f"{source}/{batch}".encode())
    return [(seed * (k + 1)) % 997 for k in range(ROWS_PER_EXTRACT)]


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.02), start_to_close=30)
def transform(rows: list[int]) -> int:
    """Aggregate rows (plain def: runs in a thread)."""
    _record_start("transform")
    time.sleep(_work_seconds())
    return sum(rows)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.05), start_to_close=30)
async def validate(total: int) -> int:
    """Check the total against a flaky service: the first attempt always fails, the retry succeeds."""
    _record_start("validate")
    await asyncio.sleep(_work_seconds())
    if wfkit.activity_info().attempt == 1:
        raise ConnectionError("validation service: connection reset by peer")
    return total


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.02), start_to_close=30)
async def load(workflow_id: str, totals: list[int]) -> int:
    """Write the batch totals to the warehouse; returns a checksum."""
    _record_start("load")
    await asyncio.sleep(_work_seconds())
    return sum((position + 1) * total for position, total in enumerate(totals)) + len(workflow_id)


@wfkit.workflow
async def crash_etl(index: int, extra_batches: int) -> dict[str, int]:
    """Batch 0 fans out over every source; later batches read one source each; then validate, a timer, load."""
    batches = 2 + index % 3 + extra_batches
    totals: list[int] = []
    for batch in range(batches):
        key = index * 100 + batch
        if batch == 0:
            parts = await asyncio.gather(*(extract(source, key) for source in SOURCES))
            rows = [row for part in parts for row in part]
        else:
            rows = await extract(SOURCES[(index + batch) % len(SOURCES)], key)
        totals.append(await transform(rows))
    total = await validate(sum(totals))
    await wfkit.sleep(0.02 + 0.01 * (index % 4))
    checksum = await load(workflow_id(index), totals)
    return {"index": index, "batches": batches, "total": total, "checksum": checksum}


async def main(db: str, side_file: str, count: int, limit: int, extra_batches: int) -> None:
    global _side_fd
    _side_fd = os.open(side_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        async with wfkit.Engine.open(db) as engine:
            print("ready", flush=True)
            started = {row[0] for row in engine.sql("SELECT DISTINCT workflow_id FROM workflows").fetchall()}
            wanted = [workflow_id(index) for index in range(min(limit, count))]
            for index, wid in enumerate(wanted):
                if wid in started:
                    continue
                try:
                    await engine.start(crash_etl, index, extra_batches, id=wid, id_reuse_policy="reject_duplicate")
                except wfkit.WorkflowAlreadyStartedError as exc:
                    # The workflows table said it was never started: the test fails on any stderr output.
                    print(f"UNEXPECTED {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            results = await asyncio.gather(*(engine.get_handle(wid).result() for wid in wanted))
            print("done " + json.dumps(dict(zip(wanted, results, strict=True))), flush=True)
    finally:
        os.close(_side_fd)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    count = int(sys.argv[3])
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else count
    extra_batches = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    asyncio.run(main(sys.argv[1], sys.argv[2], count, limit, extra_batches))
