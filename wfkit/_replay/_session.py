"""`ReplaySession`: step through a recorded history event by event and look at the workflow at each step."""

from __future__ import annotations

import datetime
import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wfkit._definitions import WorkflowDefinition
from wfkit._history._commands import Command
from wfkit._history._events import Event, EventType
from wfkit._history._history import History
from wfkit._history._payload import JsonConverter, PayloadConverter
from wfkit._history._state import ActivityState, RecordedActivation, RunState, split_activations
from wfkit._html import escape, frames_html, locals_html, pending_html
from wfkit._replay._inspect import LineHit, LineTracer, RaisedError, TaskStack, frames_of_traceback, safe_repr, task_stacks
from wfkit._runtime._driver import check_commands, instance_for_history
from wfkit._runtime._instance import ContinueAsNewRequest, WorkflowInstance
from wfkit.errors import ArgumentError, NondeterminismError, NondeterministicCallError

__all__ = ["PendingWork", "ReplaySession", "ReplaySnapshot", "stop_at"]

E = EventType
Predicate = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class PendingWork:
    """Something the workflow is waiting for at this point of the history."""

    kind: str
    """"activity", "local activity", "timer", "child", "external" (a signal or cancel sent to another workflow, not yet delivered) or "signal"."""
    id: int | str
    """The activity/timer/child/external sequence number, or the signal name."""
    description: str
    """Activity type and attempt, timer fire time, child workflow type, what an external request asks, or signal name."""


@dataclass(frozen=True, slots=True)
class ReplaySnapshot:
    """The workflow as it was right after one event of its history (plain data, for widgets, CLI and tests)."""

    position: int
    """The id of the current event (0: before the first)."""
    event: Event | None
    """The current event."""
    events: tuple[Event, ...] = field(repr=False)
    """The whole history (shared, not copied); `applied` is its first `position` events."""
    tasks: tuple[TaskStack, ...]
    """The workflow's coroutine stacks (empty without code, or once it has finished)."""
    pending: tuple[PendingWork, ...]
    """Activities scheduled and not closed, timers running, children running, signals awaited."""
    received: tuple[tuple[str, str], ...]
    """Values the workflow received so far, as (source, rendered value)."""
    has_code: bool
    """False when stepping a history without its workflow code (events only)."""
    finished: bool
    """True once the workflow code has returned, failed, or was cancelled."""
    error: str | None = None
    """The nondeterminism found while replaying, if the code diverged from the history."""
    error_event_id: int | None = None
    """The event at which the code diverged; the session cannot step past it."""
    exception: RaisedError | None = None
    """What the workflow code raised and did not catch, with the frames and locals at the raise (once it has)."""
    line_hit: LineHit | None = None
    """The line breakpoint this workflow task reached first, with the stack at that moment (see `add_breakpoint(line=)`)."""

    @property
    def applied(self) -> tuple[Event, ...]:
        """Every event up to and including the current one."""
        return self.events[: self.position]

    @property
    def at_end(self) -> bool:
        """True at the last event the session can reach."""
        return self.position == (self.error_event_id if self.error_event_id is not None else len(self.events))

    @property
    def shown_tasks(self) -> tuple[TaskStack, ...]:
        """The stacks to show: at a raise, the frames it passed through; at a line breakpoint, the stack there first."""
        if self.exception is not None:
            return (TaskStack("workflow (raised)", self.exception.frames, f"nothing: it raised {self.exception.type}", True),)
        if self.line_hit is not None:
            return (TaskStack(f"at line {self.line_hit.lineno}", self.line_hit.frames, "the line to run next (a line breakpoint)", True), *self.tasks)
        return self.tasks

    @property
    def current_line(self) -> tuple[str, int] | None:
        """(file, line) of the workflow code here: the raise point, the line breakpoint, or where the main task waits."""
        for task in self.shown_tasks:
            user = [f for f in task.frames if not f.internal]
            if user:
                return user[-1].filename, user[-1].lineno
        return None

    def _repr_html_(self) -> str:
        where = f"event {self.position}: {escape(self.event.describe())}" if self.event else "before the first event"
        error = f"<div class='wfkit-err'>{escape(self.error)}</div>" if self.error else ""
        if self.exception is not None:
            error += f"<div class='wfkit-err'>raised {escape(self.exception.type)}: {escape(self.exception.message)}</div>"
        tasks = self.shown_tasks
        return f"<div><b>{where}</b></div>{error}{frames_html(tasks)}{locals_html(tasks)}{pending_html(self.pending, self.received)}"

    def __repr__(self) -> str:
        where = f"event {self.position} {self.event.describe()}" if self.event else "start"
        return f"<ReplaySnapshot at {where}: {len(self.tasks)} task(s), {len(self.pending)} pending{', ' + self.error if self.error else ''}>"


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).isoformat(timespec="milliseconds")


