#!/usr/bin/env python
"""Live reads: what a reader in another process costs the engine, and how fresh its answers are.

A writer process holds a DuckDB file and keeps --concurrency two-step workflows in flight for
--seconds; every second it prints how many completed. Each rep runs the writer twice, in turn:
alone, then with a reader process polling every --interval seconds through `wfkit.open_histories`
(the engine answers over its Unix socket) with what a monitor asks: the 50 newest runs
(`runs(limit=50)`) and the event count. Reported per rep: the writer's median runs/s alone and
while polled, the reader's median answer time, and its freshness (how far the newest event it
saw lags the wall clock when the answer arrives). Medians over --reps reps. Last, in one process,
the engine's own side: its first full sync of 3,000 runs and an incremental sync after 40 runs.

Usage:
  python bench/live_reads.py                   # 3 reps of 2 x 6 s
  python bench/live_reads.py --reps 5 --seconds 8 --interval 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def writer(path: str, seconds: float, concurrency: int) -> None:
    import wfkit

    @wfkit.activity
    async def bl_step(i: int) -> int:
        return i + 1

    @wfkit.workflow
    async def bl_job(i: int) -> int:
        return await bl_step(await bl_step(i))

    async def main() -> None:
        async with await wfkit.Engine.open(path) as engine:
            print("ready", flush=True)
            done, second = 0, 0
            started = time.perf_counter()

            async def one(i: int) -> None:
                nonlocal done
                await (await engine.start(bl_job, i)).result()
                done += 1

            pending: set[asyncio.Task[None]] = set()
            i = 0
            while (elapsed := time.perf_counter() - started) < seconds:
                while len(pending) < concurrency:
                    pending.add(asyncio.ensure_future(one(i)))
                    i += 1
                _finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if int(elapsed) > second:
                    print("second", second, done, flush=True)
                    second = int(elapsed)
            await asyncio.gather(*pending)

    asyncio.run(main())


def reader(path: str, seconds: float, interval: float) -> None:
    import wfkit

    answers, lags = [], []
    with wfkit.open_histories(path) as histories:
        assert "answered live" in repr(histories), histories
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            histories.runs(limit=50).fetchall()
            newest = histories.sql("SELECT count(*), epoch_us(max(event_time)) FROM events").fetchall()[0][1]
            answers.append(time.perf_counter() - began)
            lags.append(time.time() - newest / 1e6)
            time.sleep(max(0.0, interval - (time.perf_counter() - began)))
    print("reader", statistics.median(answers) * 1000, statistics.median(lags) * 1000, len(answers), flush=True)


def engine_side_cost(runs: int = 3000, batch: int = 40, reps: int = 20) -> tuple[float, float]:
    """(ms of the engine's first full sync of `runs` runs, median ms of an incremental sync after `batch` more runs)."""
    import wfkit
    from wfkit._store import _live

    @wfkit.activity
    async def bs_step(i: int) -> int:
        return i

    @wfkit.workflow
    async def bs_job(i: int) -> int:
        return await bs_step(await bs_step(i))

    async def main() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            async with await wfkit.Engine.open(Path(tmp) / "sync.duckdb") as engine:
                await asyncio.gather(*[(await engine.start(bs_job, i)).result() for i in range(runs)])
                changes = engine.store.changes
                assert changes is not None
                cursor = engine.store._con.cursor()
                began = time.perf_counter()
                _live._sync(cursor, changes, {"generation": None})
                full = (time.perf_counter() - began) * 1000
                times = []
                for _ in range(reps):
                    seq = changes.since(0)[0]
                    await asyncio.gather(*[(await engine.start(bs_job, i)).result() for i in range(batch)])
                    began = time.perf_counter()
                    _live._sync(cursor, changes, {"generation": changes.generation, "seq": seq})
                    times.append((time.perf_counter() - began) * 1000)
                cursor.close()
                return full, statistics.median(times)

    return asyncio.run(main())


def _rates(out: str) -> list[int]:
    counts = [int(line.split()[2]) for line in out.splitlines() if line.startswith("second")]
    return [b - a for a, b in zip([0, *counts], counts, strict=False)][1:]  # drop the first (warm-up) second


def one_rep(seconds: float, interval: float, concurrency: int) -> tuple[float, float, float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = []
    for polled in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "live.duckdb")
            command = [sys.executable, __file__, "--role", "writer", "--db", db, "--seconds", str(seconds), "--concurrency", str(concurrency)]
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            read = None
            if polled:
                time.sleep(1.0)
                command = [sys.executable, __file__, "--role", "reader", "--db", db, "--seconds", str(seconds - 3), "--interval", str(interval)]
                read = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
            out, _ = proc.communicate()
            results.append((statistics.median(_rates(out)), read))
    (alone, _), (with_reader, read) = results
    assert read is not None
    answer_ms, lag_ms, _count = (float(x) for x in read.split()[1:])
    return alone, with_reader, answer_ms, lag_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--role", choices=["bench", "writer", "reader"], default="bench")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.role == "writer":
        writer(args.db, args.seconds, args.concurrency)
        return
    if args.role == "reader":
        reader(args.db, args.seconds, args.interval)
        return
    reps = [one_rep(args.seconds, args.interval, args.concurrency) for _ in range(args.reps)]
    for n, (alone, polled, answer, lag) in enumerate(reps, 1):
        print(f"rep {n}: writer {alone:.0f} runs/s alone, {polled:.0f} while polled ({polled / alone - 1:+.1%}); answer {answer:.1f} ms, lag {lag:.0f} ms")
    alone, polled, answer, lag = (statistics.median(r[i] for r in reps) for i in range(4))
    print(f"median: writer {alone:.0f} runs/s alone, {polled:.0f} while polled every {args.interval * 1000:.0f} ms ({polled / alone - 1:+.1%}); "
          f"reader answer {answer:.1f} ms, freshness lag {lag:.0f} ms")  # fmt: skip
    full, incremental = engine_side_cost()
    print(f"engine side: first full sync of 3000 runs {full:.0f} ms; incremental sync after 40 runs {incremental:.1f} ms")


if __name__ == "__main__":
    main()
