"""wfkit.testing: saved runs as regression tests (replay_test, save_test, `wfkit save-test`) and the time-skipping test engine."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import os
import re
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import wfkit
import wfkit.testing
from wfkit._definitions import default_registry
from wfkit.cli import main

ROOT = Path(__file__).resolve().parents[2]

FLOWS = """
import wfkit


@wfkit.activity
def {p}_extract(source: str) -> list[int]:
    return [1, 2, 3] if source == "a" else [4]


@wfkit.activity
def {p}_transform(rows: list[int]) -> int:
    return sum(rows)


@wfkit.activity
def {p}_load(rows: list[int]) -> int:
    return len(rows)


@wfkit.workflow
async def {p}_etl(source: str) -> int:
    rows = await {p}_extract(source)
    await wfkit.sleep(3600)
    return await {p}_transform(rows)
"""


@pytest.fixture
def flows(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """A workflow module in a file of its own (tmp_path/<name>.py), imported; names unique to the test."""
    prefix = "rt_" + request.node.name.removeprefix("test_")[:20].replace("[", "_").replace("]", "_")
    path = tmp_path / f"{prefix}_flows.py"
    path.write_text(FLOWS.format(p=prefix))
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(path.stem)
        module.PREFIX = prefix  # type: ignore[attr-defined]
        yield module
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(path.stem, None)


def workflow_of(module: ModuleType) -> wfkit.WorkflowDefinition:  # type: ignore[type-arg]
    return getattr(module, f"{module.PREFIX}_etl")  # type: ignore[no-any-return]


async def record(module: ModuleType, db: Path, workflow_id: str) -> wfkit.History:
    async with wfkit.testing.engine(path=db) as engine:
        handle = await engine.start(workflow_of(module), "a", id=workflow_id)
        assert await handle.result() == 6
        return engine.history(workflow_id)


def run_pytest(test: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    command = [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


#### Runs as regression tests ####


async def test_a_saved_run_passes_now_and_fails_after_an_incompatible_edit(flows: ModuleType, tmp_path: Path) -> None:
    async with wfkit.testing.engine(path=tmp_path / "runs.duckdb") as engine:
        handle = await engine.start(workflow_of(flows), "a", id="nightly-1")
        assert await handle.result() == 6
        saved = engine.save_test("nightly-1", tmp_path / "tests" / "regressions")
    history_path, test_path = saved
    assert history_path.name == f"nightly_1_{handle.run_id[:8]}.json"
    assert test_path.name == f"test_nightly_1_{handle.run_id[:8]}.py"
    code = test_path.read_text()
    assert f"import {flows.__name__}\n" in code
    assert f"workflows=[{flows.__name__}.{flows.PREFIX}_etl]" in code
    assert wfkit.History.from_json(history_path.read_text()).events == engine_history_events(tmp_path / "runs.duckdb", "nightly-1")

    passed = run_pytest(test_path, tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "1 passed" in passed.stdout

    # An incompatible edit: the workflow now loads instead of transforming.
    source = Path(flows.__file__ or "")
    edited = source.read_text().replace(f"return await {flows.PREFIX}_transform(rows)", f"return await {flows.PREFIX}_load(rows)")
    source.write_text(edited)
    line = next(i for i, text in enumerate(edited.splitlines(), start=1) if f"await {flows.PREFIX}_load(rows)" in text)
    failed = run_pytest(test_path, tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    out = failed.stdout
    assert "NondeterminismError" in out
    assert f"nondeterminism at event 16: history recorded ActivityTaskScheduled({flows.PREFIX}_transform)" in out
    assert f"the workflow code now issued ActivityTaskScheduled({flows.PREFIX}_load)" in out
    assert f"{source}:{line} (in {flows.PREFIX}_etl)" in out
    assert "1 failed" in out


def engine_history_events(db: Path, workflow_id: str) -> tuple[wfkit.Event, ...]:
    with wfkit.open_histories(db) as h:
        return h.history(workflow_id).events


async def test_replay_test_takes_a_history_wfkit_json_or_temporal_json(flows: ModuleType, tmp_path: Path) -> None:
    history = await record(flows, tmp_path / "runs.duckdb", "etl-1")
    etl = workflow_of(flows)
    assert wfkit.testing.replay_test(history, workflows=[etl]).result == 6

    own = tmp_path / "own.json"
    own.write_text(history.to_json())
    assert wfkit.testing.read_history(own).events == history.events
    assert wfkit.testing.replay_test(own, workflows=[etl]).closed

    temporal = tmp_path / "etl-1.temporal.json"
    wfkit.temporal.export_history(history, temporal)
    assert wfkit.testing.read_history(temporal).workflow_type == etl.name
    assert wfkit.testing.replay_test(temporal, workflows=[etl]).result == 6


async def test_replay_test_errors_name_the_event_the_commands_and_the_line(flows: ModuleType, tmp_path: Path) -> None:
    history = await record(flows, tmp_path / "runs.duckdb", "etl-2")
    prefix = flows.PREFIX

    async def changed(source: str) -> int:
        rows = await getattr(flows, f"{prefix}_extract")(source)
        return await getattr(flows, f"{prefix}_load")(rows)  # no sleep any more: a timer is missing

    other = wfkit.workflow(name=f"{prefix}_etl")(changed)
    try:
        with pytest.raises(wfkit.NondeterminismError) as caught:
            wfkit.testing.replay_test(history, workflows=[other])
        assert caught.value.event_id == 11
        assert caught.value.expected == "TimerStarted(3600.0s)"
        assert caught.value.got == f"ActivityTaskScheduled({prefix}_load)"
    finally:
        default_registry.add_workflow(workflow_of(flows))  # put the module's code back

    async def same_commands_other_result(source: str) -> int:
        rows = await getattr(flows, f"{prefix}_extract")(source)
        await wfkit.sleep(3600)
        return await getattr(flows, f"{prefix}_transform")(rows) + 1

    other = wfkit.workflow(name=f"{prefix}_etl")(same_commands_other_result)
    try:
        with pytest.raises(AssertionError, match="recorded the result 6, the code now returns 7"):
            wfkit.testing.replay_test(history, workflows=[other])
        wfkit.testing.replay_test(history, workflows=[other], check_result=False)
    finally:
        default_registry.add_workflow(workflow_of(flows))


async def test_save_test_needs_an_importable_module(flows: ModuleType, tmp_path: Path) -> None:
    async with wfkit.testing.engine() as engine:
        handle = await engine.start(workflow_of(flows), "b", id="etl-3")
        assert await handle.result() == 4
        with pytest.raises(wfkit.ArgumentError, match="move the workflow to a module file and pass module="):
            engine.save_test("etl-3", tmp_path, module="__main__")
        saved = wfkit.testing.save_test(engine, handle.run_id, tmp_path, module="some.other_module", name="custom")
        assert saved.test.name == "test_custom.py"
        assert "import some.other_module\n" in saved.test.read_text()
        assert "workflows=wfkit.testing.workflows_in(some.other_module)" in saved.test.read_text()
        with pytest.raises(FileExistsError):
            wfkit.testing.save_test(engine, handle.run_id, tmp_path, name="custom")
        assert wfkit.testing.save_test(engine, handle.run_id, tmp_path, name="custom", overwrite=True).test == saved.test


async def test_cli_save_test_writes_a_test_that_replays(flows: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "runs.duckdb"
    run_id = (await record(flows, db, "cli-etl")).run_id
    # A CLI process does not have the workflow's code: it needs --module.
    missing = subprocess.run(
        [sys.executable, "-c", "from wfkit.cli import main; main()", "save-test", "cli-etl", "--db", str(db), "--out", "regressions"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert missing.returncode == 2, missing.stderr
    assert "pass --module" in missing.stderr
    assert not (tmp_path / "regressions").exists()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["save-test", "cli-etl", "--db", str(db), "--out", "regressions", "--module", flows.__name__], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    base = f"cli_etl_{run_id[:8]}"
    assert sorted(p.name for p in (tmp_path / "regressions").iterdir()) == [f"{base}.json", f"test_{base}.py"]
    assert f"wrote regressions/{base}.json and regressions/test_{base}.py" in result.output
    namespace = runpy.run_path(str(tmp_path / "regressions" / f"test_{base}.py"))
    test = next(fn for name, fn in namespace.items() if name.startswith("test_"))
    test()  # replays the saved history against the module's code: passes


#### The time-skipping test engine ####


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=60, backoff_coefficient=2), heartbeat_timeout=3600)
async def tk_fetch(month: str) -> dict[str, int]:
    attempt = wfkit.activity_info().attempt
    wfkit.heartbeat()
    if attempt <= 2:
        raise ConnectionError(f"source unavailable (attempt {attempt})")
    return {"rows": 3, "attempt": attempt}


@wfkit.workflow
async def tk_monthly(month: str) -> dict[str, int]:
    await wfkit.sleep(30 * 86400)
    return await tk_fetch(month)


async def test_a_30_day_sleep_with_retries_and_a_heartbeat_timeout_finishes_in_under_a_second() -> None:
    started = time.perf_counter()
    async with wfkit.testing.engine(workflows=[tk_monthly]) as engine:
        handle = await engine.start(tk_monthly, "2026-11", id="monthly-2026-11")
        assert await handle.result() == {"rows": 3, "attempt": 3}
        history = engine.history("monthly-2026-11")
    wall = time.perf_counter() - started
    assert wall < 1.0, f"took {wall:.2f}s of wall time"
    assert history[-1].event_time - history[0].event_time >= 30 * 86400
    failed = [e for e in history if e.event_type is wfkit.EventType.ActivityTaskFailed]
    assert [e.attributes["next_retry_delay"] for e in failed] == [60.0, 100.0]  # backoff, capped at maximum_interval
    starts = [e.event_time for e in history if e.event_type is wfkit.EventType.ActivityTaskStarted]
    assert [round(b - a) for a, b in itertools.pairwise(starts)] == [60, 100]
    scheduled = next(e for e in history if e.event_type is wfkit.EventType.ActivityTaskScheduled)
    assert scheduled.attributes["heartbeat_timeout"] == 3600


async def test_mocked_activities_are_recorded_as_ordinary_attempts() -> None:
    async with wfkit.testing.engine() as engine:
        mock = engine.mock_activity(tk_fetch, raises=[OSError("503"), OSError("503")], returns={"rows": 9})
        handle = await engine.start(tk_monthly, "2026-10", id="mocked")
        assert await handle.result() == {"rows": 9}
        assert mock.calls == [("2026-10",)] * 3
        types = [e.event_type.value for e in engine.history("mocked") if e.event_type.value.startswith("ActivityTask")]
        assert types == ["ActivityTaskScheduled"] + ["ActivityTaskStarted", "ActivityTaskFailed"] * 2 + ["ActivityTaskStarted", "ActivityTaskCompleted"]

        engine.mock_activity(tk_fetch, raises=ValueError)
        with pytest.raises(wfkit.WorkflowFailedError):
            await (await engine.start(tk_monthly, "2026-09", id="always-fails")).result()
        last = [e for e in engine.history("always-fails") if e.event_type is wfkit.EventType.ActivityTaskFailed][-1]
        assert last.attributes["retry_state"] == "MaximumAttemptsReached"
        assert last.attributes["failure"]["message"] == "mocked tk_fetch"

        engine.mock_activity("tk_fetch", fn=lambda month: {"rows": len(month)})
        assert await (await engine.start(tk_monthly, "2026-8", id="computed")).result() == {"rows": 6}
        engine.unmock_activity(tk_fetch)
        assert (await (await engine.start(tk_monthly, "2026-7", id="real")).result())["attempt"] == 3


@wfkit.activity(heartbeat_timeout=3600, retry=wfkit.RetryPolicy(max_attempts=1))
async def tk_hangs() -> None:
    wfkit.heartbeat()
    await asyncio.Event().wait()


@wfkit.workflow
async def tk_waits_for_approval() -> str:
    try:
        return str(await wfkit.wait_signal("approve", timeout=86400))
    except TimeoutError:
        pass
    try:
        await tk_hangs()
    except wfkit.ActivityError as exc:
        return f"timed out: {exc}"
    return "finished"


async def test_signal_and_heartbeat_timeouts_skip_too() -> None:
    started = time.perf_counter()
    async with wfkit.testing.engine(skip_during_activities=True) as engine:
        handle = await engine.start(tk_waits_for_approval, id="approval")
        outcome = await handle.result()
        assert outcome.startswith("timed out"), outcome
        timeouts = [e for e in engine.history("approval") if e.event_type is wfkit.EventType.ActivityTaskTimedOut]
        assert [e.attributes["timeout_type"] for e in timeouts] == ["Heartbeat"]
        assert wfkit.testing.skipped(engine) >= 86400 + 3600
    assert time.perf_counter() - started < 1.0


async def test_without_auto_skip_time_moves_with_advance() -> None:
    async with wfkit.testing.engine(auto_skip=False) as engine:
        handle = await engine.start(tk_waits_for_approval, id="manual")
        await wfkit.testing.advance(engine, 3600)
        await handle.signal("approve", "yes")
        assert await handle.result() == "yes"
        assert wfkit.testing.skipped(engine) == 0.0
        history = engine.history("manual")
        assert round(history[-1].event_time - history[0].event_time) == 3600
        with pytest.raises(wfkit.ArgumentError):
            async with wfkit.Engine.open() as real:
                await wfkit.testing.advance(real, 1)


@wfkit.workflow
async def tk_just_hangs() -> None:
    await tk_hangs()


async def test_the_engine_is_idle_only_when_nothing_runs() -> None:
    async with wfkit.testing.engine(auto_skip=False, shutdown_grace=0) as engine:
        assert engine.idle()
        await engine.start(tk_monthly, "2026-06", id="idle")
        await engine.wait_idle(timeout=5)
        assert engine.idle()
        assert isinstance(engine.clock, wfkit.FakeClock)
        assert engine.clock.next_deadline() == pytest.approx(engine.clock.now() + 30 * 86400, abs=1)

        await engine.start(tk_just_hangs, id="hangs")
        await engine.wait_idle(timeout=5, count_activities=False)
        assert not engine.idle()  # its attempt runs
        assert engine.idle(count_activities=False)
        with pytest.raises(TimeoutError):
            await engine.wait_idle(timeout=0.05)


DOC_RUNNER = """
import ast, asyncio, json, sys

