"""Temporal interop: load Temporal histories into wfkit, and run wfkit workflows on Temporal.

```python
history = wfkit.temporal.load_history("run.json")          # Temporal JSON -> wfkit History
await engine.import_temporal("exports/")                     # many files into the DuckDB store
engine.export_temporal(run_id, "run.temporal.json")          # a wfkit run as Temporal JSON

client = await temporalio.client.Client.connect("127.0.0.1:7233")
async with wfkit.temporal.worker(client, "etl", workflows=[etl], activities=[extract, load]):
    handle = await wfkit.temporal.start(client, etl, ["a.csv"], id="etl-1", task_queue="etl")
    await handle.result()
await wfkit.temporal.pull(client, query="WorkflowType='etl'", db=engine)
```

Loading and exporting need nothing beyond wfkit; running on Temporal needs the `temporal`
extra (`pip install 'wfkit[temporal]'`), imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfkit.temporal._load import RUNNING_ON_TEMPORAL, load_history

if TYPE_CHECKING:
    from wfkit.temporal._export import export_history, to_temporal_json
    from wfkit.temporal._import import ImportReport
    from wfkit.temporal._pull import PullReport, pull
    from wfkit.temporal._worker import TemporalMappingError, start, worker

__all__ = [
    "RUNNING_ON_TEMPORAL",
    "ImportReport",
    "PullReport",
    "TemporalMappingError",
    "export_history",
    "load_history",
    "pull",
    "start",
    "to_temporal_json",
    "worker",
]

_LAZY = {
    "export_history": "wfkit.temporal._export",
    "to_temporal_json": "wfkit.temporal._export",
    "ImportReport": "wfkit.temporal._import",
    "PullReport": "wfkit.temporal._pull",
    "pull": "wfkit.temporal._pull",
    "TemporalMappingError": "wfkit.temporal._worker",
    "start": "wfkit.temporal._worker",
    "worker": "wfkit.temporal._worker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wfkit.temporal' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
