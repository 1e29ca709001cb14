"""wfkit: durable asyncio workflows with their histories in DuckDB, built for notebooks.

```python
import asyncio, wfkit

@wfkit.activity
async def extract(source: str) -> list[dict]: ...

@wfkit.workflow
async def etl(sources: list[str]) -> int:
    batches = await asyncio.gather(*(extract(s) for s in sources))
    return sum(len(b) for b in batches)

engine = await wfkit.Engine.open("etl.duckdb")
handle = await engine.start(etl, ["a.csv"], id="etl-1")
print(await handle.result())
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfkit import _hooks  # noqa: F401 - installs the interface layers' engine conveniences
from wfkit._activity import ActivityInfo, activity_info, heartbeat
from wfkit._analytics._histories import Histories, open_histories
from wfkit._analytics._transfer import import_histories
from wfkit._definitions import ActivityDefinition, Registry, RetryPolicy, WorkflowDefinition, activity, workflow
from wfkit._engine._activities import TaskQueue
from wfkit._engine._clock import Clock, FakeClock, SystemClock
from wfkit._engine._compat import CompatibilityReport, CompatibilityResult
from wfkit._engine._engine import Engine, EngineHealth
from wfkit._engine._handle import WorkflowHandle
from wfkit._engine._retention import PurgeReport
from wfkit._engine._schedules import BackfillReport, ScheduleHandle
from wfkit._history._events import Event, EventType
from wfkit._history._history import History
from wfkit._history._payload import JsonConverter, PayloadConverter
from wfkit._history._summary import RunSummary
from wfkit._inspection import activity_graph, history_dataframe
from wfkit._replay._inspect import CodeFrame, TaskStack
from wfkit._replay._replayer import Replayer, ReplayResult
from wfkit._replay._session import PendingWork, ReplaySession, ReplaySnapshot, stop_at
from wfkit._runtime._context import WorkflowInfo
from wfkit._schedules._describe import ScheduleDescription
from wfkit._sync import purge_histories, run
from wfkit._version import __version__
from wfkit._workflow_api import (
    cancel_external,
    continue_as_new,
    execute_activity,
    execute_child,
    execute_local_activity,
    info,
    now,
    patched,
    random,
    set_query_handler,
    set_update_handler,
    side_effect,
    signal_external,
    sleep,
    upsert_memo,
    upsert_search_attributes,
    uuid4,
    wait_condition,
    wait_signal,
)
from wfkit.errors import (
    ActivityError,
    ApplicationError,
    ArgumentError,
    ChildWorkflowError,
    ConfigurationError,
    DefinitionError,
    EngineClosedError,
    ExternalWorkflowError,
    ForkPointError,
    HistoryFormatError,
    NondeterminismError,
    NondeterministicCallError,
    NotAwaitedError,
    NotAWfkitDatabaseError,
    NotInWorkflowError,
    PayloadError,
    QueryNotFoundError,
    SchemaVersionError,
    StoreCorruptError,
    StoreError,
    StoreFencedError,
    StoreLockedError,
    StoreUnavailableError,
    WfkitError,
    WorkflowAlreadyStartedError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowUpdateFailedError,
)

if TYPE_CHECKING:
    from wfkit import testing  # noqa: F401 - loaded on first use (see __getattr__)

__all__ = [
    "ActivityDefinition",
    "ActivityError",
    "ActivityInfo",
    "ApplicationError",
    "ArgumentError",
    "ForkPointError",
    "BackfillReport",
    "ChildWorkflowError",
    "Clock",
    "ConfigurationError",
    "CodeFrame",
    "DefinitionError",
    "CompatibilityReport",
    "CompatibilityResult",
    "Engine",
    "EngineClosedError",
    "EngineHealth",
    "Event",
    "ExternalWorkflowError",
    "EventType",
    "FakeClock",
    "Histories",
    "History",
    "HistoryFormatError",
    "JsonConverter",
    "NondeterminismError",
    "NondeterministicCallError",
    "NotAWfkitDatabaseError",
    "NotAwaitedError",
    "NotInWorkflowError",
    "PayloadConverter",
    "PayloadError",
    "PendingWork",
    "PurgeReport",
    "ScheduleDescription",
    "ScheduleHandle",
    "QueryNotFoundError",
    "Registry",
    "ReplayResult",
    "ReplaySession",
    "ReplaySnapshot",
    "Replayer",
    "RetryPolicy",
    "RunSummary",
    "SchemaVersionError",
    "StoreCorruptError",
    "StoreError",
    "StoreFencedError",
    "StoreLockedError",
    "StoreUnavailableError",
    "SystemClock",
    "TaskQueue",
    "TaskStack",
    "WfkitError",
    "WorkflowAlreadyStartedError",
    "WorkflowDefinition",
    "WorkflowFailedError",
    "WorkflowUpdateFailedError",
    "WorkflowHandle",
    "WorkflowInfo",
    "WorkflowNotFoundError",
    "__version__",
    "activity",
    "activity_graph",
    "activity_info",
    "cancel_external",
    "continue_as_new",
    "execute_activity",
    "execute_child",
    "execute_local_activity",
    "heartbeat",
    "history_dataframe",
    "import_histories",
    "info",
    "now",
    "open_histories",
    "patched",
    "random",
    "purge_histories",
    "run",
    "set_query_handler",
    "set_update_handler",
    "upsert_memo",
    "upsert_search_attributes",
    "side_effect",
    "signal_external",
    "sleep",
    "stop_at",
    "uuid4",
    "wait_condition",
    "wait_signal",
    "workflow",
]


def __getattr__(name: str) -> object:
    # wfkit.plot, wfkit.ui, wfkit.temporal and wfkit.testing load on first use: `import wfkit` stays fast and headless.
    if name in ("plot", "ui", "temporal", "testing"):
        import importlib

        return importlib.import_module(f"wfkit.{name}")
    raise AttributeError(f"module 'wfkit' has no attribute {name!r}")
