"""`WorkflowHandle`: what `Engine.start` and `Engine.get_handle` return."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfkit._history._events import EventType
from wfkit._html import status_card_html
from wfkit.errors import WorkflowFailedError

if TYPE_CHECKING:
    from wfkit._engine._engine import Engine

__all__ = ["WorkflowHandle"]

E = EventType


class WorkflowHandle:
    """A reference to one workflow run: wait for its result, signal it, query it, cancel it."""

    def __init__(self, engine: Engine, workflow_id: str, run_id: str) -> None:
        self._engine = engine
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
            closing, workflow_type = await self._engine._wait_closed(run_id)
            attrs = closing.attributes
            if closing.event_type is E.WorkflowExecutionContinuedAsNew:
                run_id = str(attrs["new_run_id"])
                continue
            if closing.event_type is E.WorkflowExecutionCompleted:
                return self._engine.converter.from_payload(attrs["result"], self._engine._result_hint(workflow_type))
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
        await self._engine._signal(self.run_id, name, payload)

    async def query(self, name: str, *args: Any) -> Any:
        """Ask the workflow's query handler `name`; answered from its state, nothing is recorded."""
        return await self._engine._query(self.run_id, name, args)

    async def cancel(self, reason: str = "") -> None:
        """Ask the workflow to cancel: `asyncio.CancelledError` is raised inside it, and it may clean up."""
        await self._engine._cancel(self.run_id, reason)

    async def terminate(self, reason: str = "") -> None:
        """End the run at once, without running any more workflow code."""
        await self._engine._terminate(self.run_id, reason)

    def describe(self) -> dict[str, Any]:
        """Status, type, start time, history length and current activities of the run."""
        return self._engine._describe(self.run_id)

    def summary(self) -> dict[str, Any]:
        """`describe()` plus the elapsed time, for status cards."""
        info = self.describe()
        start, close = info.get("start_time"), info.get("close_time")
        if start is not None:
            info["elapsed"] = (close if close is not None else self._engine.clock.now()) - start
        return info

    def __repr__(self) -> str:
        return f"WorkflowHandle(workflow_id={self.workflow_id!r}, run_id={self.run_id!r})"

    def _repr_html_(self) -> str:
        return status_card_html(self.summary())

    def _ipython_display_(self) -> None:
        # The one place the engine reaches up to the UI: a handle shown in a notebook is a live card.
        try:
            from wfkit.ui import status_card
        except ImportError:  # no ipywidgets: fall back to the static card
            from IPython.display import HTML, display

            display(HTML(self._repr_html_()))  # type: ignore[no-untyped-call]
            return
        from IPython.display import display

        display(status_card(self))  # type: ignore[no-untyped-call]
