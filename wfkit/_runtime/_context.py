"""The seam between the in-workflow API and the runtime that runs the workflow.

Each public in-workflow function (`wfkit.sleep`, `wfkit.now`, ...) is a one-line shim over
`_Runtime.current().workflow_<name>(...)`. The runtime is found on the running event
loop, which is the workflow's own deterministic loop while workflow code runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import random
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wfkit.errors import NotInWorkflowError

__all__ = ["ActivityCode", "WorkflowCode", "WorkflowInfo", "_Runtime", "external_runtime"]


class ActivityCode(Protocol):
    """What the runtime needs of an activity definition (`wfkit.ActivityDefinition` is one).

    The runtime sits below `wfkit._definitions` (whose objects call into it while a workflow
    runs), so it names what it uses here instead of importing the definition classes.
    """

    @property
    def name(self) -> str:
        """The registered activity type."""
        ...

    @property
    def return_hint(self) -> Any:
        """The type its result is decoded to."""
        ...


class WorkflowCode(Protocol):
    """What the runtime needs of a workflow definition (`wfkit.WorkflowDefinition` is one)."""

    @property
    def name(self) -> str:
        """The registered workflow type."""
        ...

    @property
    def fn(self) -> Callable[..., Any]:
        """The `async def` that runs the workflow."""
        ...

    @property
    def return_hint(self) -> Any:
        """The type its result (or a child run's result) is decoded to."""
        ...

    @property
    def task_queue(self) -> str:
        """The queue a child run of it goes to."""
        ...

    def param_hints(self) -> list[Any]:
        """Type hints of the positional parameters, in order."""
        ...


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """Facts about the running workflow, from `wfkit.info()`."""

    workflow_id: str
    """The id given at start (unique among open runs)."""
    run_id: str
    """The id of this run."""
    workflow_type: str
    """The registered name of the workflow."""
    task_queue: str
    """The queue its activities go to unless they name another."""
    parent_workflow_id: str | None = None
    """The parent's workflow id, for a child workflow."""
    continued_from_run_id: str | None = None
    """The run this one continued from (continue-as-new), if any."""
    schedule_id: str | None = None
    """The schedule whose firing (or backfill) started this run, if any."""
    scheduled_time: datetime.datetime | None = None
    """When that firing was due (UTC): the partition a scheduled run should process."""
    search_attributes: dict[str, Any] = field(default_factory=dict)
    """The run's search attributes now: those it started with, then its `wfkit.upsert_search_attributes` calls."""
    memo: dict[str, Any] = field(default_factory=dict)
    """The run's memo now: from its start, then its `wfkit.upsert_memo` calls."""


class _Runtime(ABC):
    """What a running workflow can ask of the runtime. Methods start with `workflow_`."""

    @staticmethod
    def current(function: str = "") -> _Runtime:
        """The runtime of the workflow running now; raise `NotInWorkflowError` outside one."""
        runtime = _Runtime.maybe_current()
        if runtime is None:
            raise NotInWorkflowError(function or "this function")
        return runtime

    @staticmethod
    def maybe_current() -> _Runtime | None:
        """The runtime of the workflow running now, or None."""
        loop = _get_running_loop()
        if loop is None:
            return None
        # Asked on every activity call a workflow makes: remember per loop class whether it is a runtime
        # (an ABC isinstance check costs a Python-level call each time).
        cls = type(loop)
        is_runtime = _IS_RUNTIME.get(cls)
        if is_runtime is None:
            is_runtime = _IS_RUNTIME[cls] = isinstance(loop, _Runtime)
        if is_runtime:
            return loop  # type: ignore[return-value]
        return external_runtime.get()

    #### Runtime methods, alphabetical ####

    @abstractmethod
    def workflow_continue_as_new(self, args: tuple[Any, ...]) -> None: ...

    @abstractmethod
    async def workflow_execute_activity(self, definition: ActivityCode, args: tuple[Any, ...], options: dict[str, Any]) -> Any: ...

    @abstractmethod
    async def workflow_execute_local_activity(self, definition: ActivityCode, args: tuple[Any, ...], options: dict[str, Any]) -> Any: ...

    @abstractmethod
    async def workflow_execute_child(self, definition: WorkflowCode, args: tuple[Any, ...], workflow_id: str | None) -> Any: ...

    @abstractmethod
    async def workflow_cancel_external(self, workflow_id: str, run_id: str | None) -> None: ...

    @abstractmethod
    def workflow_info(self) -> WorkflowInfo: ...

    @abstractmethod
    def workflow_now(self) -> datetime.datetime: ...

    @abstractmethod
    def workflow_patched(self, patch_id: str) -> bool: ...

    @abstractmethod
    def workflow_random(self) -> random.Random: ...

    @abstractmethod
    def workflow_set_query_handler(self, name: str, handler: Callable[..., Any]) -> None: ...

    @abstractmethod
    def workflow_upsert(self, kind: str, values: dict[str, Any]) -> None: ...

    @abstractmethod
    def workflow_set_update_handler(self, name: str, handler: Callable[..., Any], validator: Callable[..., Any] | None) -> None: ...

    @abstractmethod
    def workflow_side_effect(self, fn: Callable[[], Any], hint: Any) -> Any: ...

    @abstractmethod
    async def workflow_signal_external(self, workflow_id: str, run_id: str | None, name: str, args: tuple[Any, ...]) -> None: ...

    @abstractmethod
    async def workflow_sleep(self, seconds: float) -> None: ...

    @abstractmethod
    def workflow_uuid4(self) -> uuid.UUID: ...

    @abstractmethod
    async def workflow_wait_signal(self, name: str, timeout: float | None) -> Any: ...

    @abstractmethod
    async def workflow_wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None: ...


_get_running_loop = asyncio.events._get_running_loop

_IS_RUNTIME: dict[type, bool] = {}
"""Per event loop class seen by `_Runtime.maybe_current`: whether it is a `_Runtime`."""

#: A runtime that is not a wfkit loop, for wfkit code run by another engine's loop
#: (`wfkit.temporal` sets it in the context of a temporalio workflow's tasks).
external_runtime: contextvars.ContextVar[_Runtime | None] = contextvars.ContextVar("wfkit_external_runtime", default=None)
