"""`WorkflowHandle`: what `Engine.start` and `Engine.get_handle` return, over a small typed back-end."""

from __future__ import annotations

from typing import Any, Protocol

from wfkit._engine import _extensions
from wfkit._history._events import Event, EventType
from wfkit._history._summary import RunSummary
from wfkit._html import status_card_html
from wfkit.errors import WorkflowFailedError

__all__ = ["RunControl", "WorkflowHandle"]

E = EventType


class RunControl(Protocol):
    """What a handle needs from the engine that made it."""

    async def wait_closed(self, run_id: str) -> tuple[Event, str]:
        """The closing event of a run and its workflow type, waiting for it if the run is open."""
        ...

    def decode_result(self, payload: Any, workflow_type: str) -> Any:
        """A run's stored result as its workflow's return annotation asks."""
        ...

    async def signal(self, run_id: str, name: str, payload: Any) -> None: ...

    async def query(self, run_id: str, name: str, args: tuple[Any, ...]) -> Any: ...

    async def update(self, run_id: str, name: str, args: tuple[Any, ...], update_id: str | None) -> Any: ...

    async def cancel(self, run_id: str, reason: str) -> None: ...

    async def terminate(self, run_id: str, reason: str) -> None: ...

    def describe(self, run_id: str) -> RunSummary: ...


class WorkflowHandle:
    """A reference to one workflow run: wait for its result, signal it, query it, cancel it."""

    def __init__(self, control: RunControl, workflow_id: str, run_id: str) -> None:
        self._control = control
        self.workflow_id = workflow_id
        """The workflow id."""
        self.run_id = run_id
        """The id of the run this handle was made for (`result()` follows continue-as-new past it)."""

    async def result(self) -> Any:
        """Wait for the run to close and return its result, following continue-as-new.

        Raises:
            WorkflowFailedError: the run failed, was cancelled or terminated (`.failure` holds the details).
        """
        run_id = self.run_id
        while True:
            closing, workflow_type = await self._control.wait_closed(run_id)
            attrs = closing.attributes
            if closing.event_type is E.WorkflowExecutionContinuedAsNew:
                run_id = str(attrs["new_run_id"])
                continue
            if closing.event_type is E.WorkflowExecutionCompleted:
                return self._control.decode_result(attrs["result"], workflow_type)
            failure = attrs.get("failure") or {}
            if closing.event_type is E.WorkflowExecutionFailed:
                message = f"workflow {self.workflow_id} failed: {failure.get('type', '')}: {failure.get('message', '')}"
            elif closing.event_type is E.WorkflowExecutionCanceled:
                failure = {"type": "Canceled", "message": "the workflow was cancelled"}
                message = f"workflow {self.workflow_id} was cancelled"
            else:
                failure = {"type": "Terminated", "message": str(attrs.get("reason", ""))}
                message = f"workflow {self.workflow_id} was terminated: {attrs.get('reason', '')}"
            raise WorkflowFailedError(message, failure)

    async def signal(self, name: str, payload: Any = None) -> None:
        """Send a signal; returns once it is recorded. The workflow receives it with `wfkit.wait_signal(name)`."""
        await self._control.signal(self.run_id, name, payload)

    async def update(self, name: str, *args: Any, id: str | None = None) -> Any:  # noqa: A002 - as Temporal's update id
        """Run the workflow's update handler `name` with `args` and return its result.

        The request reaches the workflow in its next workflow task. If it has no handler of that name
        or the handler's validator raises, the update is rejected and nothing is recorded; else its
        acceptance and its outcome are events (`WorkflowExecutionUpdateAccepted` / `...Completed`).
        With `id=`, an update already accepted under that id is not run again: its outcome is returned
        (re-running a notebook cell is safe).

        Raises:
            WorkflowUpdateFailedError: rejected (`.rejected` is True) or the handler raised.
            WorkflowNotFoundError: the run is not running.
        """
        return await self._control.update(self.run_id, name, args, id)

    async def query(self, name: str, *args: Any) -> Any:
        """Ask the workflow's query handler `name`; answered from its state, nothing is recorded."""
        return await self._control.query(self.run_id, name, args)

    async def cancel(self, reason: str = "") -> None:
        """Ask the workflow to cancel: `asyncio.CancelledError` is raised inside it, and it may clean up."""
        await self._control.cancel(self.run_id, reason)

    async def terminate(self, reason: str = "") -> None:
        """End the run at once, without running any more workflow code."""
        await self._control.terminate(self.run_id, reason)

    def describe(self) -> RunSummary:
        """Status, type, start time, elapsed time, history length and current activities of the run."""
        return self._control.describe(self.run_id)

    def __repr__(self) -> str:
        return f"WorkflowHandle(workflow_id={self.workflow_id!r}, run_id={self.run_id!r})"

    def _repr_html_(self) -> str:
        return status_card_html(self.describe())

    def _ipython_display_(self) -> None:
        # Shown in a notebook, a handle is a live card: the notebook layer installs how to draw one.
        _extensions.hook("display_handle")(self)
