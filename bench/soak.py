#!/usr/bin/env python
"""Soak: 10,000 runs of a mixed workload against one DuckDB file, in one engine.

The workload mixes what a real pipeline does: fan-out of async activities, a threaded
transform, a flaky activity that is retried, durable timers, signals from the driver, a parent
with two child workflows, and continue-as-new. The driver keeps --concurrency runs in flight
(it starts --concurrency more runs than it measures, so the windows never see the drain at the
end) and, after every --window completed runs, records the throughput of that window (runs/s),
the lowest and highest process RSS seen during it (ten readings), Python's allocated blocks,
what DuckDB's buffer manager holds (`duckdb_memory()`), the runs held in memory, and the file
size. At the end it checks that every run completed with the result its code determines and
that `select count(*) from events` equals the sum of the runs' history lengths
(`workflows.history_length`, also run by run), and prints the curve and the verdicts:

- throughput stays within 20%: the mean of the last fifth of the windows is at least 80% of the first fifth's;
- the Python heap stays flat (allocated blocks grow by at most 10%) and, once all runs closed, the engine holds
  none of them (open runs, closing runs, result waiters, timers);
- RSS stays flat: the lowest RSS of the last window is within --rss-tolerance-mb of the second
  window's (the first is warm-up). DuckDB caches the blocks of the file it writes up to its
  `memory_limit` (default: 80% of RAM), so RSS grows with the file unless --memory-limit caps it.

Usage:
  python bench/soak.py                         # 10,000 runs (about 2-3 min on 2 cores)
  python bench/soak.py --runs 2000 --window 200
  python bench/soak.py --db /tmp/soak.duckdb --json soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import wfkit

#### The workload ####


def rows_of(source: str, key: int) -> list[int]:
    seed = zlib.crc32(f"{source}/{key}".encode())
    return [(seed * (k + 1)) % 997 for k in range(20)]


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01))
async def soak_extract(source: str, key: int) -> list[int]:
    await asyncio.sleep(0.001)
    return rows_of(source, key)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01))
def soak_transform(rows: list[int]) -> int:
    return sum(rows)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01))
async def soak_flaky(key: int) -> int:
    if wfkit.activity_info().attempt == 1:
        raise ConnectionError("connection reset by peer")
    return key * 2


@wfkit.activity
async def soak_load(key: int, total: int) -> int:
    return (total * 31 + key) % 1_000_003


@wfkit.workflow
async def soak_etl(key: int) -> int:
    parts = await asyncio.gather(*(soak_extract(source, key) for source in ("orders", "customers", "payments")))
    total = await soak_transform([row for part in parts for row in part])
    await wfkit.sleep(0.01)
    return await soak_load(key, total)


@wfkit.workflow
async def soak_retry(key: int) -> int:
    return await soak_flaky(key)


@wfkit.workflow
async def soak_signal(key: int) -> int:
    value = await wfkit.wait_signal("go")
    return int(value) + await soak_transform(rows_of("signal", key))


@wfkit.workflow
async def soak_child(key: int, part: int) -> int:
    return sum(await soak_extract(f"part{part}", key))


@wfkit.workflow
async def soak_parent(key: int) -> int:
    parts = await asyncio.gather(soak_child(key, 0), soak_child(key, 1))
    return sum(parts)


@wfkit.workflow
async def soak_loop(key: int, remaining: int) -> int:
    value = sum(await soak_extract("loop", key))
    if remaining > 0:
        wfkit.continue_as_new(key, remaining - 1)
    return value


def expected(kind: str, key: int) -> int:
    if kind == "etl":
        return (sum(sum(rows_of(s, key)) for s in ("orders", "customers", "payments")) * 31 + key) % 1_000_003
    if kind == "retry":
        return key * 2
    if kind == "signal":
        return key + sum(rows_of("signal", key))
    if kind == "parent":
        return sum(rows_of("part0", key)) + sum(rows_of("part1", key))
    return sum(rows_of("loop", key))


KINDS = ("etl", "etl", "retry", "signal", "parent", "loop")


async def one_run(engine: wfkit.Engine, index: int) -> None:
    kind = KINDS[index % len(KINDS)]
    wid = f"{kind}-{index}"
    if kind == "etl":
        handle = await engine.start(soak_etl, index, id=wid)
    elif kind == "retry":
        handle = await engine.start(soak_retry, index, id=wid)
    elif kind == "signal":
        handle = await engine.start(soak_signal, index, id=wid)
        await handle.signal("go", index)
    elif kind == "parent":
        handle = await engine.start(soak_parent, index, id=wid)
    else:
        handle = await engine.start(soak_loop, index, 1, id=wid)
    result = await handle.result()
    if result != expected(kind, index):
        raise AssertionError(f"{wid}: result {result!r}, expected {expected(kind, index)!r}")


#### Measuring ####


def duckdb_mb(engine: wfkit.Engine) -> float:
    """What DuckDB's buffer manager holds (cached table and index blocks, transactions)."""
    return float(engine.sql("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchall()[0][0]) / 2**20


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def soak(db: Path, runs: int, concurrency: int, window: int, memory_limit: str | None = None) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    async with wfkit.Engine.open(db) as engine:
        if memory_limit:
            engine.sql(f"SET memory_limit = '{memory_limit}'")
        # `concurrency` more runs than measured: the windows end at `runs` completions, while as many runs are
        # still in flight as at the start (the drain at the end would lower the last window's throughput).
        queue = iter(range(runs + concurrency))
        done = 0
        window_start = time.perf_counter()
        began = window_start
        failures: list[str] = []
        rss_seen: list[float] = []

        async def worker() -> None:
            nonlocal done, window_start
            for index in queue:
                try:
                    await one_run(engine, index)
                except Exception as exc:  # recorded; the soak goes on
                    failures.append(f"run {index}: {type(exc).__name__}: {exc}")
                done += 1
                if done > runs:
                    continue
                if done % max(1, window // 10) == 0:
                    rss_seen.append(rss_mb())  # ten readings a window: checkpoints make RSS spike and fall back
                if done % window == 0:
                    now = time.perf_counter()
                    gc.collect()
                    samples.append(
                        {
                            "runs": done,
                            "seconds": round(now - began, 2),
                            "runs_per_s": round(window / (now - window_start), 1),
                            "rss_mb": round(rss_mb(), 1),
                            "rss_min_mb": round(min(rss_seen), 1),
                            "rss_max_mb": round(max(rss_seen), 1),
                            "python_blocks_k": round(sys.getallocatedblocks() / 1000, 1),
                            "duckdb_mb": round(duckdb_mb(engine), 1),
                            "open_runs": engine.health().open_runs,
                            "file_mb": round(sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20, 1),
                        }
                    )
                    rss_seen.clear()
                    print(
                        f"{done:>6} runs  {samples[-1]['seconds']:>7.1f}s  {samples[-1]['runs_per_s']:>6.1f} runs/s"
                        f"  RSS {samples[-1]['rss_min_mb']:>6.1f}-{samples[-1]['rss_max_mb']:>6.1f} MB  Python blocks {samples[-1]['python_blocks_k']:>7.1f}k"
                        f"  DuckDB {samples[-1]['duckdb_mb']:>5.1f} MB  file {samples[-1]['file_mb']:>6.1f} MB",
                        flush=True,
                    )
                    window_start = time.perf_counter()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        health = engine.health()
        held = health.open_runs + health.closing_runs + health.close_waiters + health.armed_timers
        events = engine.sql("SELECT count(*) FROM events").fetchall()[0][0]
        lengths = engine.sql("SELECT sum(history_length) FROM workflows").fetchall()[0][0]
        by_status = dict(engine.sql("SELECT status, count(*) FROM workflows GROUP BY 1 ORDER BY 1").fetchall())
        per_run_mismatch = engine.sql(
            "SELECT count(*) FROM workflows w JOIN (SELECT run_id, count(*) AS n FROM events GROUP BY run_id) e USING (run_id) WHERE w.history_length != e.n"
        ).fetchall()[0][0]
        kinds = dict(engine.sql("SELECT workflow_type, count(*) FROM workflows GROUP BY 1 ORDER BY 1").fetchall())
    return {
        "runs": runs,
        "runs_started": runs + concurrency,
        "runs_held_in_memory_at_the_end": held,
        "concurrency": concurrency,
        "window": window,
        "seconds": round(elapsed, 1),
        "samples": samples,
        "events": events,
        "sum_history_length": lengths,
        "runs_whose_history_length_differs": per_run_mismatch,
        "workflows_by_status": by_status,
        "workflows_by_type": kinds,
        "failures": failures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100, help="runs in flight at once")
    parser.add_argument("--window", type=int, default=1000, help="runs per measurement window")
    parser.add_argument("--db", type=Path, default=None, help="the DuckDB file (default: a fresh temporary file)")
    parser.add_argument("--rss-tolerance-mb", type=float, default=25.0, help="allowed RSS growth from the first window to the last")
    parser.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit (e.g. 64MB; default: DuckDB's own, 80%% of RAM)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    db = args.db or Path(tempfile.mkdtemp(prefix="wfkit-soak-")) / "soak.duckdb"
    print(f"wfkit soak: {args.runs} runs, {args.concurrency} in flight, windows of {args.window}; {db}; {os.cpu_count()} CPUs", flush=True)
    out = asyncio.run(soak(db, args.runs, args.concurrency, args.window, args.memory_limit))
    samples = out["samples"]
    edge = max(1, len(samples) // 5)  # the first and the last fifth of the run: one window is noisy
    start = sum(s["runs_per_s"] for s in samples[:edge]) / edge
    end = sum(s["runs_per_s"] for s in samples[-edge:]) / edge
    ratio = end / start
    first, last = samples[0], samples[-1]
    warm = samples[1] if len(samples) > 1 else first  # after the first window: imports done, caches and arenas warm
    growth = last["rss_min_mb"] - warm["rss_min_mb"]  # the floor: what stays; a leak raises it, a checkpoint's spike does not
    heap = last["python_blocks_k"] / first["python_blocks_k"] - 1
    verdicts = {
        "every run completed with its expected result": not out["failures"] and set(out["workflows_by_status"]) <= {"Completed", "ContinuedAsNew"},
        "count(*) from events == sum(history_length)": out["events"] == out["sum_history_length"] and out["runs_whose_history_length_differs"] == 0,
        f"throughput at the end within 20% of the start ({start:.0f} -> {end:.0f} runs/s, {ratio:.2f}x)": ratio >= 0.8,
        f"Python heap flat ({heap * 100:+.1f}% allocated blocks from the first window to the last) and no run left in memory": heap <= 0.1
        and out["runs_held_in_memory_at_the_end"] == 0,
        f"RSS flat ({growth:+.1f} MB of lowest RSS from the second window to the last, tolerance {args.rss_tolerance_mb:g} MB)": growth
        <= args.rss_tolerance_mb,
    }
    out["throughput_start_runs_per_s"] = round(start, 1)
    out["throughput_end_runs_per_s"] = round(end, 1)
    out["throughput_ratio_end_vs_start"] = round(ratio, 3)
    out["rss_growth_mb"] = round(growth, 1)
    out["python_heap_growth"] = round(heap, 4)
    out["verdicts"] = verdicts
    print()
    print(
        f"{out['runs_started']} runs ({out['runs']} measured) in {out['seconds']}s ({out['runs_started'] / out['seconds']:.1f} runs/s overall);"
        f" workflows by status: {out['workflows_by_status']}"
    )
    differs = out["runs_whose_history_length_differs"]
    print(f"events: {out['events']}, sum of history lengths: {out['sum_history_length']}, runs whose history_length differs: {differs}")
    for failure in out["failures"][:10]:
        print(f"  failure: {failure}")
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2))
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
