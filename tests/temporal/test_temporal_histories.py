"""Temporal JSON histories: loading the golden fixtures, storing, stepping, exporting, and fuzzing the loader.

The fixtures in tests/temporal/golden/temporal/ were exported from a Temporal 1.9.1 dev server; their
README describes the workflows that produced them. The wfkit workflows below are those
workflows written with wfkit, so the recorded histories also replay against wfkit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHistory

import wfkit
import wfkit.temporal
from wfkit.temporal._export import to_temporal_json

GOLDEN = Path(__file__).parent / "golden" / "temporal"

# #### The fixtures' workflows, written with wfkit (names as in Temporal) ####

reg = wfkit.Registry()


def _rows(seed: int) -> list[dict[str, Any]]:
    return [{"id": i, "value": (seed * 31 + i) % 97, "name": f"row-{i}"} for i in range(100)]


@wfkit.activity(name="extract", registry=reg)
async def extract(batch: int) -> dict[str, Any]:
    rows = _rows(batch)
    return {"batch": batch, "n": len(rows), "sum": sum(r["value"] for r in rows)}


@wfkit.activity(name="transform", registry=reg)
async def transform(data: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("replay never runs activities")


@wfkit.activity(name="load", registry=reg)
async def load(data: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError("replay never runs activities")


@wfkit.activity(name="flaky", registry=reg)
async def flaky(name: str) -> str:
    raise AssertionError("replay never runs activities")


@wfkit.activity(name="always_fails", registry=reg)
async def always_fails(name: str) -> str:
    raise AssertionError("replay never runs activities")


@wfkit.activity(name="step", registry=reg)
async def step(i: int) -> int:
    return i + 1


@wfkit.workflow(name="EtlWorkflow", registry=reg)
async def etl_workflow(batch: int) -> dict[str, Any]:
    e = await extract(batch)
    t = await transform(e)
    return await load(t)


@wfkit.workflow(name="RetryWorkflow", registry=reg)
async def retry_workflow(name: str) -> str:
    return await wfkit.execute_activity(flaky, name, retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.1))


@wfkit.workflow(name="FailingWorkflow", registry=reg)
async def failing_workflow(name: str) -> str:
    return await wfkit.execute_activity(always_fails, name, retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.1))


@wfkit.workflow(name="TimerWorkflow", registry=reg)
async def timer_workflow(batch: int) -> dict[str, Any]:
    e = await extract(batch)
    await wfkit.sleep(1)
    return await load(e)


@wfkit.workflow(name="SignalWorkflow", registry=reg)
async def signal_workflow() -> dict[str, Any]:
    payload = await wfkit.wait_signal("submit")
    return await extract(payload["batch"])


@wfkit.workflow(name="FanOutWorkflow", registry=reg)
async def fan_out_workflow(n: int) -> list[Any]:
    return list(await asyncio.gather(*(extract(i) for i in range(n))))


@wfkit.workflow(name="ParentWorkflow", registry=reg)
async def parent_workflow(batch: int) -> dict[str, Any]:
    child = await wfkit.execute_child(etl_workflow, batch, id=f"{wfkit.info().workflow_id}-child")
    return {"child_result": child}


@wfkit.workflow(name="SequentialWorkflow", registry=reg)
async def sequential_workflow(n: int) -> int:
    acc = 0
    for _ in range(n):
        acc = await step(acc)
    return acc


FIXTURE_WORKFLOWS = [etl_workflow, retry_workflow, failing_workflow, timer_workflow, signal_workflow, fan_out_workflow, parent_workflow, sequential_workflow]

# #### What the README says about each fixture ####

EXPECTED: dict[str, dict[str, Any]] = {
    "01_etl_success": {
        "workflow_id": "fx-01-etl-success", "workflow_type": "EtlWorkflow", "status": "Completed", "events": 23,
        "activities": [("extract", "completed", 1), ("transform", "completed", 1), ("load", "completed", 1)],
        "timers": [], "signals": [], "result": {"batch": 1, "checksum": 14454, "loaded": 100},
    },
    "02_activity_retry_then_success": {
        "workflow_id": "fx-02-activity-retry", "workflow_type": "RetryWorkflow", "status": "Completed", "events": 11,
        "activities": [("flaky", "completed", 3)], "timers": [], "signals": [], "result": "flaky: ok on attempt 3",
    },
    "03_activity_fails_workflow_failed": {
        "workflow_id": "fx-03-activity-fails", "workflow_type": "FailingWorkflow", "status": "Failed", "events": 11,
        "activities": [("always_fails", "failed", 2)], "timers": [], "signals": [], "result": None,
    },
    "04_durable_timer": {
        "workflow_id": "fx-04-timer", "workflow_type": "TimerWorkflow", "status": "Completed", "events": 22,
        "activities": [("extract", "completed", 1), ("load", "completed", 1)], "timers": [(1.0, "fired")], "signals": [],
        "result": {"batch": 4, "checksum": 9690, "loaded": 100},
    },
    "05_signal_with_payload": {
        "workflow_id": "fx-05-signal", "workflow_type": "SignalWorkflow", "status": "Completed", "events": 15,
        "activities": [("extract", "completed", 1)], "timers": [], "signals": [("submit", {"batch": 5, "note": "hello from signal"})],
        "result": {"batch": 5, "n": 100, "sum": 4833},
    },
    "06_parallel_fanout_5": {
        "workflow_id": "fx-06-fanout", "workflow_type": "FanOutWorkflow", "status": "Completed", "events": 23,
        "activities": [("extract", "completed", 1)] * 5, "timers": [], "signals": [],
        "result": [{"batch": 0, "n": 100, "sum": 4659}, {"batch": 1, "n": 100, "sum": 4752}, {"batch": 2, "n": 100, "sum": 4845},
                   {"batch": 3, "n": 100, "sum": 4938}, {"batch": 4, "n": 100, "sum": 4740}],
    },
    "07_child_workflow_parent": {
        "workflow_id": "fx-07-parent", "workflow_type": "ParentWorkflow", "status": "Completed", "events": 14,
        "activities": [], "timers": [], "signals": [], "children": [("EtlWorkflow", "fx-07-parent-child", "completed")],
        "result": {"child_result": {"batch": 7, "checksum": 14406, "loaded": 100}},
    },
    "07_child_workflow_child": {
        "workflow_id": "fx-07-parent-child", "workflow_type": "EtlWorkflow", "status": "Completed", "events": 23,
        "activities": [("extract", "completed", 1), ("transform", "completed", 1), ("load", "completed", 1)], "timers": [], "signals": [],
        "result": {"batch": 7, "checksum": 14406, "loaded": 100}, "parent": "fx-07-parent",
    },
    "13_sequential_1000_activities": {
        "workflow_id": "fx-13-sequential-1000", "workflow_type": "SequentialWorkflow", "status": "Completed", "events": 6005,
        "activities": [("step", "completed", 1)] * 1000, "timers": [], "signals": [], "result": 1000,
    },
}  # fmt: skip

FILES = sorted(p for p in GOLDEN.iterdir() if p.name.endswith((".json", ".json.gz")))


def _scenario(path: Path) -> str:
    return path.name.split(".")[0]


def _raw(path: Path) -> Any:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.name.endswith(".gz") else data)


def _outcomes(history: wfkit.History) -> dict[str, Any]:
    """Activity, timer, signal and child facts of a history, read from wfkit's attributes."""
    E = wfkit.EventType
    activities: dict[int, list[Any]] = {}
    timers: dict[int, list[Any]] = {}
    signals, children = [], {}
    for e in history:
        a = e.attributes
        if e.event_type is E.ActivityTaskScheduled:
            activities[a["activity_id"]] = [a["activity_type"], "scheduled", 0]
        elif e.event_type is E.ActivityTaskStarted:
            activities[a["activity_id"]][2] = a["attempt"]
        elif e.event_type in (E.ActivityTaskCompleted, E.ActivityTaskFailed, E.ActivityTaskTimedOut):
            activities[a["activity_id"]][1] = {"ActivityTaskCompleted": "completed", "ActivityTaskFailed": "failed"}.get(e.event_type.value, "timed_out")
            assert a["attempt"] == activities[a["activity_id"]][2]
        elif e.event_type is E.TimerStarted:
            timers[a["timer_id"]] = [a["duration"], "started"]
        elif e.event_type is E.TimerFired:
            timers[a["timer_id"]][1] = "fired"
        elif e.event_type is E.WorkflowExecutionSignaled:
            signals.append((a["signal_name"], a["input"]["data"]))
        elif e.event_type is E.StartChildWorkflowExecutionInitiated:
            children[a["child_id"]] = [a["workflow_type"], a["workflow_id"], "initiated"]
        elif e.event_type is E.ChildWorkflowExecutionCompleted:
            children[a["child_id"]][2] = "completed"
    return {
        "activities": [tuple(v) for v in activities.values()],
        "timers": [tuple(v) for v in timers.values()],
        "signals": signals,
        "children": [tuple(v) for v in children.values()],
    }


