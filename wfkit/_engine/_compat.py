"""Which open runs would this edit break? Replay every open run of a workflow against a definition.

A notebook user redefines a `@wfkit.workflow` by re-running its cell while runs of it are open.
Before the engine switches those runs to the new code, `CompatibilityChecker` replays each one's
recorded history against it (no activity runs, nothing is written) and reports, per run,
compatible or the first divergent command: what history recorded, what the new code issues and
where (file:line). The fast path is the plain replay the activator does; only a run that diverges
is replayed a second time, with each command's source line captured, so the live hot path never
inspects frames.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wfkit._history._commands import Command
from wfkit._history._events import Event, EventType
from wfkit._history._payload import PayloadConverter
from wfkit._history._state import command_matches, describe_command, split_activations
from wfkit._html import STYLE, escape
from wfkit._runtime._driver import replay_into
from wfkit._runtime._instance import WorkflowInstance
from wfkit.errors import NondeterminismError, WorkflowNotFoundError

if TYPE_CHECKING:
    from wfkit._definitions import Registry, WorkflowDefinition
    from wfkit._engine._ledger import LiveRun

__all__ = ["CompatibilityChecker", "CompatibilityReport", "CompatibilityResult"]

E = EventType
_WFKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Frames in these files are plumbing between the workflow's code and the command it issues.
_INTERNAL = (
    os.path.dirname(os.path.abspath(asyncio.__file__)) + os.sep,
    os.path.join(_WFKIT, "_runtime") + os.sep,
    os.path.join(_WFKIT, "_definitions.py"),
    os.path.join(_WFKIT, "_workflow_api.py"),
)
_STOP = WorkflowInstance.activate.__code__
"""Where a workflow's code is entered from: frames below it are the caller's, never the workflow's."""


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    """Whether one open run can continue on a workflow definition, and if not where they part."""

    workflow_id: str
    run_id: str
    workflow_type: str
    compatible: bool
    event_id: int | None = None
    """The first recorded event the new code disagrees with (None when compatible)."""
    recorded: str = ""
    """What history recorded there, e.g. "ActivityTaskScheduled(extract)" ("" when compatible)."""
    new: str = ""
    """What the new code issues instead, e.g. "ActivityTaskScheduled(load)" or "no command"."""
    location: str | None = None
    """Where in the new code ("cell.py:12"): the line that issued the command, or where it waits instead."""
    message: str = ""
    """One line saying all of the above."""


