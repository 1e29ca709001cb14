"""Looking inside a suspended workflow: its tasks' coroutine stacks and their local variables, safely rendered."""

from __future__ import annotations

import asyncio
import dataclasses
import linecache
import os
import reprlib
import sys
import traceback
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfkit._runtime._instance import WorkflowInstance

__all__ = ["CodeFrame", "LineHit", "LineTracer", "RaisedError", "TaskStack", "frames_of_traceback", "safe_repr", "task_stacks"]

# Frames from these directories are plumbing (wfkit's runtime, asyncio), not the user's workflow code.
_ASYNCIO_DIR = str(Path(asyncio.__file__).resolve().parent)
_INTERNAL_DIRS = (str(Path(__file__).resolve().parents[1]), _ASYNCIO_DIR)


@dataclass(frozen=True, slots=True)
class CodeFrame:
    """One frame of a suspended coroutine."""

    function: str
    """The function's qualified name."""
    filename: str
    """The source file."""
    lineno: int
    """The line the coroutine is suspended at."""
    source: str
    """That line's text (stripped), when the file is readable."""
    locals: dict[str, str]
    """Local variables, each rendered with `safe_repr`."""
    internal: bool
    """True for frames inside wfkit itself (hidden by default in the UI)."""


@dataclass(frozen=True, slots=True)
class TaskStack:
    """A task of the workflow (the main one, or one created by `gather`/`create_task`) and where it waits."""

    name: str
    """The task's name ("workflow etl" for the main task)."""
    frames: tuple[CodeFrame, ...]
    """Outermost first, innermost last."""
    awaiting: str
    """What the innermost frame waits for ("activity extract #2", "timer #1", "signal 'approve'", ...)."""
    is_main: bool
    """True for the task running the workflow function."""


def safe_repr(value: Any, limit: int = 200) -> str:
    """`repr(value)` cut to `limit` characters; never raises, even if `__repr__` does."""
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlist = shortener.maxdict = shortener.maxtuple = shortener.maxset = 20
    try:
        text = shortener.repr(value)
    except Exception as exc:  # noqa: BLE001 - a user object whose __repr__ raises must not break the debugger
        return f"<{type(value).__name__} object; repr() failed: {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class RaisedError:
    """An exception the workflow code raised and did not catch (it failed the run), as it was at the raise."""

    type: str
    """The exception's class name."""
    message: str
    """Its text."""
    traceback: str
    """The formatted traceback (user frames and wfkit's)."""
    frames: tuple[CodeFrame, ...]
    """The frames from the workflow function down to the raise point, outermost first, with their locals then."""

    @property
    def where(self) -> CodeFrame | None:
        """The innermost frame of the workflow's own code (not wfkit's), where to look first."""
        user = [f for f in self.frames if not f.internal]
        return user[-1] if user else (self.frames[-1] if self.frames else None)


def _code_frame(frame: types.FrameType, lineno: int, limit: int, *, source: bool = True) -> CodeFrame:
    code = frame.f_code
    filename = code.co_filename
    return CodeFrame(
        function=getattr(code, "co_qualname", code.co_name),
        filename=filename,
        lineno=lineno,
        source=linecache.getline(filename, lineno).strip() if source else "",
        locals={k: safe_repr(v, limit) for k, v in frame.f_locals.items() if not k.startswith("__")},
        internal=filename.startswith(_INTERNAL_DIRS),
    )


def frames_of_traceback(exc: BaseException, limit: int = 200) -> RaisedError:
    """The frames an exception passed through (its traceback keeps them, with their locals at the raise)."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_ASYNCIO_DIR):
            frames.append(_code_frame(tb.tb_frame, tb.tb_lineno, limit))
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return RaisedError(type(exc).__name__, str(exc), text, tuple(frames))


@dataclass(frozen=True, slots=True)
class LineHit:
    """The stack when a line breakpoint was first reached during a workflow task."""

    filename: str
    """The file of the breakpoint."""
    lineno: int
    """Its line."""
    frames: tuple[CodeFrame, ...]
    """The workflow's frames at that moment, outermost first (the innermost is about to run the line)."""