# #### Every fixture imports and matches its README ####


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_loads_and_matches_its_workflow(path: Path) -> None:
    expected = EXPECTED[_scenario(path)]
    history = wfkit.temporal.load_history(path)
    assert history.workflow_id == expected["workflow_id"]
    assert history.workflow_type == expected["workflow_type"]
    assert len(history) == expected["events"] == len(_raw(path)["events"])
    assert [e.event_id for e in history] == list(range(1, len(history) + 1))
    facts = _outcomes(history)
    assert facts["activities"] == expected["activities"]
    assert facts["timers"] == expected["timers"]
    assert facts["signals"] == expected["signals"]
    assert facts["children"] == expected.get("children", [])
    last = history[-1]
    if expected["status"] == "Completed":
        assert last.event_type is wfkit.EventType.WorkflowExecutionCompleted
        assert last.attributes["result"]["data"] == expected["result"]
    else:
        assert last.event_type is wfkit.EventType.WorkflowExecutionFailed
        failure = last.attributes["failure"]
        assert failure["type"] == "ActivityError"
        assert failure["cause"]["type"] == "BadData"
        assert failure["cause"]["message"] == "bad: permanent failure (attempt 2)"
    if "parent" in expected:
        assert history[0].attributes["parent_workflow_id"] == expected["parent"]
    # Nothing is lost: every event keeps its Temporal original.
    for event, raw in zip(history, _raw(path)["events"], strict=True):
        assert event.attributes["temporal"]["eventTime"] == raw["eventTime"]
        assert event.attributes["temporal"]["taskId"] == raw["taskId"]


