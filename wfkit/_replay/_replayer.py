"""`Replayer`: re-run a recorded history against workflow code, without running activities."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wfkit._definitions import WorkflowDefinition
from wfkit._history._commands import Command, CompleteWorkflow, ContinueAsNew, FailWorkflow
from wfkit._history._events import EventType
from wfkit._history._history import History
from wfkit._history._payload import JsonConverter, PayloadConverter
from wfkit._runtime._driver import instance_for_history, replay_into
from wfkit.errors import WfkitError

__all__ = ["ReplayResult", "Replayer"]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What replaying a history produced."""

    history: History
    """The history that was replayed."""
    commands: list[Command] = field(default_factory=list)
    """Every command the code issued, in order (they matched the history)."""
    result: Any = None
    """The workflow's return value, if the history ends with it completing."""
    failure: dict[str, Any] | None = None
    """The workflow's failure (type, message, stack), if the history ends with it failing."""
    closed: bool = False
    """True if the code reached the end of the workflow."""


class Replayer:
    """Replays histories against the given workflow code; activities are not run, results come from the history."""

    def __init__(self, workflows: Iterable[WorkflowDefinition[Any, Any]], *, converter: PayloadConverter | None = None) -> None:
        self._workflows = {w.name: w for w in workflows}
        self._converter = converter or JsonConverter()

    def replay(self, history: History) -> ReplayResult:
        """Replay `history`; raise `NondeterminismError` at the first command that differs.

        Raises:
            NondeterminismError: the code issued a different command than the history recorded.
            WfkitError: the history's workflow type is not among `workflows`.
        """
        if not history.events or history.events[0].event_type is not EventType.WorkflowExecutionStarted:
            raise WfkitError(f"history of run {history.run_id or '?'} does not start with WorkflowExecutionStarted")
        attrs = history.events[0].attributes
        workflow_type = str(attrs.get("workflow_type"))
        definition = self._workflows.get(workflow_type)
        if definition is None:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise WfkitError(f"cannot replay run {history.run_id}: workflow {workflow_type!r} is not among the given workflows ({known})")
        workflow_id = str(attrs.get("workflow_id") or history.workflow_id)
        instance = instance_for_history(definition, history.events, converter=self._converter, run_id=history.run_id, workflow_id=workflow_id)
        commands: list[Command] = []
        replay_into(instance, history.events, history.run_id, lambda _recorded, issued: commands.extend(issued))
        last = commands[-1] if commands else None
        result = self._converter.from_payload(last.result, definition.return_hint) if isinstance(last, CompleteWorkflow) else None
        failure = last.failure if isinstance(last, FailWorkflow) else None
        return ReplayResult(history, commands, result, failure, closed=instance.done or isinstance(last, ContinueAsNew))
