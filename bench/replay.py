"""Replay benchmark: how long wfkit takes to replay 1,000- and 10,000-activity histories.

Records each history once with an in-memory engine, then times (median of --reps):
  - `Replayer.replay` of the whole history (target: 1,000 activities in under 100 ms),
  - a `ReplaySession` stepping through every event, and a `seek` back to the middle
    (the debugger's worst case: it rebuilds from the start).

Usage: python bench/replay.py [--sizes 1000 10000] [--reps 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from typing import Any

from _timing import median_ms  # bench/ is on sys.path when a script here runs

import wfkit


@wfkit.activity
async def step(k: int) -> int:
    return k + 1


@wfkit.workflow
async def sequential(n: int) -> int:
    total = 0
    for k in range(n):
        total += await step(k)
    return total


async def record(n: int) -> wfkit.History:
    async with wfkit.Engine.open() as engine:
        handle = await engine.start(sequential, n, id=f"seq-{n}")
        await handle.result()
        return engine.history(f"seq-{n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "wfkit": wfkit.__version__, "loadavg": os.getloadavg()},
        "runs": [],
    }
    print(f"nproc={os.cpu_count()} python={platform.python_version()} wfkit={wfkit.__version__} load={os.getloadavg()[0]:.2f}")
    print(f"{'activities':>10} {'events':>7} {'replay ms':>10} {'step all ms':>12} {'per step us':>12} {'seek back ms':>13}")
    for n in args.sizes:
        history = asyncio.run(record(n))
        replayer = wfkit.Replayer(workflows=[sequential])
        assert replayer.replay(history).result == n * (n + 1) // 2
        replay = median_ms(lambda h=history, r=replayer: r.replay(h), args.reps)

        def step_all(h: wfkit.History = history) -> None:
            session = wfkit.ReplaySession(h, workflows=[sequential])
            while session.position < len(h):
                session.step()

        step_ms = median_ms(step_all, max(1, args.reps // 2))
        session = wfkit.ReplaySession(history, workflows=[sequential])
        session.seek(len(history))
        seek_ms = median_ms(lambda s=session, h=history: (s.seek(len(h)), s.seek(len(h) // 2)), args.reps)
        row = {"activities": n, "events": len(history), "replay_ms": replay, "step_all_ms": step_ms, "seek_back_ms": seek_ms}
        results["runs"].append(row)
        print(f"{n:>10} {len(history):>7} {replay:>10.1f} {step_ms:>12.1f} {step_ms * 1000 / len(history):>12.1f} {seek_ms:>13.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
