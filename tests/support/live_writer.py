"""Worker process for tests/integration/test_live_reads.py: holds a DuckDB file and runs a steady load.

Usage: python live_writer.py DB SECONDS

Prints "ready" once the engine holds the file, then runs two-step workflows 20 at a time for
SECONDS, printing "second K N" (workflows completed in second K) as it goes, so the test can
compare the seconds before and while readers poll, and "runs N RATE" at the end. It then keeps
the file (and answers live reads) until its stdin closes, so a slow machine never sees it go early.
"""

from __future__ import annotations

import asyncio
import sys
import time

import wfkit


@wfkit.activity
async def lw_step(i: int) -> int:
    return i + 1


@wfkit.workflow
async def lw_job(i: int) -> int:
    return await lw_step(await lw_step(i))


async def main(path: str, seconds: float) -> None:
    async with await wfkit.Engine.open(path) as engine:
        print("ready", flush=True)
        started = time.perf_counter()
        done = 0
        second, in_second = 0, 0
        while (elapsed := time.perf_counter() - started) < seconds:
            if int(elapsed) > second:
                print("second", second, in_second, flush=True)
                second, in_second = int(elapsed), 0
            handles = [await engine.start(lw_job, i) for i in range(20)]
            for handle in handles:
                await handle.result()
            done += 20
            in_second += 20
        print("runs", done, done / seconds, flush=True)
        await asyncio.to_thread(sys.stdin.read)  # hold the file until the test lets go


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