def test_retry_fixture_keeps_attempts_and_the_last_failure() -> None:
    history = wfkit.temporal.load_history(GOLDEN / "02_activity_retry_then_success.sdk.json")
    started = next(e for e in history if e.event_type is wfkit.EventType.ActivityTaskStarted)
    assert started.attempt == 3
    assert started.attributes["last_failure"]["type"] == "Transient"
    assert started.attributes["last_failure"]["message"] == "transient failure on attempt 2"
    scheduled = next(e for e in history if e.event_type is wfkit.EventType.ActivityTaskScheduled)
    assert scheduled.attributes["retry_policy"] == {
        "max_attempts": 3, "initial_interval": 0.1, "backoff_coefficient": 2.0, "maximum_interval": 10.0, "non_retryable_error_types": [],
    }  # fmt: skip
    assert scheduled.attributes["start_to_close"] == 30.0
    failed = wfkit.temporal.load_history(GOLDEN / "03_activity_fails_workflow_failed.cli.json")
    end = next(e for e in failed if e.event_type is wfkit.EventType.ActivityTaskFailed)
    assert (end.attempt, end.attributes["retry_state"], end.attributes["failure"]["type"]) == (2, "MaximumAttemptsReached", "BadData")


@pytest.mark.parametrize("scenario", ["01_etl_success", "05_signal_with_payload"])
def test_legacy_sdk_and_cli_dialects_load_to_the_same_events(scenario: str) -> None:
    sdk = wfkit.temporal.load_history(GOLDEN / f"{scenario}.sdk.json")
    cli = wfkit.temporal.load_history(GOLDEN / f"{scenario}.cli.json")
    legacy = wfkit.temporal.load_history(GOLDEN / f"{scenario}.legacy.json")
    assert sdk.events == cli.events == legacy.events


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_replays_against_the_same_workflow_written_with_wfkit(path: Path) -> None:
    expected = EXPECTED[_scenario(path)]
    history = wfkit.temporal.load_history(path)
    result = wfkit.Replayer(workflows=FIXTURE_WORKFLOWS).replay(history)
    assert result.closed
    if expected["status"] == "Completed":
        assert result.result == expected["result"]
    else:
        assert result.failure is not None
        assert result.failure["type"] == "ActivityError"


