"""Replay a recorded history into a workflow instance, checking every command against it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wfkit._history._commands import Command
from wfkit._history._events import Event
from wfkit._history._state import RecordedActivation, command_matches, describe_command, split_activations
from wfkit._runtime._instance import WorkflowInstance
from wfkit.errors import NondeterminismError

__all__ = ["check_commands", "replay_into"]


def check_commands(run_id: str, commands: Sequence[Command], recorded: RecordedActivation, next_event_id: int | None) -> None:
    """Raise `NondeterminismError` unless `commands` are exactly the recorded command events."""
    for index, command in enumerate(commands):
        if index >= len(recorded.commands):
            raise NondeterminismError(run_id, next_event_id, "no further command", describe_command(command))
        event = recorded.commands[index]
        if not command_matches(command, event):
            raise NondeterminismError(run_id, event.event_id, event.describe(), describe_command(command))
    if len(commands) < len(recorded.commands):
        missing = recorded.commands[len(commands)]
        raise NondeterminismError(run_id, missing.event_id, missing.describe(), "no command")


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
        # Where an extra command would have been recorded: after this task's last command event.
        last = recorded.commands[-1].event_id if recorded.commands else recorded.started_event.event_id + 1
        check_commands(run_id, commands, recorded, last + 1)
        if on_activation is not None:
            on_activation(recorded, commands)
        count += 1
    return count
