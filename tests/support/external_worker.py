"""A worker for tests/integration/test_external_workflows.py: one run signals another, and the process
is killed (WFKIT_FAULTS=external_delivery:kill) after the signal's initiation is durable, before it is delivered.

Usage: python -m tests.support.external_worker <db path>
"""

from __future__ import annotations

import asyncio
import sys

import wfkit


@wfkit.workflow
async def ext_waiter() -> list[str]:
    got: list[str] = []
    while len(got) < 1:
        got.append(await wfkit.wait_signal("go"))
    return got


@wfkit.workflow
async def ext_sender(target: str, value: str) -> str:
    await wfkit.signal_external(target, "go", value)
    return "sent"


async def main(path: str) -> None:
    async with wfkit.Engine.open(path) as engine:
        await engine.start(ext_waiter, id="crash-target")
        sender = await engine.start(ext_sender, "crash-target", "once", id="crash-sender")
        print("started", flush=True)
        await sender.result()  # the fault kills the process before this returns
    print("finished without the fault", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
