"""Catching nondeterministic calls made by workflow code: the wall clock, global randomness, file and network I/O.

While a `WorkflowInstance` runs workflow code (`activate`, live or on replay) it is registered
here for its thread (`ACTIVE`). Wrappers installed once over `time.time`, `random.random`,
`uuid.uuid4`, `os.urandom`, ... and over `datetime.datetime.now` / `utcnow` and
`datetime.date.today`, plus an audit hook for `open`, sockets and subprocesses, raise
`NondeterministicCallError` when workflow code on that thread calls them, and note the call on
the instance, which fails its workflow task (catching the error in workflow code does not hide
it). Everywhere else they call straight through: outside workflow code the cost is one
dictionary truth test per call.

What is not caught (docs/concepts.md says so too): functions bound before wfkit was imported
(`from time import time` run earlier), `time.monotonic` / `perf_counter`, `random.Random()` and
`secrets`, C extensions (numpy's random, pandas' `Timestamp.now` through its own code), and
I/O without an audit event (`os.stat`, `Path.exists`). Calls made from logging, asyncio,
tracebacks and linecache, the import system and the notebook's output plumbing are allowed:
they are not the workflow's logic.
"""

from __future__ import annotations

import datetime
import gc
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from wfkit.errors import NondeterministicCallError

__all__ = ["ACTIVE", "RANDOM_FUNCTIONS", "install", "resume", "suspend"]


class _Guarded(Protocol):
    """What the sandbox needs of the running workflow (a `WorkflowInstance`)."""

    def sandbox_violation(self, call: str, replacement: str, where: str) -> NondeterministicCallError: ...


ACTIVE: dict[int, _Guarded] = {}
"""Thread id -> the workflow whose code runs on that thread now (sandboxed workflows only)."""

_get_ident = threading.get_ident

_CLOCK = "wfkit.now()"
_RANDOM = "wfkit.random()"

# Module-level functions: (module, name, replacement).
_FUNCTIONS: list[tuple[Any, str, str]] = [
    (time, "time", _CLOCK),
    (time, "time_ns", _CLOCK),
    (uuid, "uuid1", "wfkit.uuid4()"),
    (uuid, "uuid4", "wfkit.uuid4()"),
    (os, "urandom", "wfkit.random().randbytes(n)"),
]
_RANDOM_NAMES = [
    "betavariate",
    "choice",
    "choices",
    "expovariate",
    "gammavariate",
    "gauss",
    "getrandbits",
    "lognormvariate",
    "normalvariate",
    "paretovariate",
    "randbytes",
    "randint",
    "random",
    "randrange",
    "sample",
    "shuffle",
    "triangular",
    "uniform",
    "vonmisesvariate",
    "weibullvariate",
]
RANDOM_FUNCTIONS = tuple(name for name in _RANDOM_NAMES if hasattr(random, name))
"""The module-level functions of `random` (methods of its hidden global `Random`)."""
_FUNCTIONS += [(random, name, f"wfkit.random().{name}(...)") for name in RANDOM_FUNCTIONS]

# Audit events (sys.audit) that are I/O, and what to do instead.
_IN_ACTIVITY = {
    "open": "do file I/O in an activity",
    "os.listdir": "do file I/O in an activity",
    "os.scandir": "do file I/O in an activity",
    "os.remove": "do file I/O in an activity",
    "os.rename": "do file I/O in an activity",
    "os.mkdir": "do file I/O in an activity",
    "glob.glob": "do file I/O in an activity",
    "shutil.copyfile": "do file I/O in an activity",
    "shutil.rmtree": "do file I/O in an activity",
    "socket.connect": "do network I/O in an activity",
    "socket.bind": "do network I/O in an activity",
    "socket.sendto": "do network I/O in an activity",
    "socket.getaddrinfo": "do network I/O in an activity",
    "socket.gethostbyname": "do network I/O in an activity",
    "socket.gethostbyaddr": "do network I/O in an activity",
    "subprocess.Popen": "run subprocesses in an activity",
    "os.system": "run subprocesses in an activity",
    "os.exec": "run subprocesses in an activity",
    "os.posix_spawn": "run subprocesses in an activity",
    "os.spawn": "run subprocesses in an activity",
}

# Code that may call these while workflow code runs: it serves the workflow, it is not its logic
# (logging stamps records with time.time(), tracebacks read source files, a first print() from a
# thread in Jupyter sets up a pipe with os.urandom, imports open files).
_ALLOWED_TOP = frozenset(
    {
        "asyncio", "codecs", "encodings", "importlib", "inspect", "linecache", "logging", "tokenize", "traceback",
        "warnings", "zipimport", "IPython", "ipykernel", "jupyter_client", "comm", "tornado", "zmq",
    }
)  # fmt: skip


def _allowed(frame: FrameType | None) -> bool:
    """True if the call made from `frame` is not the workflow's own (see `_ALLOWED_TOP`)."""
    if frame is None:
        return True
    name = frame.f_globals.get("__name__") or ""
    top = name.partition(".")[0]
    if top in _ALLOWED_TOP or (top == "wfkit" and name != "wfkit._demo"):
        return True
    # A module's import-time code, run because workflow code imported it: not workflow logic.
    outer = frame.f_back
    while outer is not None:
        if (outer.f_globals.get("__name__") or "").startswith("importlib._bootstrap"):
            return True
        outer = outer.f_back
    return False


