"""The likely cause of a nondeterminism error, for its message: calls in the workflow's code that differ on replay.

Read from the function's bytecode (no source file is read): every `name.attr...` chain loaded
from the function's globals is resolved and compared with the clock, global randomness, uuid,
`os.urandom`, `open` and the network. Nested functions, lambdas and comprehensions count;
helpers the workflow calls are not followed.
"""

from __future__ import annotations

import builtins
import datetime
import os
import random
import socket
import time
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from wfkit._runtime._sandbox import RANDOM_FUNCTIONS

__all__ = ["likely_cause", "nondeterministic_calls"]

_MODULE_CALLS: dict[Any, dict[str, str]] = {
    time: {"time": "wfkit.now()", "time_ns": "wfkit.now()"},
    random: dict.fromkeys(RANDOM_FUNCTIONS, "wfkit.random()"),
    uuid: {"uuid1": "wfkit.uuid4()", "uuid4": "wfkit.uuid4()"},
    os: {"urandom": "wfkit.random()", "listdir": "an activity", "scandir": "an activity"},
    socket: {"create_connection": "an activity", "getaddrinfo": "an activity", "gethostbyname": "an activity", "socket": "an activity"},
}
_CLASS_CALLS = {"now": "wfkit.now()", "utcnow": "wfkit.now()", "today": "wfkit.now()"}
_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTRS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_TRANSPARENT = frozenset({"PRECALL", "CACHE", "PUSH_NULL", "EXTENDED_ARG", "NOP"})


def _known_functions() -> dict[int, tuple[str, str]]:
    """id -> (label, replacement) of the functions themselves (`from time import time` binds one)."""
    known: dict[int, tuple[str, str]] = {id(builtins.open): ("open()", "an activity")}
    for module, names in _MODULE_CALLS.items():
        for name, replacement in names.items():
            fn = getattr(module, name, None)
            while fn is not None:
                known[id(fn)] = (f"{module.__name__}.{name}()", replacement)
                fn = getattr(fn, "__wrapped__", None)
    return known


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _resolve(chain: list[str], namespace: dict[str, Any]) -> tuple[Any, Any] | None:
    """(owner, value) of `a.b.c` looked up in `namespace`: owner is `a.b`, value `a.b.c` (owner None for a bare name)."""
    if chain[0] in namespace:
        value = namespace[chain[0]]
    elif hasattr(builtins, chain[0]):
        value = getattr(builtins, chain[0])
    else:
        return None
    owner = None
    for attr in chain[1:]:
        owner = value
        try:
            value = getattr(value, attr)
        except Exception:  # noqa: BLE001 - a lazy attribute that fails: not a call we know
            return None
    return owner, value


def _classify(chain: list[str], namespace: dict[str, Any], known: dict[int, tuple[str, str]]) -> tuple[str, str] | None:
    resolved = _resolve(chain, namespace)
    if resolved is None:
        return None
    owner, value = resolved
    if id(value) in known:
        return known[id(value)]
    if isinstance(owner, type) and issubclass(owner, datetime.date) and chain[-1] in _CLASS_CALLS:
        return f"{owner.__module__}.{owner.__qualname__}.{chain[-1]}()", _CLASS_CALLS[chain[-1]]
    return None


def nondeterministic_calls(fn: Callable[..., Any]) -> list[tuple[str, str, int | None]]:
    """The nondeterministic calls in `fn`'s code, in order: (label, replacement, line); each label once."""
    import dis  # only when a message needs it

    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return []
    namespace = getattr(fn, "__globals__", {})
    known = _known_functions()
    found: dict[str, tuple[str, str, int | None]] = {}
    for each in _code_objects(code):
        chain: list[str] = []
        line: int | None = None
        current: int | None = None
        for instr in dis.get_instructions(each):
            positions = getattr(instr, "positions", None)  # Python 3.11+
            if positions is not None and positions.lineno is not None:
                current = positions.lineno
            elif isinstance(instr.starts_line, int) and not isinstance(instr.starts_line, bool):
                current = instr.starts_line
            if instr.opname in _TRANSPARENT:
                continue
            if instr.opname in _ATTRS and chain:
                chain.append(str(instr.argval))
                continue
            if chain:
                hit = _classify(chain, namespace, known)
                if hit is not None and hit[0] not in found:
                    found[hit[0]] = (hit[0], hit[1], line)
            chain = [str(instr.argval)] if instr.opname in _LOADS else []
            line = current
        if chain:
            hit = _classify(chain, namespace, known)
            if hit is not None and hit[0] not in found:
                found[hit[0]] = (hit[0], hit[1], line)
    return list(found.values())


def likely_cause(fn: Callable[..., Any] | None) -> str:
    """The sentence a nondeterminism message ends with: the calls seen in the code, or else a code change."""
    calls = nondeterministic_calls(fn) if fn is not None else []
    if not calls:
        return (
            "The workflow's code changed since this run was recorded: guard the change with "
            '`if wfkit.patched("<change-id>"):` so that runs recorded before it replay the old path'
        )
    file = os.path.basename(getattr(getattr(fn, "__code__", None), "co_filename", "") or "?")
    shown = ", ".join(f"{label} ({file}:{line})" if line is not None else label for label, _, line in calls[:3])
    replacements = sorted({replacement for _, replacement, _ in calls})
    apis = [r for r in replacements if r.startswith("wfkit.")]
    advice = f"use {' / '.join(apis)} instead" if apis else ""
    if "an activity" in replacements:
        advice = f"{advice}, or do that in an activity" if advice else "do that in an activity"
    return f"Likely cause: the workflow's code calls {shown}, which give other values on replay; {advice}"