@pytest.mark.parametrize("path", [p for p in FILES if not p.name.startswith("13_")], ids=lambda p: p.name)
def test_the_stepper_walks_each_fixture_end_to_end(path: Path) -> None:
    session_type = getattr(wfkit, "ReplaySession", None)
    history = wfkit.temporal.load_history(path)
    if session_type is None:  # the stepper lives in another module of the debugger work
        pytest.skip("wfkit.ReplaySession is not available in this tree")
    session = session_type(history, workflows=FIXTURE_WORKFLOWS)
    positions = []
    while True:
        snapshot = session.step()
        positions.append(snapshot.position)
        assert snapshot.error is None, snapshot.error
        if snapshot.position == len(history):
            break
    assert positions == list(range(1, len(history) + 1))
    assert snapshot.finished


def test_export_of_an_imported_history_gives_back_the_original() -> None:
    for path in FILES:
        if "legacy" in path.name:
            continue
        assert to_temporal_json(wfkit.temporal.load_history(path)) == _raw(path), path.name
    # The legacy dialect comes back in today's spelling, the same document as the SDK's.
    assert to_temporal_json(wfkit.temporal.load_history(GOLDEN / "01_etl_success.legacy.json")) == _raw(GOLDEN / "01_etl_success.sdk.json")


def test_payload_encodings() -> None:
    doc = _raw(GOLDEN / "01_etl_success.sdk.json")
    started = doc["events"][0]["workflowExecutionStartedEventAttributes"]
    b64 = lambda text: __import__("base64").b64encode(text.encode() if isinstance(text, str) else text).decode()  # noqa: E731
    started["input"]["payloads"] = [
        {"metadata": {"encoding": b64("binary/null")}},
        {"metadata": {"encoding": b64("binary/plain")}, "data": b64(b"\x00\xffraw")},
        {"metadata": {"encoding": b64("json/protobuf"), "messageType": b64("temporal.api.common.v1.Payload")}, "data": b64('{"a": 1}')},
        {"metadata": {"encoding": b64("binary/encrypted"), "key-id": b64(b"\xff\x00")}, "data": b64(b"secret")},
    ]
    history = wfkit.temporal.load_history(doc)
    null, binary, proto, unknown = history[0].attributes["input"]
    converter = wfkit.JsonConverter()
    assert converter.from_payload(null) is None
    assert converter.from_payload(binary, bytes) == b"\x00\xffraw"
    assert converter.from_payload(proto) == {"a": 1}
    assert proto["metadata"]["messageType"] == "temporal.api.common.v1.Payload"
    assert unknown["encoding"] == "binary/encrypted"
    assert unknown["data"] == b64(b"secret")
    assert unknown["metadata"]["key-id"] == {"base64": b64(b"\xff\x00")}


