"""Worker process for tests/integration/test_payload_crash.py: one run passing DataFrames between activities.

Usage: python payload_worker.py DB

Opens the engine (an open run resumes), starts the run `tables` unless it exists, waits for it
and prints "done <result>". The test sets WFKIT_FAULTS to SIGKILL it somewhere on the payload
write path, then runs it again without faults.
"""

from __future__ import annotations

import asyncio
import sys

import pandas as pd

import wfkit


@wfkit.activity
def pw_make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"n": pd.array(range(n), dtype="Int64"), "s": [f"row-{i}" for i in range(n)]})


@wfkit.activity
def pw_double(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(n=df["n"] * 2)


@wfkit.activity
def pw_total(df: pd.DataFrame) -> int:
    return int(df["n"].sum())


@wfkit.workflow
async def pw_tables(n: int) -> int:
    df = await wfkit.execute_activity(pw_make, n)
    doubled = await wfkit.execute_activity(pw_double, df)
    return await wfkit.execute_activity(pw_total, doubled)


async def main(db: str) -> None:
    async with await wfkit.Engine.open(db) as engine:
        try:
            handle = engine.get_handle("tables")
        except wfkit.WorkflowNotFoundError:
            handle = await engine.start(pw_tables, 1000, id="tables")
        print("done", await handle.result(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
