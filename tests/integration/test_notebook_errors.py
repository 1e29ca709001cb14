"""Errors a notebook user meets: nondeterministic calls in workflow code, typos, a forgotten await, nondeterminism.

Each nondeterministic call (the clock, global randomness, uuid, os.urandom, files, sockets) made by
workflow code fails the run's workflow task: the run is blocked with a one-line message naming the
call and what to use instead, and continues once fixed code is registered. Messages are asserted
word for word.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime as imported_datetime
from pathlib import Path
from typing import Any

import pytest

import wfkit
from wfkit._runtime import _sandbox
from wfkit._runtime._causes import nondeterministic_calls

E = wfkit.EventType
HERE = Path(__file__).name
CHECK_OFF = "(workflow code must do the same on replay; @wfkit.workflow(allow_nondeterministic_calls=True) turns this check off)"


def line_of(fn: Callable[..., Any], text: str) -> int:
    """The line number of the first line of `fn`'s source containing `text`."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def start_blocked(engine: wfkit.Engine, workflow: Any, workflow_id: str) -> wfkit.WorkflowHandle:
    """Start a run and wait until its workflow task failed and blocked it."""
    handle = await engine.start(workflow, id=workflow_id)
    await wait_until(lambda: bool(engine.blocked_runs()))
    return handle


@wfkit.activity
async def ne_step(x: str) -> str:
    return x


def _connect() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect(("127.0.0.1", 9))


# kind -> (what the workflow code does, the call the message names, what it says to do instead)
CALLS: dict[str, tuple[Callable[[], object], str, str]] = {
    "time.time": (lambda: time.time(), "time.time()", "use wfkit.now() instead"),
    "time.time_ns": (lambda: time.time_ns(), "time.time_ns()", "use wfkit.now() instead"),
    "datetime.now": (lambda: datetime.datetime.now(), "datetime.datetime.now()", "use wfkit.now() instead"),
    "from datetime import datetime; datetime.utcnow": (lambda: imported_datetime.utcnow(), "datetime.datetime.utcnow()", "use wfkit.now() instead"),
    "date.today": (lambda: datetime.date.today(), "datetime.date.today()", "use wfkit.now() instead"),
    "random.random": (lambda: random.random(), "random.random()", "use wfkit.random().random(...) instead"),
    "random.randint": (lambda: random.randint(1, 6), "random.randint()", "use wfkit.random().randint(...) instead"),
    "uuid.uuid4": (lambda: uuid.uuid4(), "uuid.uuid4()", "use wfkit.uuid4() instead"),
    "os.urandom": (lambda: os.urandom(8), "os.urandom()", "use wfkit.random().randbytes(n) instead"),
    # A short path: the message cuts long arguments, and a checkout's path can be of any length.
    "open": (lambda: open(os.devnull).close(), f"open({os.devnull!r}, 'r')", "do file I/O in an activity"),
    "socket.connect": (_connect, "socket.connect(('127.0.0.1', 9))", "do network I/O in an activity"),
}


@pytest.mark.parametrize("kind", list(CALLS))
async def test_a_nondeterministic_call_blocks_the_run_with_a_message_and_fixed_code_completes_it(db_path: Path, kind: str) -> None:
    call, label, instead = CALLS[kind]
    registry = wfkit.Registry()

    @wfkit.workflow(name="nd", registry=registry)
    async def nd() -> str:
        first = await ne_step("a")
        call()
        return first

    async with wfkit.Engine.open(db_path, registry=registry) as engine:
        with pytest.warns(RuntimeWarning, match="called"):
            handle = await start_blocked(engine, nd, "nd-1")
        [blocked] = engine.blocked_runs()
        where = f"{__file__}:{line_of(nd, 'call()')} in nd"
        assert blocked.blocked is not None
        assert blocked.blocked.startswith(f"workflow nd (nd-1) called {label} at {where} (inside ")
        assert blocked.blocked.endswith(f": {instead} {CHECK_OFF}")
        assert "\n" not in blocked.blocked
        history = engine.history("nd-1")
        [failed] = [e for e in history if e.event_type is E.WorkflowTaskFailed]
        assert failed.attributes["cause"] == "NondeterministicCall"
        assert failed.attributes["failure"]["type"] == "NondeterministicCallError"
        assert failed.attributes["failure"]["message"] == blocked.blocked
        assert E.WorkflowExecutionFailed not in [e.event_type for e in history]

        @wfkit.workflow(name="nd", registry=registry)  # the cell is fixed and re-run
        async def nd_fixed() -> str:
            first = await ne_step("a")
            wfkit.now()
            return first

        assert await handle.result() == "a"
        assert engine.blocked_runs() == []


async def test_the_call_is_caught_even_when_workflow_code_swallows_the_error(engine: wfkit.Engine) -> None:
    registry = engine.registry

    @wfkit.workflow(name="ne_swallows", registry=registry)
    async def ne_swallows() -> str:
        try:
            stamp = time.time()
        except Exception:
            stamp = 0.0
        return f"{stamp}"

    with pytest.warns(RuntimeWarning, match=r"called time\.time\(\)"):
        await start_blocked(engine, ne_swallows, "swallows")
    [blocked] = engine.blocked_runs()
    assert blocked.blocked == (
        f"workflow ne_swallows (swallows) called time.time() at {__file__}:{line_of(ne_swallows, 'time.time()')} in ne_swallows: "
        f"use wfkit.now() instead {CHECK_OFF}"
    )