class LineTracer:
    """Notes the first time workflow code reaches one of the given lines (`sys.settrace`, on this thread only)."""

    def __init__(self, lines: set[tuple[str, int]], limit: int = 200, *, skip: int = 0) -> None:
        self.lines = lines
        self.limit = limit
        self.skip = skip
        """Hits to pass over first (to stop at the next iteration of a loop in the same workflow task)."""
        self.hit: LineHit | None = None
        self._files = {_norm(f) for f, _ in lines}

    def _matches(self, filename: str, lineno: int) -> bool:
        norm = _norm(filename)
        return any((f == norm or norm.endswith(os.sep + f)) and n == lineno for f, n in self.lines)

    def _global(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        name = _norm(frame.f_code.co_filename)
        if self.hit is None and any(name == f or name.endswith(os.sep + f) for f in self._files):
            return self._local
        return None

    def _local(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if self.hit is None and event == "line" and self._matches(frame.f_code.co_filename, frame.f_lineno):
            if self.skip > 0:
                self.skip -= 1
                return self._local
            stack: list[CodeFrame] = []
            current: types.FrameType | None = frame
            while current is not None and not current.f_code.co_filename.startswith(_ASYNCIO_DIR):
                # No source yet: reading a file inside a workflow task would count as the workflow's own I/O.
                stack.append(_code_frame(current, current.f_lineno, self.limit, source=False))
                current = current.f_back
            user = [f for f in reversed(stack)]
            while user and user[0].internal:  # the replay machinery that called into the workflow
                user.pop(0)
            self.hit = LineHit(frame.f_code.co_filename, frame.f_lineno, tuple(user))
        return self._local if self.hit is None else None

    @contextmanager
    def tracing(self) -> Iterator[None]:
        """Trace the code run inside the block (one workflow task)."""
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            yield
        finally:
            sys.settrace(previous)
        if self.hit is not None:
            frames = tuple(dataclasses.replace(f, source=linecache.getline(f.filename, f.lineno).strip()) for f in self.hit.frames)
            self.hit = dataclasses.replace(self.hit, frames=frames)


def _norm(path: str) -> str:
    return os.path.normpath(path)


def _frames_of(coro: Any, limit: int) -> list[CodeFrame]:
    frames: list[CodeFrame] = []
    while isinstance(coro, (types.CoroutineType, types.GeneratorType)):
        frame = coro.cr_frame if isinstance(coro, types.CoroutineType) else coro.gi_frame
        if frame is None:
            break
        code = frame.f_code
        filename = code.co_filename
        lineno = frame.f_lineno
        frames.append(
            CodeFrame(
                function=getattr(code, "co_qualname", code.co_name),
                filename=filename,
                lineno=lineno,
                source=linecache.getline(filename, lineno).strip(),
                locals={k: safe_repr(v, limit) for k, v in frame.f_locals.items() if not k.startswith("__")},
                internal=filename.startswith(_INTERNAL_DIRS),
            )
        )
        coro = coro.cr_await if isinstance(coro, types.CoroutineType) else coro.gi_yieldfrom
    return frames


def _awaiting(instance: WorkflowInstance, task: asyncio.Task[Any]) -> str:
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is None:
        return "ready to run"
    known = instance.describe_awaited(waiter)
    if known is not None:
        return known
    if isinstance(waiter, asyncio.Task):
        return f"task {waiter.get_name()}"
    children = getattr(waiter, "_children", None)
    if children is not None:
        pending = [c for c in children if not c.done()]
        return f"gather of {len(children)} ({len(pending)} pending)"
    return type(waiter).__name__


def _task_number(task: asyncio.Task[Any]) -> int:
    number = task.get_name().rpartition("-")[2]
    return int(number) if number.isdigit() else 0


def task_stacks(instance: WorkflowInstance, limit: int = 200) -> list[TaskStack]:
    """The stacks of every unfinished task of the workflow, the main task first."""
    main = instance.main_task
    tasks = [t for t in asyncio.all_tasks(instance) if not t.done()]
    tasks.sort(key=lambda t: (t is not main, _task_number(t)))
    return [TaskStack(t.get_name(), tuple(_frames_of(t.get_coro(), limit)), _awaiting(instance, t), t is main) for t in tasks]