def _attempt_state(act: ActivityState) -> str:
    if act.running:
        return f"attempt {act.attempt} running"
    if act.retry_at is not None:
        return f"attempt {act.attempt} failed, retry at {_iso(act.retry_at)}"
    return "scheduled, not started"


class stop_at:  # noqa: N801 - a namespace of predicates, read as `stop_at.failure()`
    """Ready-made predicates for `ReplaySession.run_to`."""

    @staticmethod
    def activity(activity_type: str | None = None) -> Predicate:
        """The next activity scheduled (of that type, if given)."""
        return lambda e: e.event_type is E.ActivityTaskScheduled and activity_type in (None, e.attributes.get("activity_type"))

    @staticmethod
    def failure() -> Predicate:
        """The next failure: an activity attempt, a child, a workflow task, or the workflow itself."""
        kinds = {E.ActivityTaskFailed, E.ActivityTaskTimedOut, E.ChildWorkflowExecutionFailed, E.WorkflowTaskFailed, E.WorkflowExecutionFailed}
        return lambda e: e.event_type in kinds

    @staticmethod
    def signal(name: str | None = None) -> Predicate:
        """The next signal (of that name, if given)."""
        return lambda e: e.event_type is E.WorkflowExecutionSignaled and name in (None, e.attributes.get("signal_name"))

    @staticmethod
    def timer() -> Predicate:
        """The next timer started or fired."""
        return lambda e: e.event_type in (E.TimerStarted, E.TimerFired)

    @staticmethod
    def end() -> Predicate:
        """The end of the history (or the point where the code diverged)."""
        return lambda e: False


