"""Build a workflow instance for a recorded history, and replay the history into it, checking every command."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from wfkit._history._commands import UNCHECKED_COMMANDS, Command
from wfkit._history._events import Event, EventType
from wfkit._history._payload import PayloadConverter
from wfkit._history._state import RecordedActivation, command_matches, describe_command, split_activations
from wfkit._runtime._causes import likely_cause
from wfkit._runtime._context import WorkflowCode, WorkflowInfo
from wfkit._runtime._instance import WorkflowInstance
from wfkit.errors import NondeterminismError, WfkitError

__all__ = ["check_commands", "instance_for_history", "replay_into"]


def instance_for_history(
    definition: WorkflowCode,
    events: Sequence[Event],
    *,
    converter: PayloadConverter,
    run_id: str | None = None,
    workflow_id: str | None = None,
    task_queue: str | None = None,
    parent_workflow_id: str | None = None,
) -> WorkflowInstance:
    """A fresh instance of `definition` for the run whose history starts with `events[0]` (nothing replayed yet).

    The run's `WorkflowInfo` and random seed come from the `WorkflowExecutionStarted` event's
    attributes; each keyword that is not None overrides the attribute of the same name (the
    engine passes its run's identity; a history's events carry no run id, so replay passes
    the history's). Without either, `run_id` and `workflow_id` are "" and `task_queue` is
    "default". `workflow_type` is `definition.name`. Feed it the history with `replay_into`.

    Raises:
        WfkitError: `events` is empty or does not start with `WorkflowExecutionStarted`.
    """
    if not events or events[0].event_type is not EventType.WorkflowExecutionStarted:
        raise WfkitError(f"history of run {run_id or '?'} does not start with WorkflowExecutionStarted")
    attrs = events[0].attributes
    info = WorkflowInfo(
        workflow_id=workflow_id if workflow_id is not None else str(attrs.get("workflow_id") or ""),
        run_id=run_id if run_id is not None else str(attrs.get("run_id") or ""),
        workflow_type=definition.name,
        task_queue=task_queue if task_queue is not None else str(attrs.get("task_queue") or "default"),
        parent_workflow_id=parent_workflow_id if parent_workflow_id is not None else attrs.get("parent_workflow_id"),
        continued_from_run_id=attrs.get("continued_from_run_id"),
        schedule_id=attrs.get("schedule_id"),
        scheduled_time=_instant(attrs.get("scheduled_time")),
        search_attributes=dict(attrs.get("search_attributes") or {}),
        memo=dict(attrs.get("memo") or {}),
    )
    # AbstractEventLoop's methods are abstract only in typeshed; the instance implements what asyncio uses.
    return WorkflowInstance(definition, info, seed=int(attrs.get("random_seed") or 0), converter=converter)  # type: ignore[abstract]


def check_commands(
    run_id: str, commands: Sequence[Command], recorded: RecordedActivation, next_event_id: int | None, definition: WorkflowCode | None = None
) -> None:
    """Raise `NondeterminismError` unless `commands` are exactly the recorded command events.

    With `definition` (the code that issued `commands`) the message names the likely cause:
    calls in its code that give other values on replay, or else a code change to guard with
    `wfkit.patched()`.
    """
    if any(isinstance(c, UNCHECKED_COMMANDS) for c in commands):
        commands = [c for c in commands if not isinstance(c, UNCHECKED_COMMANDS)]
    for index, command in enumerate(commands):
        if index >= len(recorded.commands):
            raise _error(run_id, next_event_id, "no further command", describe_command(command), definition)
        event = recorded.commands[index]
        if not command_matches(command, event):
            raise _error(run_id, event.event_id, event.describe(), describe_command(command), definition)
    if len(commands) < len(recorded.commands):
        missing = recorded.commands[len(commands)]
        raise _error(run_id, missing.event_id, missing.describe(), "no command", definition)


def _error(run_id: str, event_id: int | None, expected: str, got: str, definition: WorkflowCode | None) -> NondeterminismError:
    hint = None
    if definition is not None:
        try:
            hint = likely_cause(definition.fn)
        except Exception:  # noqa: BLE001 - the hint is a courtesy; the error itself must not fail
            hint = None
    return NondeterminismError(run_id, event_id, expected, got, hint)


def replay_into(
    instance: WorkflowInstance,
    events: Sequence[Event],
    run_id: str,
    on_activation: Callable[[RecordedActivation, list[Command]], None] | None = None,
) -> int:
    """Feed every recorded workflow task of `events` to `instance`; return the number replayed.

    Raises `NondeterminismError` at the first command that differs from history.
    """
    count = 0
    for recorded in split_activations(events):
        commands = instance.activate(recorded.activation)
        expected = recorded.commands
        if len(commands) != len(expected) or not all(map(command_matches, commands, expected)):
            # Where an extra command would have been recorded: after this task's last command event.
            last = expected[-1].event_id if expected else recorded.started_event.event_id + 1
            check_commands(run_id, commands, recorded, last + 1, instance.definition)  # raises, naming the first difference
        if on_activation is not None:
            on_activation(recorded, commands)
        count += 1
    return count


def _instant(value: Any) -> datetime.datetime | None:
    """An ISO time from an event attribute (None if absent or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