def test_unknown_event_types_and_attributes_are_kept_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    doc = _raw(GOLDEN / "04_durable_timer.sdk.json")
    n = len(doc["events"])
    doc["events"][4]["activityTaskScheduledEventAttributes"]["brandNewSetting"] = {"x": 1}
    doc["events"].append({"eventId": str(n + 1), "eventTime": "2026-11-27T17:00:30Z", "eventType": "EVENT_TYPE_FROM_THE_FUTURE",
                          "fromTheFutureEventAttributes": {"hello": "world"}})  # fmt: skip
    doc["events"].append({"eventId": str(n + 2), "eventTime": "2026-11-27T17:00:31Z", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED",
                          "workflowExecutionOptionsUpdatedEventAttributes": {"identity": "ops"}})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="wfkit.temporal"):
        history = wfkit.temporal.load_history(copy.deepcopy(doc), workflow_id="x")
        history_again = wfkit.temporal.load_history(copy.deepcopy(doc))
    warnings_ = [r for r in caplog.records if "does not know" in r.getMessage()]
    assert len(warnings_) == 1
    message = warnings_[0].getMessage()
    assert "FromTheFuture" in message
    assert "ActivityTaskScheduled.brandNewSetting" in message
    assert "WorkflowExecutionOptionsUpdated" not in message  # one of Temporal's types: known, typed
    future = history[n]
    assert future.event_type is wfkit.EventType("FromTheFuture")  # its own type, never relabelled
    assert future.event_type.value == "FromTheFuture"
    assert not future.event_type.is_known
    assert future.attributes["temporal"]["attributes"] == {"hello": "world"}
    assert history[n + 1].event_type is wfkit.EventType.WorkflowExecutionOptionsUpdated
    assert history[4].attributes["temporal"]["attributes"]["brandNewSetting"] == {"x": 1}
    assert to_temporal_json(history_again) == doc


# #### Malformed input ####


START = "workflowExecutionStartedEventAttributes"
SCHEDULED = "activityTaskScheduledEventAttributes"
MALFORMED = [
    (lambda d: d["events"][4].pop(SCHEDULED), "$.events[4]", SCHEDULED),
    (
        lambda d: d["events"][5]["activityTaskStartedEventAttributes"].update(scheduledEventId="9"),
        "$.events[5].activityTaskStartedEventAttributes.scheduledEventId",
        "not an earlier ActivityTaskScheduled",
    ),
    (lambda d: d["events"][2].update(eventId="7"), "$.events[2].eventId", "without gaps"),
    (lambda d: d["events"][6].update(eventTime="yesterday"), "$.events[6].eventTime", "RFC 3339"),
    (lambda d: d["events"][0][START]["input"]["payloads"][0].update(data="!!"), f"$.events[0].{START}.input.payloads[0].data", "base64"),
    (lambda d: d["events"][4][SCHEDULED].update(startToCloseTimeout="soon"), f"$.events[4].{SCHEDULED}.startToCloseTimeout", "duration"),
    (lambda d: d.update(events={}), "$.events", "list of events"),
]


@pytest.mark.parametrize(("mutate", "path", "words"), MALFORMED)
def test_malformed_history_names_the_file_and_the_json_path(tmp_path: Path, mutate: Any, path: str, words: str) -> None:
    doc = _raw(GOLDEN / "01_etl_success.sdk.json")
    mutate(doc)
    target = tmp_path / "bad.json"
    target.write_text(json.dumps(doc))
    with pytest.raises(wfkit.HistoryFormatError) as info:
        wfkit.temporal.load_history(target)
    assert info.value.file == str(target)
    assert info.value.json_path == path
    assert words in str(info.value)
    assert str(target) in str(info.value)


def test_not_json_at_all(tmp_path: Path) -> None:
    target = tmp_path / "broken.json"
    target.write_text('{"events": [')
    with pytest.raises(wfkit.HistoryFormatError, match=r"broken\.json: at \$: the history is not valid JSON"):
        wfkit.temporal.load_history(target)


# #### Storing in DuckDB ####