class ReplaySession:
    """Replays a history one event at a time against workflow code, and shows the code's state at each event.

    Example:
        ```python
        session = wfkit.ReplaySession(engine.history("etl-1"), workflows=[etl])
        session.run_to(wfkit.stop_at.activity("transform"))
        snap = session.snapshot()
        snap.tasks[0].frames[-1].locals      # the workflow's local variables at that point
        session.step_back()
        ```

    Going back rebuilds the state by replaying from the start, so every position is exact.
    Without code (`workflows` empty or not matching) the session steps through events only.
    """

    def __init__(
        self,
        history: Any,
        workflows: Iterable[WorkflowDefinition[Any, Any]] = (),
        *,
        converter: PayloadConverter | None = None,
        repr_limit: int = 200,
    ) -> None:
        self.history = History.coerce(history)
        self._events = self.history.events
        self._converter = converter or JsonConverter()
        self._repr_limit = repr_limit
        self._definition = self._find_definition(list(workflows))
        self._tasks: list[RecordedActivation] = list(split_activations(self._events))
        self._breakpoints: list[Predicate] = []
        self._lines: set[tuple[str, int]] = set()
        self._skip: tuple[int, int] | None = None
        """(workflow task, hits to pass over) while replaying a task again for its next line hit."""
        self._hits_passed = 0
        self._error: NondeterminismError | NondeterministicCallError | None = None
        self._reset()

    #### Moving ####

    @property
    def position(self) -> int:
        """The id of the current event (0 before the first)."""
        return self._position

    @property
    def limit(self) -> int:
        """The last event id the session can reach (the divergence point, if the code diverged)."""
        if self._error is not None and self._error.event_id is not None:
            return min(self._error.event_id, len(self._events))
        return len(self._events)

    def step(self) -> ReplaySnapshot:
        """Apply the next event and return the snapshot there (stays put at the end)."""
        return self.seek(self._position + 1)

    def step_back(self) -> ReplaySnapshot:
        """Go back one event (exact: the state is rebuilt by replaying from the start)."""
        return self.seek(self._position - 1)

    def seek(self, event_id: int) -> ReplaySnapshot:
        """Go to the state right after `event_id` (clamped to 0 .. `limit`)."""
        target = max(0, min(event_id, len(self._events)))
        if target < self._position:
            self._reset()
        self._advance_to(target)
        return self.snapshot()

    def run_to(self, predicate: Predicate | None = None, *, break_on_exception: bool = True) -> ReplaySnapshot:
        """Step forward until an event satisfies `predicate` (see `stop_at`), a breakpoint, or the end.

        With `break_on_exception` (the default) it also stops at the workflow task in which the
        workflow code raised an exception it did not catch: `snapshot().exception` then holds the
        frames and their locals at the raise point. It stops at the workflow task in which a line
        breakpoint was reached, too (`snapshot().line_hit`).
        """
        if self._line_hit_at is not None and self._line_hit_at == self._position and self._next_hit_in_same_task():
            return self.snapshot()
        while self._position < self.limit:
            self._advance_to(self._position + 1)
            event = self._events[self._position - 1]
            if (predicate is not None and predicate(event)) or any(bp(event) for bp in self._breakpoints):
                break
            if self._line_hit_at == self._position or (break_on_exception and self._raised_at == self._position):
                break
        return self.snapshot()

    def _next_hit_in_same_task(self) -> bool:
        """Stopped at a line breakpoint: replay this workflow task again, to the next time a breakpoint line runs."""
        position, skip = self._position, self._hits_passed + 1
        self._reset()
        self._advance_to(position - 1)
        self._skip = (position, skip)
        self._advance_to(position)
        self._skip = None
        if self._line_hit_at == position:
            self._hits_passed = skip
            return True
        return False

    def add_breakpoint(
        self, *, event_type: EventType | str | None = None, activity: str | None = None, line: int | None = None, file: str | None = None
    ) -> None:
        """Make `run_to` stop at events of this type and/or concerning this activity type, or where the code reaches a line.

        `line` (with `file`, a path or its last parts, default: the workflow function's file) stops
        `run_to` after the first workflow task whose code runs that line; `snapshot().line_hit` holds
        the stack and locals as they were just before the line ran.
        """
        if line is not None:
            self._lines.add((os.path.normpath(file or self._default_file()), int(line)))
            self._reset_keeping_position()
            return
        wanted_type = EventType(event_type) if event_type is not None else None

        def hit(event: Event) -> bool:
            if wanted_type is not None and event.event_type is not wanted_type:
                return False
            return activity is None or event.attributes.get("activity_type") == activity

        self._breakpoints.append(hit)

    def remove_breakpoint(self, *, line: int, file: str | None = None) -> None:
        """Remove a line breakpoint."""
        self._lines.discard((os.path.normpath(file or self._default_file()), int(line)))
        self._reset_keeping_position()

    @property
    def line_breakpoints(self) -> list[tuple[str, int]]:
        """The line breakpoints, as (file, line)."""
        return sorted(self._lines)

    def clear_breakpoints(self) -> None:
        """Remove every breakpoint (events and lines)."""
        self._breakpoints.clear()
        if self._lines:
            self._lines.clear()
            self._reset_keeping_position()

    def _default_file(self) -> str:
        if self._definition is None:
            raise ArgumentError("a line breakpoint needs file=... when the session has no workflow code")
        return inspect.getsourcefile(self._definition.fn) or self._definition.fn.__code__.co_filename

    def _reset_keeping_position(self) -> None:
        position = self._position
        self._reset()
        self._advance_to(position)

    #### Looking ####

    def snapshot(self) -> ReplaySnapshot:
        """The state at the current position."""
        instance = self._instance
        tasks: tuple[TaskStack, ...] = ()
        received: tuple[tuple[str, str], ...] = ()
        if instance is not None:
            tasks = tuple(task_stacks(instance, self._repr_limit))
            # Rendered once, when first seen: O(1) per step, and it shows the value as it was received.
            for source, value in instance.received[len(self._received) :]:
                self._received.append((source, safe_repr(value, self._repr_limit)))
            received = tuple(self._received)
        error = self._error if self._error is not None and (self._error.event_id or 0) <= max(self._position, self._error_seen_at) else None
        return ReplaySnapshot(
            position=self._position,
            event=self._events[self._position - 1] if self._position else None,
            events=self._events,
            tasks=tasks,
            pending=tuple(self._pending()),
            received=received,
            has_code=self._definition is not None,
            finished=instance.done if instance is not None else self._state.closed,
            error=str(error) if error is not None else None,
            error_event_id=error.event_id if error is not None else None,
            exception=self._raised if self._raised_at is not None and self._raised_at <= self._position else None,
            line_hit=self._line_hit if self._line_hit_at == self._position else None,
        )

    frame = snapshot
    """Alias of `snapshot()`."""

    def source(self) -> tuple[str, int, list[str]] | None:
        """The workflow function's source: (file, first line number, lines); None without code or readable source."""
        if self._definition is None:
            return None
        try:
            lines, first = inspect.getsourcelines(self._definition.fn)
        except (OSError, TypeError):
            return None
        return self._default_file(), first, [line.rstrip("\n") for line in lines]

    #### Internals ####

    def _find_definition(self, workflows: list[WorkflowDefinition[Any, Any]]) -> WorkflowDefinition[Any, Any] | None:
        workflow_type = self.history.workflow_type
        return next((w for w in workflows if w.name == workflow_type), None)

    def _reset(self) -> None:
        self._position = 0
        self._applied_tasks = 0
        self._error_seen_at = 0
        self._state = RunState()
        self._received: list[tuple[str, str]] = []
        self._instance: WorkflowInstance | None = None
        self._raised: RaisedError | None = None
        self._raised_at: int | None = None
        self._line_hit: LineHit | None = None
        self._line_hit_at: int | None = None
        self._hits_passed = 0
        self._skip = None
        if self._definition is not None:  # found by the start event's workflow type, so the history starts with one
            workflow_id = str(self._events[0].attributes.get("workflow_id") or self.history.workflow_id)
            self._instance = instance_for_history(
                self._definition, self._events, converter=self._converter, run_id=self.history.run_id, workflow_id=workflow_id
            )

    def _advance_to(self, target: int) -> None:
        target = min(target, self.limit) if self._error is not None else target
        while self._position < target:
            event = self._events[self._position]
            self._state.apply(event)
            self._position += 1
            if event.event_type is E.WorkflowTaskStarted and self._instance is not None:
                self._apply_task(event)
                if self._error is not None:
                    target = min(target, self.limit)

    def _apply_task(self, started: Event) -> None:
        while self._applied_tasks < len(self._tasks) and self._tasks[self._applied_tasks].started_event.event_id <= started.event_id:
            recorded = self._tasks[self._applied_tasks]
            self._applied_tasks += 1
            if recorded.started_event.event_id != started.event_id:
                continue  # a failed workflow task: its jobs were carried into a later one
            assert self._instance is not None
            try:
                commands = self._activate(recorded, started.event_id)
            except NondeterministicCallError as exc:
                # The code called the clock, random or I/O here: stop at this workflow task.
                exc.event_id = started.event_id
                self._error = exc
                self._error_seen_at = started.event_id
                return
            last = recorded.commands[-1].event_id if recorded.commands else recorded.started_event.event_id + 1
            try:
                check_commands(self.history.run_id, commands, recorded, last + 1, self._instance.definition)
            except NondeterminismError as exc:
                self._error = exc
                self._error_seen_at = started.event_id

    def _activate(self, recorded: RecordedActivation, started_id: int) -> list[Command]:
        """One workflow task; notes an uncaught exception of the workflow code and the first line breakpoint reached."""
        assert self._instance is not None
        if self._lines:
            skip = self._skip[1] if self._skip is not None and self._skip[0] == started_id else 0
            tracer = LineTracer(self._lines, self._repr_limit, skip=skip)
            with tracer.tracing():
                commands = self._instance.activate(recorded.activation)
            if tracer.hit is not None:
                self._line_hit, self._line_hit_at, self._hits_passed = tracer.hit, started_id, skip
        else:
            commands = self._instance.activate(recorded.activation)
        main = self._instance.main_task
        if self._raised is None and main is not None and main.done() and not main.cancelled():
            exc = main.exception()
            if exc is not None and not isinstance(exc, ContinueAsNewRequest):
                self._raised, self._raised_at = frames_of_traceback(exc, self._repr_limit), started_id
        return commands

    def _pending(self) -> list[PendingWork]:
        work = [PendingWork("activity", a.seq, f"{a.activity_type} ({_attempt_state(a)})") for a in self._state.activities.values()]
        work += [PendingWork("timer", t.seq, f"fires at {_iso(t.fire_at)}") for t in self._state.timers.values()]
        work += [PendingWork("child", c.seq, f"{c.workflow_type} ({c.workflow_id})") for c in self._state.children.values()]
        work += [PendingWork("external", x.seq, x.describe()) for x in self._state.externals.values()]
        if self._instance is not None:
            work += [PendingWork(kind, ident, text) for kind, ident, text in self._instance.pending_work() if kind in ("local activity", "signal")]
        return work

    def __repr__(self) -> str:
        return f"<ReplaySession {self.history.workflow_type} run {self.history.run_id}: event {self._position} of {len(self._events)}>"
