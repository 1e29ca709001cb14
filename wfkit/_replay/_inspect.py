"""Looking inside a suspended workflow: its tasks' coroutine stacks and their local variables, safely rendered."""

from __future__ import annotations

import asyncio
import linecache
import reprlib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfkit._runtime._instance import WorkflowInstance

__all__ = ["CodeFrame", "TaskStack", "safe_repr", "task_stacks"]

# Frames from these directories are plumbing (wfkit's runtime, asyncio), not the user's workflow code.
_INTERNAL_DIRS = (str(Path(__file__).resolve().parents[1]), str(Path(asyncio.__file__).resolve().parent))


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
