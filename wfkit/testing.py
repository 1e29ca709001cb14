"""wfkit.testing: recorded runs as regression tests, and a time-skipping test engine.

```python
import wfkit, wfkit.testing

# A run as a regression test: its history (JSON) and a pytest module that replays it.
engine.save_test("etl-2026-11-27", "tests/regressions/")        # or: wfkit save-test etl-2026-11-27 --out ...

# In pytest: passes while the code issues the recorded commands, else raises wfkit.NondeterminismError.
wfkit.testing.replay_test("tests/regressions/etl_2026_11_27_3f2c1a.json", workflows=[etl])

# Durable timers, timeouts, heartbeats and retry backoffs on a clock that jumps ahead when nothing runs.
async with wfkit.testing.engine() as engine:
    engine.mock_activity(extract, returns=[{"amount": 3}])
    handle = await engine.start(monthly_report, "2026-11")      # sleeps 30 days: done in milliseconds
    assert await handle.result() == ...
```

The test engine is a real `wfkit.Engine` (in memory unless `path=` names a file) on a
`wfkit.FakeClock`. Whenever the engine is idle (`Engine.idle()`: no workflow task running or
due, no activity attempt running, nothing waiting to commit) the clock jumps to its next
deadline, as Temporal's `WorkflowEnvironment.start_time_skipping()` does. An activity attempt
that is running holds the clock: mock slow activities (`engine.mock_activity`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dis
import json
import os
import re
import sys
import types
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from wfkit._analytics._histories import Histories
from wfkit._definitions import ActivityDefinition, WorkflowDefinition, default_registry
from wfkit._engine._activities import ActivityMock
from wfkit._engine._clock import FakeClock
from wfkit._engine._engine import Engine
from wfkit._history._commands import CompleteWorkflow
from wfkit._history._events import EventType
from wfkit._history._history import History
from wfkit._history._payload import JsonConverter, PayloadConverter
from wfkit._replay._replayer import Replayer, ReplayResult
from wfkit.errors import ArgumentError, NondeterminismError

if TYPE_CHECKING:
    import datetime

__all__ = ["ActivityMock", "SavedTest", "advance", "engine", "read_history", "replay_test", "save_test", "skipped", "workflows_in"]


#### Replaying a recorded run ####


def read_history(source: History | str | os.PathLike[str]) -> History:
    """A history from a `History`, or from a JSON file: wfkit's own (`History.to_json`, what `save_test` writes)
    or a Temporal history (`.json` or `.json.gz`, read with `wfkit.temporal.load_history`)."""
    if isinstance(source, History):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ArgumentError(f"expected a wfkit.History or the path of a JSON history, got {type(source).__name__}")
    path = Path(source)
    if path.suffix != ".gz":
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
        events = doc.get("events") if isinstance(doc, dict) else None
        first = events[0] if isinstance(events, list) and events and isinstance(events[0], dict) else None
        if first is not None and "attributes" in first and not str(first.get("event_type", "")).startswith("EVENT_TYPE_"):
            return History.from_json(text)
    from wfkit.temporal._load import load_history  # Temporal's JSON, camelCase or snake_case, maybe gzipped

    return load_history(path)


def replay_test(
    history_or_path: History | str | os.PathLike[str],
    workflows: Iterable[WorkflowDefinition[Any, Any]],
    *,
    converter: PayloadConverter | None = None,
    check_result: bool = True,
) -> ReplayResult:
    """Replay a recorded run against the current workflow code, for pytest.

    Passes (returns the `wfkit.ReplayResult`) while the code issues the commands the history
    recorded, in order. Otherwise raises `wfkit.NondeterminismError` naming the event, the recorded
    command and the new one, and where the workflow's code issues the new one (file:line).
    With `check_result`, a run recorded as completed must also return an equal value now
    (`AssertionError` if not); commands are compared by kind and name, not arguments.

    Args:
        history_or_path: a `wfkit.History`, or a JSON file (wfkit's own, as `save_test` writes, or Temporal's).
        workflows: the workflow code (the history's workflow type must be among them; child workflows' code is not needed).
        converter: the payload converter the run was recorded with (default: JSON).
    """
    history = read_history(history_or_path)
    definitions = list(workflows)
    source = f"{os.fspath(history_or_path)}: " if not isinstance(history_or_path, History) else ""
    try:
        result = Replayer(definitions, converter=converter).replay(history)
    except NondeterminismError as error:
        definition = next((d for d in definitions if d.name == history.workflow_type), None)
        where = _where_issued(definition, error.got) if definition is not None else None
        hint = error.hint or "Workflow code must issue the same commands in the same order on replay; guard code changes with wfkit.patched()"
        if where:
            hint = f"{hint}. The code issues {error.got} at {where}"
        origin = f" (replaying {os.fspath(history_or_path)})" if not isinstance(history_or_path, History) else ""
        raise NondeterminismError(error.run_id, error.event_id, error.expected, error.got, hint + origin) from None
    if check_result:
        _check_result(history, result, converter or JsonConverter(), source)
    return result


def _check_result(history: History, result: ReplayResult, converter: PayloadConverter, source: str) -> None:
    closing = history.events[-1] if history.events else None
    last = result.commands[-1] if result.commands else None
    if closing is None or closing.event_type is not EventType.WorkflowExecutionCompleted or not isinstance(last, CompleteWorkflow):
        return
    payload = closing.attributes.get("result")
    recorded = converter.from_payload(payload, Any) if payload is not None else None
    new = converter.from_payload(last.result, Any) if last.result is not None else None
    if new != recorded:
        raise AssertionError(
            f"{source}run {history.run_id} ({history.workflow_type}): the workflow recorded the result {recorded!r}, the code now returns {new!r}"
        )


def _where_issued(definition: WorkflowDefinition[Any, Any], got: str) -> str | None:
    """'file.py:12' where the workflow function refers to the activity or child workflow named in `got`
    ("ActivityTaskScheduled(transform)"), read from its bytecode; None if it cannot be told."""
    match = re.fullmatch(r"(\w+)\((.+)\)", got)
    fn = getattr(definition.fn, "__code__", None)
    if match is None or not isinstance(fn, types.CodeType):
        return None
    name = match.group(2)
    namespace = getattr(definition.fn, "__globals__", {})
    lines: list[int] = []
    for code in _code_objects(fn):
        line = code.co_firstlineno
        for ins in dis.get_instructions(code):
            positions = getattr(ins, "positions", None)
            if positions is not None and positions.lineno:
                line = positions.lineno
            elif isinstance(ins.starts_line, int) and not isinstance(ins.starts_line, bool):
                line = ins.starts_line
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF") and isinstance(ins.argval, str):
                value = namespace.get(ins.argval)
                if isinstance(value, (ActivityDefinition, WorkflowDefinition)) and value.name == name and line not in lines:
                    lines.append(line)
    if not lines:
        return None
    return ", ".join(f"{fn.co_filename}:{line}" for line in sorted(lines)) + f" (in {definition.fn.__name__})"


def _code_objects(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def workflows_in(module: types.ModuleType) -> list[WorkflowDefinition[Any, Any]]:
    """Every `@wfkit.workflow` defined (or imported) at the top level of a module."""
    return [value for value in vars(module).values() if isinstance(value, WorkflowDefinition)]


#### Saving a run as a regression test ####


class SavedTest(NamedTuple):
    """The files `save_test` wrote."""

    history: Path
    """The run's history, as wfkit JSON."""
    test: Path
    """The pytest module that replays it."""


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def save_test(
    source: Engine | Histories,
    run: str,
    directory: str | os.PathLike[str] = "tests/regressions",
    *,
    module: str | types.ModuleType | None = None,
    name: str | None = None,
    overwrite: bool = False,
) -> SavedTest:
    """Write a run's history (wfkit JSON) and a small pytest module that replays it with `replay_test`.

    ```python
    paths = wfkit.testing.save_test(engine, "etl-2026-11-27", "tests/regressions/")   # engine.save_test(...) too
    # tests/regressions/etl_2026_11_27_3f2c1a.json, tests/regressions/test_etl_2026_11_27_3f2c1a.py
    ```

    The test imports the module that defines the workflow: `module` (a dotted name or the module),
    by default the registered definition's `__module__`. A workflow defined in a notebook or a script
    run as `__main__` has no importable module: move it to a file and pass `module="flows"`. The
    module must be importable when pytest runs (from the rootdir, or with pytest's `pythonpath`).

    Args:
        source: an engine, or histories opened read-only (`wfkit.open_histories`).
        run: a workflow id (its latest run), a run id or a unique run-id prefix.
        directory: where to write both files (created if missing).
        name: the files' base name (default: workflow id and the start of the run id).
        overwrite: replace files of the same name (default: `FileExistsError`).

    Raises:
        ArgumentError: the workflow's module is not known or not importable by name.
        FileExistsError: a file is there already and `overwrite` is False.
    """
    histories = source.histories if isinstance(source, Engine) else source
    history = histories.history(run)
    workflow_type = history.workflow_type
    if workflow_type is None:
        raise ArgumentError(f"run {history.run_id} has no WorkflowExecutionStarted event to replay from")
    registry = source.registry if isinstance(source, Engine) else default_registry
    definition = registry.workflow(workflow_type) or default_registry.workflow(workflow_type)
    module_name, attribute = _test_target(workflow_type, definition, module)

    base = _slug(name or f"{history.workflow_id}_{history.run_id[:8]}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    history_path, test_path = folder / f"{base}.json", folder / f"test_{base}.py"
    for path in (history_path, test_path):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    doc = json.loads(history.to_json())
    history_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    test_path.write_text(_test_module(history, module_name, attribute, history_path.name, base), encoding="utf-8")
    return SavedTest(history_path, test_path)


def _test_target(workflow_type: str, definition: WorkflowDefinition[Any, Any] | None, module: str | types.ModuleType | None) -> tuple[str, str | None]:
    """(the module to import, the workflow's attribute there, or None to look it up by type at test time)."""
    if isinstance(module, types.ModuleType):
        module_name: str | None = module.__name__
    elif module is not None:
        module_name = module
    else:
        module_name = getattr(definition.fn, "__module__", None) if definition is not None else None
    if module_name is None:
        raise ArgumentError(f"cannot tell which module defines workflow {workflow_type!r} (it is not registered here): pass module='your.module'")
    if module_name in ("__main__", "__mp_main__") or not _MODULE_NAME.match(module_name):
        raise ArgumentError(
            f"workflow {workflow_type!r} is defined in {module_name!r}, which a test cannot import (a notebook or a script run directly):"
            " move the workflow to a module file and pass module='that_module'"
        )
    loaded = module if isinstance(module, types.ModuleType) else sys.modules.get(module_name)
    attribute = None
    if loaded is not None:
        for key, value in vars(loaded).items():
            if isinstance(value, WorkflowDefinition) and value.name == workflow_type and key.isidentifier():
                attribute = key
                break
    return module_name, attribute


def _slug(text: str) -> str:
    slug = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_").lower()
    return slug[:80] or "run"


def _safe(text: Any) -> str:
    """Text for the generated module's docstring: no quotes, backslashes or control characters."""
    return re.sub(r"[^\w .:/@+,=-]", "_", str(text), flags=re.ASCII)[:120]


def _test_module(history: History, module: str, attribute: str | None, history_file: str, base: str) -> str:
    closing = history.events[-1].event_type.value if history.events else "no events"
    workflows = f"[{module}.{attribute}]" if attribute else f"wfkit.testing.workflows_in({module})"
    return f'''"""Regression test saved by wfkit: run {_safe(history.run_id)} of workflow {_safe(history.workflow_type)} (id {_safe(history.workflow_id)}).

Replays the recorded history ({_safe(history_file)}, {len(history)} events, last {closing}) against the
current code of `{module}`. It passes while the code issues the commands the run recorded, and fails
with wfkit.NondeterminismError (the event, the recorded command and the new one) after an
incompatible change. Guard an intended change with `wfkit.patched()`, or save the test again.
"""

from pathlib import Path

import wfkit.testing

import {module}

HISTORY = Path(__file__).with_name("{history_file}")


def test_{base}_replays() -> None:
    wfkit.testing.replay_test(HISTORY, workflows={workflows})
'''


#### The time-skipping test engine ####


class _TimeSkipper:
    """Jumps the engine's fake clock to its next deadline whenever the engine is idle."""

    def __init__(self, engine: Engine, clock: FakeClock, *, during_activities: bool) -> None:
        self.engine = engine
        self.clock = clock
        self.during_activities = during_activities
        self.skipped = 0.0
        """Seconds of fake time skipped so far."""

    async def run(self) -> None:
        while not self.engine.closed:
            count = not self.during_activities
            await self.engine.wait_idle(count_activities=count)
            due = self.clock.next_deadline()
            if due is None:
                await asyncio.sleep(0.002)  # nothing scheduled: wait for a start or a signal
                continue
            if due > self.clock.now() and self.engine.idle(count_activities=count):
                self.skipped += due - self.clock.now()
                self.clock.advance_to(due)
            await asyncio.sleep(0)


_SKIPPERS: weakref.WeakKeyDictionary[Engine, _TimeSkipper] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def engine(
    workflows: Iterable[WorkflowDefinition[Any, Any]] = (),
    activities: Iterable[ActivityDefinition[Any, Any]] = (),
    *,
    path: str | os.PathLike[str] | None = None,
    start: float | datetime.datetime = 1_800_000_000.0,
    auto_skip: bool = True,
    skip_during_activities: bool = False,
    mocks: Mapping[ActivityDefinition[Any, Any] | str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[Engine]:
    """A time-skipping test engine: a real `wfkit.Engine` on a `wfkit.FakeClock` that jumps to the next deadline
    (a durable timer, a retry's backoff, an activity or heartbeat timeout) whenever the engine is idle.

    ```python
    async with wfkit.testing.engine(workflows=[monthly_report]) as engine:
        engine.mock_activity(fetch, raises=[OSError("503"), OSError("503")], returns={"rows": 3})
        handle = await engine.start(monthly_report, "2026-11")
        assert await handle.result() == 3          # its 30-day sleep took milliseconds
    ```

    Args:
        workflows, activities: code to register with the engine (decorated code is registered already).
        path: a DuckDB file to record in (default: in memory).
        start: the fake clock's start (seconds since the epoch, or an aware datetime).
        auto_skip: jump whenever idle (False: time moves only with `await wfkit.testing.advance(engine, s)`).
            With it on, a run waiting for a signal with a timeout times out as soon as the engine is idle:
            send the signal before awaiting anything else, or use `start_signal=` / `auto_skip=False`.
        skip_during_activities: skip while activity attempts run too (by default a running attempt holds the
            clock). Then a hung attempt meets its heartbeat or start-to-close timeout at once, as in Temporal's
            time-skipping server; a slow real activity may time out too.
        mocks: `{activity: value}` to return instead of running it (`engine.mock_activity` does more).
        **options: passed to `wfkit.Engine.open` (task_queues, concurrency_limits, ...).
    """
    clock = FakeClock(start if isinstance(start, (int, float)) else start.timestamp())
    async with Engine.open(path, clock=clock, **options) as test_engine:
        test_engine.register(*workflows, *activities)
        for activity, value in (mocks or {}).items():
            test_engine.mock_activity(activity, returns=value)
        skipper = _TimeSkipper(test_engine, clock, during_activities=skip_during_activities)
        _SKIPPERS[test_engine] = skipper
        task = asyncio.get_running_loop().create_task(skipper.run(), name="wfkit-time-skipper") if auto_skip else None
        try:
            yield test_engine
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def advance(engine: Engine, seconds: float) -> None:
    """Move a test engine's clock `seconds` ahead, one deadline at a time, letting the engine finish its work
    at each (so a timer's workflow task runs before the next timer fires); returns once idle at the target."""
    clock = engine.clock
    if not isinstance(clock, FakeClock):
        raise ArgumentError("advance() needs an engine on a wfkit.FakeClock (wfkit.testing.engine(...))")
    target = clock.now() + seconds
    while True:
        await engine.wait_idle()
        due = clock.next_deadline()
        if due is None or due > target:
            clock.advance_to(target)
            await engine.wait_idle()
            return
        clock.advance_to(due)
        await asyncio.sleep(0)


def skipped(engine: Engine) -> float:
    """Seconds of fake time a test engine's auto skipping has jumped so far."""
    skipper = _SKIPPERS.get(engine)
    return skipper.skipped if skipper is not None else 0.0