async def main() -> None:
    namespace = {"__name__": "__main__"}
    for block in json.loads(sys.argv[1]):
        result = eval(compile(block, "docs/testing.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), namespace)
        if result is not None:
            await result

asyncio.run(main())
"""


def doc_blocks(text: str, tag: str) -> list[str]:
    return re.findall(rf"<!-- doc-test: {re.escape(tag)} -->\n```python\n(.*?)```", text, flags=re.S)


def test_the_examples_in_docs_testing_md_run(tmp_path: Path) -> None:
    """The doc's examples, in a process of their own (their workflow names would replace other tests' in the registry)."""
    doc = (ROOT / "docs" / "testing.md").read_text()
    (flows,) = doc_blocks(doc, "flows.py")
    (tmp_path / "flows.py").write_text(flows)
    blocks = doc_blocks(doc, "run")
    assert len(blocks) == 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", DOC_RUNNER, json.dumps(blocks)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wfkit.testing.replay_test(HISTORY, workflows=[flows.nightly])" in done.stdout
    wall, days = re.search(r"([0-9.]+)s of wall time for ([0-9.]+) days of workflow time, 3 attempts", done.stdout).groups()  # type: ignore[union-attr]
    assert float(wall) < 1.0
    assert float(days) >= 30.0
    passed = run_pytest(tmp_path / "tests" / "regressions", tmp_path)
    assert "1 passed" in passed.stdout, passed.stdout + passed.stderr
    assert "docs/testing.md" in (ROOT / "README.md").read_text()