async def test_allow_nondeterministic_calls_lets_the_workflow_run(engine: wfkit.Engine) -> None:
    @wfkit.workflow(name="ne_opt_out", registry=engine.registry, allow_nondeterministic_calls=True)
    async def ne_opt_out() -> list[str]:
        stamp = time.time()
        today = datetime.date.today()
        token = uuid.uuid4()
        pick = random.randint(1, 6)
        with open(__file__) as source:
            source.readline()
        await ne_step("a")
        return [type(stamp).__name__, type(today).__name__, type(token).__name__, type(pick).__name__]

    assert ne_opt_out.allow_nondeterministic_calls
    assert await (await engine.start(ne_opt_out)).result() == ["float", "date", "UUID", "int"]
    assert engine.blocked_runs() == []


async def test_what_workflow_code_may_still_do_logging_side_effects_tracebacks_wfkit_apis(engine: wfkit.Engine, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.notebook")

    @wfkit.workflow(name="ne_allowed", registry=engine.registry)
    async def ne_allowed() -> list[Any]:
        log.warning("starting %s", wfkit.info().workflow_id)  # logging stamps records with time.time()
        stamp = wfkit.side_effect(time.time, float)  # recorded once, replayed from history
        token = wfkit.side_effect(lambda: str(uuid.uuid4()))
        try:
            raise ValueError("boom")  # the recorded failure reads source lines (linecache opens files)
        except ValueError:
            pass
        await ne_step("a")
        return [type(stamp).__name__, len(token), wfkit.now().tzinfo is not None, 0 <= wfkit.random().random() < 1, wfkit.uuid4().version]

    with caplog.at_level(logging.WARNING, logger="tests.notebook"):
        assert await (await engine.start(ne_allowed, id="allowed")).result() == ["float", 36, True, True, 4]
    assert "starting allowed" in caplog.text


async def test_calls_outside_workflow_code_are_not_checked_and_the_wrappers_look_like_the_originals() -> None:
    # The same process, outside any workflow: everything calls straight through.
    assert isinstance(time.time(), float)
    assert isinstance(datetime.datetime.now(), datetime.datetime)
    assert random.random() < 1
    assert uuid.uuid4().version == 4
    assert len(os.urandom(4)) == 4
    assert (time.time.__module__, time.time.__name__) == ("time", "time")
    assert random.randint.__name__ == "randint"
    assert inspect.signature(random.randint).parameters.keys() == {"a", "b"}
    assert _sandbox.datetime_patched  # CPython: datetime.now / utcnow and date.today are checked
    assert _sandbox.ACTIVE == {}


async def test_the_replayer_and_the_replay_debugger_report_the_call(engine: wfkit.Engine) -> None:
    @wfkit.workflow(name="ne_replayed", registry=engine.registry, allow_nondeterministic_calls=True)
    async def recorded() -> str:
        await ne_step("a")
        random.random()
        return await ne_step("b")

    await (await engine.start(recorded, id="replayed")).result()
    history = engine.history("replayed")

    @wfkit.workflow(name="ne_replayed", registry=wfkit.Registry())  # the same code, checked
    async def checked() -> str:
        await ne_step("a")
        random.random()
        return await ne_step("b")

    where = f"{__file__}:{line_of(checked, 'random.random()')} in checked"
    expected = f"workflow ne_replayed (replayed) called random.random() at {where}: use wfkit.random().random(...) instead {CHECK_OFF}"
    with pytest.raises(wfkit.NondeterministicCallError) as info:
        wfkit.Replayer(workflows=[checked]).replay(history)
    assert str(info.value) == expected
    assert (info.value.call, info.value.workflow_id) == ("random.random()", "replayed")

    session = wfkit.ReplaySession(history, workflows=[checked])
    snapshot = session.run_to()
    second_task = [e for e in history if e.event_type is E.WorkflowTaskStarted][1]
    assert snapshot.error == expected
    assert snapshot.error_event_id == second_task.event_id == session.limit


#### Errors that follow the contract ####


async def test_a_query_typo_raises_query_not_found_naming_the_handlers(engine: wfkit.Engine) -> None:
    @wfkit.workflow(name="ne_queried", registry=engine.registry)
    async def ne_queried() -> None:
        wfkit.set_query_handler("status", lambda: "waiting")
        await wfkit.wait_signal("go")

    handle = await engine.start(ne_queried, id="queried")
    await wait_until(lambda: E.WorkflowTaskCompleted in [e.event_type for e in engine.history("queried")])
    assert await handle.query("status") == "waiting"
    with pytest.raises(wfkit.QueryNotFoundError) as info:
        await handle.query("stauts")
    assert str(info.value) == "workflow queried has no query handler 'stauts' (registered: status)"
    assert isinstance(info.value, wfkit.WfkitError)
    assert isinstance(info.value, KeyError)


async def test_a_forgotten_await_on_engine_open_says_to_await_it(db_path: Path) -> None:
    opener = wfkit.Engine.open(db_path)  # no await: nothing is opened yet
    with pytest.raises(wfkit.NotAwaitedError) as info:
        opener.start
    assert str(info.value) == (
        "wfkit.Engine.open(...) returns an opener, not an engine (it has no .start): "
        "use `engine = await wfkit.Engine.open(...)` or `async with wfkit.Engine.open(...) as engine`"
    )
    assert isinstance(info.value, wfkit.WfkitError)
    assert isinstance(info.value, AttributeError)
    assert not hasattr(opener, "history")
    assert "await wfkit.Engine.open(...)" in repr(opener)
    engine = await opener  # awaiting it afterwards still works
    await engine.close()


def test_user_mistakes_in_definitions_and_calls_raise_wfkit_errors() -> None:
    with pytest.raises(wfkit.ConfigurationError, match=r"^RetryPolicy.max_attempts must be >= 0, got -1$") as config:
        wfkit.RetryPolicy(max_attempts=-1)
    assert isinstance(config.value, ValueError)
    with pytest.raises(wfkit.ConfigurationError, match=r"^@wfkit.activity slow: start_to_close must be > 0 seconds, got 0$"):

        @wfkit.activity(start_to_close=0, registry=wfkit.Registry())
        def slow() -> None: ...

    with pytest.raises(wfkit.DefinitionError, match=r"^@wfkit.workflow 'sync' must be an 'async def' function$") as definition:

        @wfkit.workflow(registry=wfkit.Registry())
        def sync() -> None: ...

    assert isinstance(definition.value, TypeError)
    with pytest.raises(wfkit.DefinitionError, match=r"^@wfkit.activity: ne_step is already decorated$"):
        wfkit.activity(ne_step)  # type: ignore[call-overload]
    with pytest.raises(wfkit.ArgumentError, match=r"^ne_step\(\): too many positional arguments$") as arguments:
        ne_step.bind(("a", "b"), {})
    assert isinstance(arguments.value, TypeError)


#### Nondeterminism messages name the likely cause ####


async def test_nondeterminism_after_a_code_change_suggests_patched(engine: wfkit.Engine) -> None:
    @wfkit.workflow(name="ne_changed", registry=engine.registry)
    async def v1() -> str:
        return await ne_step("a")

    await (await engine.start(v1, id="changed")).result()

    @wfkit.workflow(name="ne_changed", registry=wfkit.Registry())
    async def v2() -> str:
        await wfkit.sleep(1)
        return await ne_step("a")

    with pytest.raises(wfkit.NondeterminismError) as info:
        wfkit.Replayer(workflows=[v2]).replay(engine.history("changed"))
    scheduled = next(e for e in engine.history("changed") if e.event_type is E.ActivityTaskScheduled)
    assert str(info.value) == (
        f"run {engine.history('changed').run_id}: nondeterminism at event {scheduled.event_id}: history recorded ActivityTaskScheduled(ne_step), "
        "but the workflow code now issued TimerStarted(1.0s). The workflow's code changed since this run was recorded: guard the change with "
        '`if wfkit.patched("<change-id>"):` so that runs recorded before it replay the old path.'
    )


async def test_nondeterminism_from_a_nondeterministic_call_names_it_and_does_not_suggest_patched(engine: wfkit.Engine) -> None:
    @wfkit.workflow(name="ne_coin", registry=engine.registry, allow_nondeterministic_calls=True)
    async def recorded() -> str:
        return await ne_step("heads")

    await (await engine.start(recorded, id="coin")).result()
    history = engine.history("coin")

    @wfkit.workflow(name="ne_coin", registry=wfkit.Registry(), allow_nondeterministic_calls=True)
    async def coin() -> str:
        if random.random() < 2:  # a coin that landed on the other side this time
            await wfkit.sleep(1)
        return await ne_step("heads")

    with pytest.raises(wfkit.NondeterminismError) as info:
        wfkit.Replayer(workflows=[coin]).replay(history)
    message = str(info.value)
    assert message.endswith(
        f"Likely cause: the workflow's code calls random.random() ({HERE}:{line_of(coin, 'random.random()')}), "
        "which give other values on replay; use wfkit.random() instead."
    )
    assert "patched" not in message
    assert info.value.hint is not None
    assert info.value.hint in message


def test_the_cause_finder_reads_calls_from_the_bytecode_whatever_the_import_style() -> None:
    async def wf() -> None:
        imported_datetime.now()
        datetime.date.today()
        [os.urandom(1) for _ in range(1)]
        open(__file__).close()
        uuid.uuid4()
        wfkit.now()

    labels = [label for label, _, _ in nondeterministic_calls(wf)]
    assert labels == ["datetime.datetime.now()", "datetime.date.today()", "open()", "uuid.uuid4()", "os.urandom()"]
    lines = {label: line for label, _, line in nondeterministic_calls(wf)}
    assert lines["uuid.uuid4()"] == line_of(wf, "uuid.uuid4()")