class CompatibilityReport(list[CompatibilityResult]):
    """The results of a compatibility check, one per open run; a short table in notebooks and terminals."""

    @property
    def compatible(self) -> bool:
        """True when every run can continue on the checked code (also when there is no open run)."""
        return all(result.compatible for result in self)

    @property
    def incompatible(self) -> list[CompatibilityResult]:
        """The runs the checked code would break."""
        return [result for result in self if not result.compatible]

    def _title(self) -> str:
        kinds = sorted({result.workflow_type for result in self})
        broken = len(self.incompatible)
        return f"{', '.join(kinds) or 'no open runs'}: {len(self)} open run(s), {broken} incompatible"

    def _rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for r in self:
            divergence = "" if r.compatible else f"event {r.event_id if r.event_id is not None else '?'}: {r.recorded} -> {r.new}"
            rows.append((r.workflow_id, "compatible" if r.compatible else "incompatible", divergence, r.location or ""))
        return rows

    def __str__(self) -> str:
        header = ("run", "status", "first divergence (recorded -> new)", "new code")
        rows = [header, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
        return "\n".join([self._title(), *lines])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        cells = []
        for workflow_id, status, divergence, location in self._rows():
            css = "" if status == "compatible" else " class='wfkit-err'"
            cells.append(
                f"<tr><td>{escape(workflow_id, 80)}</td><td{css}>{escape(status)}</td>"
                f"<td>{escape(divergence, 200)}</td><td class='wfkit-muted'>{escape(location)}</td></tr>"
            )
        body = "".join(cells) or "<tr><td colspan='4' class='wfkit-muted'>no open runs</td></tr>"
        return (
            f"{STYLE}<div><b>{escape(self._title())}</b></div><table class='wfkit-t'>"
            f"<tr><th>run</th><th>status</th><th>first divergence (recorded → new)</th><th>new code</th></tr>{body}</table>"
        )


class CompatibilityChecker:
    """Replays open runs against a workflow definition without installing it."""

    def __init__(self, runs: Mapping[str, LiveRun], converter: PayloadConverter) -> None:
        self._runs = runs
        """The ledger's open runs by run id."""
        self._converter = converter

    @staticmethod
    def resolve(registry: Registry, workflow: WorkflowDefinition[Any, Any] | str) -> WorkflowDefinition[Any, Any]:
        """A workflow given as a definition, or by the name it is registered under."""
        if not isinstance(workflow, str):
            return workflow
        definition = registry.workflow(workflow)
        if definition is None:
            known = ", ".join(sorted(registry.workflows())) or "none"
            raise WorkflowNotFoundError(f"no workflow named {workflow!r} is registered (registered: {known})")
        return definition

    def check(self, definition: WorkflowDefinition[Any, Any], runs: Iterable[LiveRun] | None = None) -> CompatibilityReport:
        """Replay each open run of `definition`'s type (or each of `runs`) against it."""
        chosen = self._runs.values() if runs is None else runs
        return CompatibilityReport(self._result(definition, run) for run in list(chosen) if run.workflow_type == definition.name)

    def redefined(self, definition: WorkflowDefinition[Any, Any], runs: Iterable[LiveRun]) -> CompatibilityReport:
        """The check when `definition` replaces the registered code: of `runs`, those that ran code and have no workflow task in flight."""
        return self.check(definition, [run for run in runs if not run.waiting_for_code and not self.in_flight(run)])

    @staticmethod
    def in_flight(run: LiveRun) -> bool:
        """True while a workflow task of `run` is running: started, its commands not recorded yet."""
        return _open_task(run.events) is not None

    @staticmethod
    def warn(report: CompatibilityReport) -> None:
        """One `RuntimeWarning` per incompatible run; nothing when every run is compatible."""
        level, frame = 1, sys._getframe(0)  # type: tuple[int, types.FrameType | None]
        while frame is not None and frame.f_code.co_filename.startswith(_WFKIT + os.sep):  # point at the user's cell
            level, frame = level + 1, frame.f_back
        for result in report.incompatible:
            warnings.warn(f"wfkit: {result.message}", RuntimeWarning, stacklevel=level)

    def _result(self, definition: WorkflowDefinition[Any, Any], run: LiveRun) -> CompatibilityResult:
        result = functools.partial(CompatibilityResult, run.workflow_id, run.run_id, run.workflow_type)
        events = _settled(run.events)
        try:
            count = replay_into(run.new_instance(definition, self._converter, events), events, run.run_id)
        except NondeterminismError as exc:
            event_id, recorded, new, location = self._locate(definition, run, events, exc)
            at = f" at {location}" if location else ""
            message = (
                f"run {run.workflow_id} ({run.run_id}) is incompatible with the new code of {run.workflow_type}: at event "
                f"{event_id} history recorded {recorded}, but the new code issued {new}{at}; it waits for a compatible definition"
            )
            return result(compatible=False, event_id=event_id, recorded=recorded, new=new, location=location, message=message)
        except Exception as exc:  # noqa: BLE001 - a history the code cannot even start on is incompatible, not an engine error
            message = f"run {run.workflow_id} ({run.run_id}) cannot be replayed on the new code of {run.workflow_type}: {exc}"
            return result(compatible=False, new=type(exc).__name__, message=message)
        message = f"run {run.workflow_id} ({run.run_id}) is compatible: its {count} workflow task(s) replay unchanged"
        return result(compatible=True, message=message)

    def _locate(
        self, definition: WorkflowDefinition[Any, Any], run: LiveRun, events: Sequence[Event], exc: NondeterminismError
    ) -> tuple[int | None, str, str, str | None]:
        """Replay again, capturing each command's source line, up to the first divergence: (event id, recorded, new, location)."""
        instance = run.new_instance(definition, self._converter, events)
        instance.__class__ = _LocatingInstance  # type: ignore[type-abstract]  # the same instance, whose command list notes where each command came from
        for recorded in split_activations(events):
            commands = instance.activate(recorded.activation)
            sites = getattr(commands, "sites", [])
            expected = recorded.commands
            for index, command in enumerate(commands):
                site = sites[index] if index < len(sites) else None
                if index >= len(expected):
                    last = expected[-1].event_id if expected else recorded.started_event.event_id + 1
                    return last + 1, "no further command", describe_command(command), site or _closing_site(instance, definition)
                if not command_matches(command, expected[index]):
                    return expected[index].event_id, expected[index].describe(), describe_command(command), site or _closing_site(instance, definition)
            if len(commands) < len(expected):
                missing = expected[len(commands)]
                return missing.event_id, missing.describe(), "no command", _waiting_site(instance)
        return exc.event_id, exc.expected, exc.got, None  # the code diverged only the first time: it is itself nondeterministic


def _open_task(events: list[Event]) -> int | None:
    """The index of the `WorkflowTaskScheduled` of a workflow task still running at the end of `events`, if any."""
    for index in range(len(events) - 1, -1, -1):
        event_type = events[index].event_type
        if event_type is E.WorkflowTaskCompleted or event_type is E.WorkflowTaskFailed:
            return None
        if event_type is E.WorkflowTaskScheduled:
            return index
    return None


def _settled(events: list[Event]) -> list[Event]:
    """`events` without a workflow task still running at the end (its commands are not recorded yet)."""
    index = _open_task(events)
    return events if index is None else events[:index]


def _internal(filename: str) -> bool:
    return filename.startswith(_INTERNAL)


def _site(frame: types.FrameType | None) -> str:
    assert frame is not None
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _caller_site(frame: types.FrameType | None) -> str | None:
    """The innermost workflow-code frame between a command being issued and the instance's loop."""
    while frame is not None and frame.f_code is not _STOP:
        if not _internal(frame.f_code.co_filename):
            return _site(frame)
        frame = frame.f_back
    return None


def _waiting_site(instance: WorkflowInstance) -> str | None:
    """Where the workflow's main task is suspended: its innermost workflow-code frame."""
    task = instance.main_task
    if task is None or task.done():
        return None
    site = None
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        if not _internal(frame.f_code.co_filename):
            site = _site(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return site


def _closing_site(instance: WorkflowInstance, definition: WorkflowDefinition[Any, Any]) -> str | None:
    """For a command no workflow frame issued (the workflow returned or raised): the raising line, else the function."""
    task = instance.main_task
    if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
        site, tb = None, task.exception().__traceback__  # type: ignore[union-attr]
        while tb is not None:
            if not _internal(tb.tb_frame.f_code.co_filename):
                site = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
            tb = tb.tb_next
        if site is not None:
            return site
    code = getattr(getattr(definition, "fn", None), "__code__", None)
    return f"{os.path.basename(code.co_filename)}:{code.co_firstlineno}" if code is not None else None


class _Sites(list[Command]):
    """A command list that also notes, for each command, the workflow line that issued it."""

    __slots__ = ("sites",)

    def __init__(self, commands: Iterable[Command] = ()) -> None:
        super().__init__(commands)
        self.sites: list[str | None] = [None] * len(self)

    def append(self, command: Command) -> None:
        self.sites.append(_caller_site(sys._getframe(1)))
        super().append(command)


class _LocatingInstance(WorkflowInstance):
    """A `WorkflowInstance` whose command lists are `_Sites`; only the compatibility check makes one."""

    @property  # type: ignore[override]
    def _commands(self) -> list[Command]:
        return self.__dict__["_commands"]  # type: ignore[no-any-return]

    @_commands.setter
    def _commands(self, value: list[Command]) -> None:
        self.__dict__["_commands"] = value if isinstance(value, _Sites) else _Sites(value)