async def test_import_a_directory_with_a_bad_file(engine: wfkit.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for path in FILES:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "zz_bad.json").write_text('{"events": [{"eventId": "1"}]}')
    report = await engine.import_temporal(folder, progress=False)
    assert list(report.errors) == [str(folder / "zz_bad.json")]
    error = report.errors[str(folder / "zz_bad.json")]
    assert isinstance(error, wfkit.HistoryFormatError)
    assert error.json_path == "$.events[0]"
    assert len(report.imported) == 9  # 20 files, 9 distinct runs (the dialects of one run are one run)
    assert report.events == sum(e["events"] for e in EXPECTED.values())
    rows = engine.sql("select workflow_id, workflow_type, status, history_length from workflows order by workflow_id").fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == sorted((e["workflow_id"], e["workflow_type"], e["status"], e["events"]) for e in EXPECTED.values())
    counts = dict(
        engine.sql("select workflow_id, count(*) from events join workflows using (run_id) where event_type = 'ActivityTaskScheduled' group by 1").fetchall()
    )
    assert counts == {e["workflow_id"]: len(e["activities"]) for e in EXPECTED.values() if e["activities"]}
    retried = engine.sql(
        "select activity_type, attempt, attributes->>'$.last_failure.message' from events where event_type = 'ActivityTaskStarted' and attempt > 1"
    ).fetchall()
    assert retried == [("flaky", 3, "transient failure on attempt 2"), ("always_fails", 2, "bad: permanent failure (attempt 1)")] or sorted(retried) == sorted(
        [("flaky", 3, "transient failure on attempt 2"), ("always_fails", 2, "bad: permanent failure (attempt 1)")]
    )
    # The stored history is the loaded one, and importing again adds nothing.
    stored = engine.history("fx-04-timer")
    assert stored.events == wfkit.temporal.load_history(GOLDEN / "04_durable_timer.sdk.json").events
    again = await engine.import_temporal(folder / "04_durable_timer.cli.json", progress=False)
    assert again.imported == []
    assert again.unchanged == [stored.run_id]


async def test_imported_runs_are_not_resumed_by_the_engine(db_path: Path) -> None:
    doc = _raw(GOLDEN / "05_signal_with_payload.sdk.json")
    doc["events"] = doc["events"][:8]  # still waiting, as if exported mid-run
    partial = db_path.parent / "open.json"
    partial.write_text(json.dumps(doc))
    async with wfkit.Engine.open(db_path) as engine:
        report = await engine.import_temporal(partial, progress=False)
        assert report.ok
        assert engine.sql("select status from workflows").fetchall() == [(wfkit.temporal.RUNNING_ON_TEMPORAL,)]
        # Later the run goes on: the next import appends only the new events.
        report = await engine.import_temporal(GOLDEN / "05_signal_with_payload.sdk.json", progress=False)
        assert report.events == 15 - 8
    async with wfkit.Engine.open(db_path) as engine:
        assert engine.waiting_for_code() == []
        assert engine.blocked_runs() == []
        assert engine.sql("select status, history_length from workflows").fetchall() == [("Completed", 15)]


# #### Export of wfkit's own runs ####

calls: dict[str, int] = {}


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=4, initial_interval=0.01), start_to_close=5)
async def sometimes(key: str) -> str:
    calls[key] = calls.get(key, 0) + 1
    if calls[key] < 3:
        raise ValueError(f"attempt {calls[key]} failed")
    return f"{key} ok"


@wfkit.workflow
async def export_me(key: str) -> dict[str, Any]:
    lucky = wfkit.random().randint(1, 1000)
    first = await sometimes(key)
    await wfkit.sleep(0.01)
    if wfkit.patched("v2"):
        first += "!"
    signal = await wfkit.wait_signal("go", timeout=30)
    return {"first": first, "signal": signal, "lucky": lucky}


