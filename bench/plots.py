"""Plot benchmark: time to build the timeline and graph figures of large runs, and to step the debugger.

Records one run of N activities (in-memory engine; fan-out in waves of 100) and times, as medians:
  - `wfkit.plot.timeline(history)` (WebGL segments above 2,000 bars),
  - `wfkit.plot.graph(history)`,
  - one step of `wfkit.ui.Debugger` (session step plus every panel re-rendered, no front end).

Usage: python bench/plots.py [--activities 1000 10000] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform

from _timing import median_ms  # bench/ is on sys.path when a script here runs

import wfkit


@wfkit.activity
async def unit(k: int) -> int:
    return k


@wfkit.workflow
async def waves(n: int) -> int:
    total = 0
    for start in range(0, n, 100):
        total += sum(await asyncio.gather(*(unit(k) for k in range(start, min(n, start + 100)))))
    return total


async def record(n: int) -> wfkit.History:
    async with wfkit.Engine.open() as engine:
        handle = await engine.start(waves, n)
        await handle.result()
        return engine.history(run_id=handle.run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(f"nproc={os.cpu_count()} python={platform.python_version()} wfkit={wfkit.__version__} load={os.getloadavg()[0]:.2f}")
    print(f"{'activities':>10} {'events':>7} {'timeline ms':>12} {'graph ms':>9} {'debugger step ms':>17}")
    for n in args.activities:
        history = asyncio.run(record(n))
        build_timeline = median_ms(lambda h=history: wfkit.plot.timeline(h), args.reps)
        build_graph = median_ms(lambda h=history: wfkit.plot.graph(h), max(1, args.reps // 2))
        widget = wfkit.ui.Debugger(wfkit.ReplaySession(history, workflows=[waves]))
        widget.go(len(history) // 2)
        step = median_ms(widget.forward.click, args.reps * 4)
        print(f"{n:>10} {len(history):>7} {build_timeline:>12.0f} {build_graph:>9.0f} {step:>17.1f}")


if __name__ == "__main__":
    main()
