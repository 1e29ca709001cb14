"""Notebook habits in a real Jupyter kernel: re-running the open cell, interrupting a cell that waits for a run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupyter_core.utils
import nbformat
import pytest
from nbclient import NotebookClient


class Kernel:
    """A real ipykernel, driven cell by cell as a notebook front end does (through nbclient)."""

    def __init__(self, cwd: Path, stack: contextlib.ExitStack) -> None:
        self.notebook = nbformat.v4.new_notebook()
        self.client = NotebookClient(self.notebook, timeout=60, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(cwd)}})
        stack.enter_context(self.client.setup_kernel())

    def run(self, code: str, *, interrupt_after: float | None = None) -> dict[str, Any]:
        """Execute one cell; returns its text output and the name of the error it raised (if any)."""
        cell = nbformat.v4.new_code_cell(textwrap.dedent(code))
        self.notebook.cells.append(cell)
        timer = None
        if interrupt_after is not None:  # the notebook's stop button: SIGINT to the kernel process
            pid = self.client.km.provisioner.pid  # type: ignore[union-attr]
            timer = threading.Timer(interrupt_after, os.kill, (pid, signal.SIGINT))
            timer.start()
        try:
            self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        finally:
            if timer is not None:
                timer.cancel()
        out: list[str] = []
        error = None
        for output in cell.outputs:
            if output.output_type == "stream":
                out.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                out.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                error = output.ename
                out.append(f"{output.ename}: {output.evalue}")
        return {"output": "".join(out), "error": error}


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    with contextlib.ExitStack() as stack:
        yield Kernel(tmp_path, stack)
    # nbclient's sync calls run on an event loop jupyter_core makes and never closes; left open, it
    # is reported as an unclosed loop whenever the garbage collector happens to meet it, in a later test.
    loop = jupyter_core.utils._loop.get()
    if loop is not None and not loop.is_closed():
        loop.close()


DEFINE = """
import asyncio, pathlib, wfkit
calls = pathlib.Path("calls.txt")

@wfkit.activity
async def side_effect(i: int) -> int:
    with calls.open("a") as f:
        f.write(f"{i}\\n")
    await asyncio.sleep(0.3)
    return i

@wfkit.workflow
async def flow(n: int) -> int:
    total = 0
    for i in range(n):
        total += await side_effect(i)
    return total
"""


def test_rerunning_the_open_cell_with_a_run_in_flight_repeats_no_work(kernel: Kernel, tmp_path: Path) -> None:
    assert kernel.run(DEFINE)["error"] is None
    opened = kernel.run('engine = await wfkit.Engine.open("etl.duckdb")\nhandle = await engine.start(flow, 5, id="nb-1")')
    assert opened["error"] is None, opened
    # The user re-runs the open cell while the run is in flight.
    again = kernel.run('engine = await wfkit.Engine.open("etl.duckdb")')
    assert again["error"] == "StoreLockedError", again
    assert "already open in this process" in again["output"]
    assert "reuse=True" in again["output"]
    # Their `engine` still holds the live engine; reuse=True hands the same one back.
    same = kernel.run('print(engine.closed, (await wfkit.Engine.open("etl.duckdb", reuse=True)) is engine)')
    assert same["output"].strip() == "False True", same
    done = kernel.run("print(await handle.result())")
    assert done["output"].strip() == "10", done
    check = kernel.run(
        "h = engine.history('nb-1')\nprint(sum(1 for e in h if e.attributes.get('timeout_type') == 'EngineRestart'), len(engine.blocked_runs()))"
    )
    assert check["output"].strip() == "0 0", check
    assert sorted((tmp_path / "calls.txt").read_text().split()) == ["0", "1", "2", "3", "4"]
    # wfkit.run in the same kernel goes to the live engine, which stays open.
    ran = kernel.run('print(wfkit.run(flow, 1, db="etl.duckdb", id="nb-2"), engine.closed)')
    assert ran["output"].strip() == "0 False", ran


def test_interrupting_a_cell_that_waits_for_a_result_leaves_the_engine_working(kernel: Kernel, tmp_path: Path) -> None:
    assert kernel.run(DEFINE)["error"] is None
    assert kernel.run('engine = await wfkit.Engine.open("etl.duckdb")\nhandle = await engine.start(flow, 6, id="nb-int")')["error"] is None
    interrupted = kernel.run("await handle.result()", interrupt_after=0.5)
    assert interrupted["error"] in ("KeyboardInterrupt", "CancelledError"), interrupted
    after = kernel.run("print(engine.closed, await handle.result())")
    assert after["output"].strip() == "False 15", after
    check = kernel.run("h = engine.history('nb-int')\nprint(sorted(e.event_id for e in h) == list(range(1, len(h) + 1)), h.events[-1].event_type)")
    assert check["output"].strip() == "True WorkflowExecutionCompleted", check
    assert sorted((tmp_path / "calls.txt").read_text().split()) == ["0", "1", "2", "3", "4", "5"]
    assert kernel.run("await engine.close()")["error"] is None


INTERRUPTED_WORKER = """
import asyncio, sys
import wfkit

@wfkit.activity
async def step(i: int) -> int:
    return i

@wfkit.workflow
async def flow(n: int) -> int:
    return sum([await step(i) for i in range(n)])

async def main() -> None:
    async with wfkit.Engine.open(sys.argv[1]) as engine:
        handle = await engine.start(flow, 20, id="int-1")
        print("result", await handle.result(), flush=True)
        h = engine.history("int-1")
        print("gapless", [e.event_id for e in h] == list(range(1, len(h) + 1)), flush=True)

# As a Jupyter kernel does: an interrupt stops what is running, and the loop goes on.
loop = asyncio.new_event_loop()
task = loop.create_task(main())
while not task.done():
    try:
        loop.run_until_complete(task)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
loop.close()
"""


@pytest.mark.parametrize("point", ["mid_commit@3", "mid_commit@6", "after_commit@4"])
def test_an_interrupt_inside_the_engine_writer_loses_nothing(point: str, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(INTERRUPTED_WORKER)
    env = {**os.environ, "WFKIT_FAULTS": f"{point}:interrupt"}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "i.duckdb")], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "interrupted" in done.stdout
    assert "result 190" in done.stdout
    assert "gapless True" in done.stdout
