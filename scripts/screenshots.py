"""Take the screenshots in docs/img/ of each widget and plot, rendered by Voila in headless Chromium.

python scripts/screenshots.py            # needs /usr/bin/chromium and the test extras
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
CHECK = ROOT / "tests" / "browser" / "browser_check.py"

SETUP = '''\
import asyncio, wfkit, plotly.graph_objects as go

@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.05))
async def extract(source: str) -> list[dict]:
    if source == "events.parquet" and wfkit.activity_info().attempt == 1:
        raise ConnectionError("object store timed out")
    await asyncio.sleep(0.02)
    return [{"id": i, "amount": 10.0 * i, "source": source} for i in range(5)]

@wfkit.activity
def transform(batches: list[list[dict]]) -> dict:
    rows = [r for b in batches for r in b]
    return {"rows": len(rows), "total": sum(r["amount"] for r in rows)}

@wfkit.activity
async def load(summary: dict, table: str = "sales") -> int:
    await asyncio.sleep(0.01)
    return summary["rows"]

@wfkit.workflow
async def etl(sources: list[str] = ["orders.csv", "customers.csv", "events.parquet"], table: str = "sales") -> int:
    """Extract the sources in parallel, transform them together, load one table."""
    batches = await asyncio.gather(*(extract(s) for s in sources))
    summary = await transform(list(batches))
    await wfkit.sleep(0.05)
    return await load(summary, table)

@wfkit.workflow
async def approval_etl(sources: list[str]) -> int:
    """Extract, then wait for a person to approve the load."""
    batches = await asyncio.gather(*(extract(s) for s in sources))
    await wfkit.wait_signal("approve")
    return await load(await transform(list(batches)))

engine = await wfkit.Engine.open()
handle = await engine.start(etl, id="etl-2026-11-27")
await handle.result()
failed_source = await engine.start(etl, ["orders.csv", "events.parquet"], id="etl-2026-11-28")
await failed_source.result()
waiting = await engine.start(approval_etl, ["orders.csv", "customers.csv"], id="etl-waiting-for-approval")
await asyncio.sleep(0.3)
history = engine.history("etl-2026-11-27")'''

SHOTS = {
    "launcher": "wfkit.ui.launcher(engine)",
    "monitor": "wfkit.ui.monitor(engine)",
    "debugger": 'd = wfkit.ui.debugger(engine, "etl-2026-11-27")\nd.session.run_to(wfkit.stop_at.failure()); d.render()\nd',
    "timeline": "go.FigureWidget(wfkit.plot.timeline(history))",
    "graph": "go.FigureWidget(wfkit.plot.graph(history))",
    "status_card": "wfkit.ui.status_card(handle)",
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, cell in SHOTS.items():
            notebook = Path(tmp) / f"{name}.ipynb"
            nbformat.write(
                new_notebook(
                    cells=[new_code_cell(SETUP), new_code_cell(cell)],
                    metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                ),
                notebook,
            )
            shot = OUT / f"{name}.png"
            result = subprocess.run(
                [sys.executable, str(CHECK), str(notebook), "--screenshot", str(shot), "--viewport", "1200x800", "--timeout", "180"],
                capture_output=True,
                text=True,
                check=False,
            )
            print(f"{name}: {'ok' if result.returncode == 0 else 'FAILED'} -> {shot.relative_to(ROOT)}")
            if result.returncode != 0:
                failures += 1
                print(result.stderr[-2000:])
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