async def test_export_folds_attempts_and_loads_in_temporalio(engine: wfkit.Engine, tmp_path: Path) -> None:
    handle = await engine.start(export_me, "k1", id="export-1")
    await asyncio.sleep(0.3)
    await handle.signal("go", {"n": 1})
    result = await handle.result()
    assert {k: result[k] for k in ("first", "signal")} == {"first": "k1 ok!", "signal": {"n": 1}}
    native = engine.history("export-1")
    assert sum(e.event_type is wfkit.EventType.ActivityTaskStarted for e in native) == 3
    path = engine.export_temporal(handle.run_id, tmp_path / "export-1.json")
    doc = json.loads(Path(path).read_text())
    parsed = WorkflowHistory.from_json("export-1", doc)
    assert len(parsed.events) == len(doc["events"]) == len(native) - 4  # two retried failures, two earlier starts
    types = [e["eventType"] for e in doc["events"]]
    assert types.count("EVENT_TYPE_ACTIVITY_TASK_STARTED") == 1
    assert "EVENT_TYPE_ACTIVITY_TASK_FAILED" not in types
    assert [int(e["eventId"]) for e in doc["events"]] == list(range(1, len(types) + 1))
    started = next(e for e in doc["events"] if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED")["activityTaskStartedEventAttributes"]
    assert started["attempt"] == 3
    assert started["lastFailure"]["message"] == "attempt 2 failed"
    completed = next(e for e in doc["events"] if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED")
    started_id = next(e["eventId"] for e in doc["events"] if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED")
    assert completed["activityTaskCompletedEventAttributes"]["startedEventId"] == started_id
    # Reading the export back gives a history the same code replays.
    back = wfkit.temporal.load_history(path)
    assert wfkit.Replayer(workflows=[export_me]).replay(back).result == result  # the same random draw too
    # A workflow id names its latest run too.
    assert json.loads(Path(engine.export_temporal("export-1", tmp_path / "again.json")).read_text()) == doc


# #### Fuzz: a mutated history either loads correctly or fails with HistoryFormatError ####

FUZZ_BASES = [
    _raw(GOLDEN / name)
    for name in (
        "01_etl_success.sdk.json",
        "02_activity_retry_then_success.cli.json",
        "05_signal_with_payload.legacy.json",
        "07_child_workflow_parent.sdk.json",
    )
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=12)
    | st.sampled_from(["EVENT_TYPE_TIMER_FIRED", "ActivityTaskCompleted", "5", "0s", "1.5s", "anNvbi9wbGFpbg==", "2026-11-27T17:00:20Z", "-3"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)  # fmt: skip


@st.composite
def mutated_history(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(FUZZ_BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(json_values)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "swap"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif action == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], parent[key]
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_history())
def test_fuzz_load_history_on_mutated_fixtures(doc: Any) -> None:
    source = doc if isinstance(doc, (dict, list)) else json.dumps(doc)  # a bare string would name a file
    try:
        history = wfkit.temporal.load_history(source, workflow_id="fuzz")
    except wfkit.HistoryFormatError as exc:
        error: wfkit.HistoryFormatError | None = exc
    else:
        error = None
    if error is not None:
        assert error.json_path.startswith("$")
        return
    events = doc["events"] if isinstance(doc, dict) else doc
    assert len(history) == len(events)
    assert [e.event_id for e in history] == list(range(1, len(history) + 1))
    assert all(isinstance(e.event_type, wfkit.EventType) and "temporal" in e.attributes for e in history)
    json.dumps([e.attributes for e in history], allow_nan=False)  # storable as DuckDB JSON


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_load_history_on_damaged_bytes(data: st.DataObject) -> None:
    text = bytearray((GOLDEN / "04_durable_timer.cli.json").read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        index = data.draw(st.integers(0, len(text) - 1))
        text[index] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del text[data.draw(st.integers(0, len(text) - 1)) :]
    with contextlib.suppress(wfkit.HistoryFormatError):
        wfkit.temporal.load_history(bytes(text))


def test_loading_histories_does_not_import_temporalio() -> None:
    code = (
        "import sys, wfkit, wfkit.temporal;"
        f"wfkit.temporal.load_history({str(GOLDEN / '01_etl_success.sdk.json')!r});"
        "print('temporalio' in sys.modules, 'wfkit.temporal' in sys.modules)"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
    plain = subprocess.run([sys.executable, "-c", "import sys, wfkit; print('wfkit.temporal' in sys.modules)"], capture_output=True, text=True, check=True)
    assert plain.stdout.strip() == "False"