def _where(frame: FrameType | None) -> str:
    """The workflow code's place for a message: the outermost workflow frame, and the call's own place if deeper."""
    if frame is None:
        return "an unknown place"
    outermost = frame
    outer = frame.f_back
    while outer is not None and outer.f_globals.get("__name__") != "wfkit._runtime._instance":
        if not (outer.f_globals.get("__name__") or "").startswith("asyncio"):
            outermost = outer
        outer = outer.f_back
    place = f"{outermost.f_code.co_filename}:{outermost.f_lineno} in {outermost.f_code.co_name}"
    if outermost is not frame:
        place += f" (inside {frame.f_code.co_name} at {os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno})"
    return place


def _check(call: str, replacement: str, frame: FrameType | None) -> None:
    """Raise `NondeterministicCallError` if workflow code on this thread made this call from `frame`."""
    guarded = ACTIVE.get(_get_ident())
    if guarded is None or _allowed(frame):
        return
    raise guarded.sandbox_violation(call, replacement, _where(frame))


def suspend() -> _Guarded | None:
    """Allow nondeterministic calls on this thread until `resume` (for `wfkit.side_effect`'s function)."""
    return ACTIVE.pop(_get_ident(), None)


def resume(guarded: _Guarded | None) -> None:
    """Undo `suspend`."""
    if guarded is not None:
        ACTIVE[_get_ident()] = guarded


#### Installing (once per process) ####


def _wrap(module: Any, name: str, replacement: str) -> None:
    original = getattr(module, name)
    if getattr(original, "__wfkit_sandboxed__", False):
        return
    call = f"{module.__name__}.{name}()"
    active = ACTIVE
    getframe = sys._getframe

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if active:
            _check(call, replacement, getframe(1))
        return original(*args, **kwargs)

    # Looks like the function it wraps: pickle finds it by module and name, inspect.signature by __wrapped__.
    wrapper.__module__ = module.__name__
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    wrapper.__wfkit_sandboxed__ = True  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


def _patch_type(cls: type, name: str, replacement: str) -> bool:
    """Replace the classmethod `cls.name` of a C type (datetime's) with a checking one; False if this Python cannot."""
    namespace = gc.get_referents(cls.__dict__)
    if len(namespace) != 1 or not isinstance(namespace[0], dict) or name not in namespace[0]:
        return False
    attrs: dict[str, Any] = namespace[0]
    original = attrs[name]
    if getattr(original, "__wfkit_sandboxed__", False):
        return True
    bind: Callable[..., Any] = original.__get__
    active = ACTIVE
    getframe = sys._getframe

    direct = bind(None, cls)

    def checked(owner: type, *args: Any, **kwargs: Any) -> Any:
        if active:
            _check(f"{owner.__module__}.{owner.__qualname__}.{name}()", replacement, getframe(1))
        return direct(*args, **kwargs) if owner is cls else bind(None, owner)(*args, **kwargs)

    checked.__name__ = checked.__qualname__ = name
    checked.__doc__ = original.__doc__
    method: Any = classmethod(checked)
    method.__wfkit_sandboxed__ = True  # type: ignore[attr-defined]
    attrs[name] = method
    if not _type_modified(cls):
        attrs[name] = original  # could not refresh the type's caches: leave it as it was
        return False
    return True


def _type_modified(cls: type) -> bool:
    """Tell CPython the type's attributes changed (PyType_Modified: its lookup caches are stale)."""
    try:
        import ctypes  # CPython only; already loaded by duckdb in practice

        ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))
    except Exception:  # noqa: BLE001 - not CPython, or no pythonapi: do without the datetime patch
        return False
    return True


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not ACTIVE:
        return
    replacement = _IN_ACTIVITY.get(event)
    if replacement is None:
        return
    guarded = ACTIVE.get(_get_ident())
    if guarded is None:
        return
    frame = sys._getframe(1)
    if _allowed(frame):
        return
    shown = ", ".join(_short(args[i]) for i in _SHOWN.get(event, (0,)) if i < len(args) and args[i] is not None)
    raise guarded.sandbox_violation(f"{event}({shown})", replacement, _where(frame))


# Which audit arguments a message shows: open(path, mode), socket.connect(address), subprocess.Popen(args), ...
_SHOWN: dict[str, tuple[int, ...]] = {
    "open": (0, 1),
    "os.rename": (0, 1),
    "shutil.copyfile": (0, 1),
    "socket.connect": (1,),
    "socket.bind": (1,),
    "socket.sendto": (1,),
    "socket.getaddrinfo": (0, 1),
    "subprocess.Popen": (1,),
    "os.exec": (1,),
    "os.posix_spawn": (1,),
    "os.spawn": (2,),
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_installed = False
datetime_patched = False
"""Whether `datetime.datetime.now` / `utcnow` and `datetime.date.today` are checked (CPython only)."""


def install() -> None:
    """Install the wrappers and the audit hook (idempotent; `import wfkit` does it)."""
    global _installed, datetime_patched
    if _installed:
        return
    _installed = True
    for module, name, replacement in _FUNCTIONS:
        _wrap(module, name, replacement)
    if sys.implementation.name == "cpython":
        datetime_patched = all(
            [
                _patch_type(datetime.datetime, "now", _CLOCK),
                _patch_type(datetime.datetime, "utcnow", _CLOCK),
                _patch_type(datetime.date, "today", _CLOCK),
            ]
        )
    sys.addaudithook(_audit)


install()
