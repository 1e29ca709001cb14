"""Local activities: run in the engine, recorded as one `LocalActivity` marker, resolved from it on replay and after a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

import wfkit

REAL = Path(__file__).parents[1] / "data" / "temporal-real"

#: Where the local activities below append one line per execution (set per test): counts survive an engine restart.
COUNTER = "WFKIT_TEST_LOCAL_COUNTER"


def _count(tag: str) -> int:
    """How many times a local activity of this test ran with `tag`."""
    path = Path(os.environ[COUNTER])
    return path.read_text().split().count(tag) if path.exists() else 0


def _ran(tag: str) -> int:
    with Path(os.environ[COUNTER]).open("a") as out:
        out.write(tag + "\n")
    return _count(tag)


@wfkit.activity
async def la_lookup(key: str) -> dict[str, Any]:
    _ran(f"lookup:{key}")
    return {"key": key, "rows": len(key)}


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=4, initial_interval=0.01))
async def la_flaky(key: str) -> str:
    """Fails its first two attempts."""
    if _ran(f"flaky:{key}") < 3:
        raise ConnectionError(f"{key} is not reachable yet")
    return f"{key} ok"


@wfkit.activity
def la_broken(key: str) -> str:
    """A plain def (runs in a thread): always fails."""
    _ran(f"broken:{key}")
    raise ValueError(f"{key} has no schema")


@wfkit.activity
async def la_slow_first(key: str) -> str:
    """Blocks on its first execution (the engine closes meanwhile), returns on the next."""
    if _ran(f"slow:{key}") == 1:
        await asyncio.sleep(60)
    return key.upper()


@wfkit.activity
async def la_load(table: str, rows: int) -> int:
    return rows * 2


@wfkit.workflow
async def la_pipeline(key: str) -> dict[str, Any]:
    schema = await wfkit.execute_local_activity(la_lookup, key, start_to_close=5)
    loaded = await la_load(key, schema["rows"])  # an ordinary activity after it
    return {"schema": schema, "loaded": loaded}


@wfkit.workflow
async def la_then_signal(key: str) -> str:
    schema = await wfkit.execute_local_activity(la_lookup, key)
    approver = await wfkit.wait_signal("approve")
    return f"{schema['key']} approved by {approver}"


@wfkit.workflow
async def la_retrying(key: str) -> str:
    return await wfkit.execute_local_activity(la_flaky, key)


@wfkit.workflow
async def la_failing(key: str) -> str:
    try:
        return await wfkit.execute_local_activity(la_broken, key, retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.01))
    except wfkit.ActivityError as exc:
        return f"caught {exc.failure['type']}: {exc.failure['message']}"


@wfkit.workflow
async def la_slow(key: str) -> str:
    return await wfkit.execute_local_activity(la_slow_first, key)


@pytest.fixture(autouse=True)
def _counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COUNTER, str(tmp_path / "executions.txt"))


def _types(history: wfkit.History) -> list[str]:
    return [e.event_type.value for e in history]


def _markers(history: wfkit.History) -> list[wfkit.Event]:
    return [e for e in history if e.event_type is wfkit.EventType.MarkerRecorded]


async def test_a_local_activity_runs_once_and_is_recorded_as_one_marker(engine: wfkit.Engine) -> None:
    handle = await engine.start(la_pipeline, "orders", id="la-basic")
    assert await handle.result() == {"schema": {"key": "orders", "rows": 6}, "loaded": 12}
    assert _count("lookup:orders") == 1
    history = engine.history("la-basic")
    types = _types(history)
    assert types.count("ActivityTaskScheduled") == 1  # the ordinary activity only
    assert [e.attributes["activity_type"] for e in history if e.event_type is wfkit.EventType.ActivityTaskScheduled] == ["la_load"]
    (marker,) = _markers(history)
    attrs = marker.attributes
    assert attrs["marker_name"] == "LocalActivity"
    assert (attrs["activity_id"], attrs["activity_type"], attrs["attempt"]) == (1, "la_lookup", 1)
    data = attrs["details"]["data"][0]["data"]  # Temporal's shape: a `data` payload and a `result` payload
    assert (data["seq"], data["activity_id"], data["activity_type"], data["attempt"]) == (1, "1", "la_lookup", 1)
    assert data["complete_time"].endswith("Z")
    assert data["original_schedule_time"].endswith("Z")
    assert attrs["details"]["result"][0]["data"] == {"key": "orders", "rows": 6}
    assert "failure" not in attrs
    # The marker follows the workflow task that delivered the outcome; the code's next command follows it.
    assert types[types.index("MarkerRecorded") - 1] == "WorkflowTaskCompleted"
    assert types[types.index("MarkerRecorded") + 1] == "ActivityTaskScheduled"


async def test_replay_and_the_replay_session_resolve_it_from_the_marker(engine: wfkit.Engine) -> None:
    handle = await engine.start(la_pipeline, "orders", id="la-replay")
    await handle.result()
    history = engine.history("la-replay")
    result = wfkit.Replayer(workflows=[la_pipeline]).replay(history)
    assert result.closed
    assert result.result == {"schema": {"key": "orders", "rows": 6}, "loaded": 12}
    assert _count("lookup:orders") == 1  # replay never runs it

    session = wfkit.ReplaySession(history, workflows=[la_pipeline])
    first_task = next(e.event_id for e in history if e.event_type is wfkit.EventType.WorkflowTaskCompleted)
    snap = session.seek(first_task)
    assert [(p.kind, p.id, p.description) for p in snap.pending] == [("local activity", 1, "la_lookup")]
    assert snap.tasks[0].awaiting == "local activity la_lookup #1"
    marker = _markers(history)[0].event_id
    snap = session.seek(marker)
    assert not [p for p in snap.pending if p.kind == "local activity"]
    assert ("local_activity:la_lookup", "{'key': 'orders', 'rows': 6}") in snap.received
    snap = session.run_to(wfkit.stop_at.end())
    assert snap.finished
    assert snap.error is None
    assert session.step_back().position == len(history) - 1
    assert _count("lookup:orders") == 1


async def test_replay_with_another_local_activity_at_that_point_is_nondeterministic(engine: wfkit.Engine) -> None:
    handle = await engine.start(la_pipeline, "orders", id="la-changed")
    await handle.result()

    @wfkit.workflow(name="la_pipeline", registry=wfkit.Registry())
    async def changed(key: str) -> dict[str, Any]:
        schema = await wfkit.execute_local_activity(la_load, key, 1)
        return {"schema": schema}

    with pytest.raises(wfkit.NondeterminismError, match="la_load"):
        wfkit.Replayer(workflows=[changed]).replay(engine.history("la-changed"))


async def test_a_restart_after_the_marker_does_not_run_it_again(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        handle = await engine.start(la_then_signal, "orders", id="la-restart")
        for _ in range(1000):  # up to 10 s on a slow machine
            if "MarkerRecorded" in _types(engine.history("la-restart")):
                break
            await asyncio.sleep(0.01)
        assert "MarkerRecorded" in _types(engine.history("la-restart"))
        summary = handle.describe()
        assert (summary.activities_done, summary.activities_total) == (1, 1)  # the monitor's progress counts it
    async with wfkit.Engine.open(db_path) as engine:
        handle = engine.get_handle("la-restart")
        await handle.signal("approve", "ada")
        assert await handle.result() == "orders approved by ada"
        assert len(_markers(engine.history("la-restart"))) == 1
    assert _count("lookup:orders") == 1


async def test_a_restart_before_the_marker_runs_it_again(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        await engine.start(la_slow, "orders", id="la-cut")
        for _ in range(1000):  # up to 10 s on a slow machine
            if _count("slow:orders") == 1:
                break
            await asyncio.sleep(0.01)
        assert _count("slow:orders") == 1
    async with wfkit.Engine.open(db_path) as engine:
        assert await engine.get_handle("la-cut").result() == "ORDERS"
        history = engine.history("la-cut")
    assert _count("slow:orders") == 2  # nothing was recorded for the first execution: it ran again
    (marker,) = _markers(history)
    assert marker.attributes["attempt"] == 1
    assert not [t for t in _types(history) if t.startswith("ActivityTask")]


async def test_retries_happen_in_the_engine_and_only_the_final_attempt_is_recorded(engine: wfkit.Engine) -> None:
    handle = await engine.start(la_retrying, "crm", id="la-retry")
    assert await handle.result() == "crm ok"
    assert _count("flaky:crm") == 3
    history = engine.history("la-retry")
    (marker,) = _markers(history)
    assert marker.attributes["attempt"] == 3
    assert not [t for t in _types(history) if t.startswith("ActivityTask")]
    assert wfkit.Replayer(workflows=[la_retrying]).replay(history).result == "crm ok"


async def test_a_final_failure_raises_activity_error_in_the_workflow(engine: wfkit.Engine) -> None:
    handle = await engine.start(la_failing, "erp", id="la-fail")
    assert await handle.result() == "caught ValueError: erp has no schema"
    assert _count("broken:erp") == 2  # max_attempts=2 from the call's policy
    history = engine.history("la-fail")
    (marker,) = _markers(history)
    assert marker.attributes["attempt"] == 2
    assert marker.attributes["failure"]["type"] == "ValueError"
    assert "result" not in marker.attributes["details"]
    assert wfkit.Replayer(workflows=[la_failing]).replay(history).result == "caught ValueError: erp has no schema"
    assert _count("broken:erp") == 2


async def test_the_views_show_local_activities_as_activities(engine: wfkit.Engine) -> None:
    for key in ("orders", "customers"):
        await (await engine.start(la_pipeline, key, id=f"la-view-{key}")).result()
    await (await engine.start(la_failing, "erp", id="la-view-fail")).result()
    await (await engine.start(la_retrying, "crm", id="la-view-retry")).result()
    rows = engine.sql(
        "SELECT workflow_id, kind, activity_id, activity_type, attempt, status, final, duration_s, failure_type, result "
        "FROM activities ORDER BY workflow_id, activity_id"
    ).fetchall()
    by_type = {(r[0], r[3]): r for r in rows}
    lookup = by_type[("la-view-orders", "la_lookup")]
    assert lookup[1:7] == ("local", 1, "la_lookup", 1, "completed", True)
    assert lookup[7] is not None
    assert lookup[7] >= 0
    assert json.loads(lookup[9]) == {"key": "orders", "rows": 6}
    assert by_type[("la-view-orders", "la_load")][1:6] == ("activity", 2, "la_load", 1, "completed")
    assert by_type[("la-view-fail", "la_broken")][4:6] == (2, "failed")
    assert by_type[("la-view-fail", "la_broken")][8] == "ValueError"
    assert by_type[("la-view-retry", "la_flaky")][4:6] == (3, "completed")

    stats = {r[0]: r[1:] for r in engine.sql("SELECT activity_type, kind, activities, attempts, completed, failed, retry_rate FROM activity_stats").fetchall()}
    assert stats["la_lookup"] == ("local", 2, 2, 2, 0, 0.0)
    assert stats["la_load"][:5] == ("activity", 2, 2, 2, 0)
    assert stats["la_broken"] == ("local", 1, 2, 0, 1, 1.0)
    assert stats["la_flaky"] == ("local", 1, 3, 1, 0, 1.0)
    runs = dict(engine.sql("SELECT workflow_id, local_activity_count FROM runs").fetchall())
    assert runs["la-view-orders"] == 1


async def test_local_activity_markers_of_imported_temporal_histories_are_activities(engine: wfkit.Engine) -> None:
    await engine.import_temporal(REAL / "go" / "parallel-local-activities.json", workflow_id="go-parallel-la")
    await engine.import_temporal(REAL / "java" / "testGetHistorySize.json", workflow_id="java-la")
    rows = engine.sql("SELECT workflow_id, kind, activity_type, attempt, status FROM activities WHERE kind = 'local' ORDER BY ALL").fetchall()
    go = [r for r in rows if r[0] == "go-parallel-la"]
    java = [r for r in rows if r[0] == "java-la"]
    markers = json.loads((REAL / "go" / "parallel-local-activities.json").read_text())["events"]
    expected = sum(1 for e in markers if e.get("markerRecordedEventAttributes", {}).get("markerName") == "LocalActivity")
    assert len(go) == expected > 1
    assert {r[4] for r in go} <= {"completed", "failed"}
    assert all(r[2] for r in go)
    assert all(r[3] >= 1 for r in go)
    assert java == [("java-la", "local", "SleepActivity", 1, "completed")]
    stats = {r[0]: r[1] for r in engine.sql("SELECT activity_type, activities FROM activity_stats WHERE kind = 'local'").fetchall()}
    assert stats["SleepActivity"] == 1


async def test_timeline_and_graph_show_local_activities_as_activities(engine: wfkit.Engine) -> None:
    from wfkit.plot._timeline import attempts

    await (await engine.start(la_pipeline, "orders", id="la-plot")).result()
    await (await engine.start(la_failing, "erp", id="la-plot-fail")).result()
    history = engine.history("la-plot")
    bars = attempts(history)
    assert [(b.kind, b.lane, b.outcome) for b in bars] == [("local", "la_lookup #1 (local)", "completed"), ("activity", "la_load #2", "completed")]
    assert bars[0].duration is not None
    assert bars[0].detail[0] == "local activity"
    assert [(b.kind, b.outcome, b.attempt) for b in attempts(engine.history("la-plot-fail"))] == [("local", "failed", 2)]
    figure = wfkit.plot.timeline(history)
    assert "la_lookup #1 (local)" in {lane for trace in figure.data for lane in (trace.y or ())}

    graph = wfkit.activity_graph(history)
    assert graph.nodes["local:1"]["kind"] == "local"
    assert graph.nodes["local:1"]["label"] == "la_lookup (local)"
    assert graph.nodes["local:1"]["outcome"] == "completed"
    assert list(graph.edges) == [("local:1", "activity:2")]  # the load was scheduled once the lookup's result was in
    drawn = wfkit.plot.graph(history)
    steps = next(t for t in drawn.data if t.name == "steps")
    assert dict(zip(steps.customdata, steps.marker.symbol, strict=True)) == {"local:1": "diamond", "activity:2": "circle"}
    before = wfkit.plot.graph(history, at_event=_markers(history)[0].event_id - 1)
    assert next(t for t in before.data if t.name == "steps").marker.color[0] == "#eceff1"  # not there yet before its marker


async def test_imported_local_activities_show_on_the_timeline_and_the_graph(engine: wfkit.Engine) -> None:
    from wfkit.plot._timeline import attempts

    await engine.import_temporal(REAL / "go" / "local-activity.json", workflow_id="go-la")
    history = engine.history("go-la")
    assert [(b.kind, b.name, b.outcome) for b in attempts(history)] == [("local", "helloworldActivity", "completed")]
    assert [d["kind"] for _, d in wfkit.activity_graph(history).nodes(data=True)] == ["local"]
    wfkit.plot.timeline(history)
    wfkit.plot.graph(history)


async def test_export_temporal_writes_the_marker_as_temporal_does_and_it_imports_back(engine: wfkit.Engine, tmp_path: Path) -> None:
    from temporalio.client import WorkflowHistory

    for workflow, key in ((la_pipeline, "orders"), (la_failing, "erp")):
        await (await engine.start(workflow, key, id=f"la-export-{key}")).result()
        engine.export_temporal(f"la-export-{key}", tmp_path / f"{key}.json")
    doc = json.loads((tmp_path / "orders.json").read_text())
    WorkflowHistory.from_json("la-export-orders", doc)  # temporalio reads it
    (marker,) = [e["markerRecordedEventAttributes"] for e in doc["events"] if "markerRecordedEventAttributes" in e]
    assert marker["markerName"] == "LocalActivity"
    assert sorted(marker["details"]) == ["data", "result"]
    failed = json.loads((tmp_path / "erp.json").read_text())
    (marker,) = [e["markerRecordedEventAttributes"] for e in failed["events"] if "markerRecordedEventAttributes" in e]
    assert marker["failure"]["message"] == "erp has no schema"

    async with wfkit.Engine.open() as other:
        await other.import_temporal(tmp_path, progress=False)
        rows = other.sql("SELECT activity_type, attempt, status, failure_type FROM activities WHERE kind = 'local' ORDER BY 1").fetchall()
        assert rows == [("la_broken", 2, "failed", "ValueError"), ("la_lookup", 1, "completed", None)]
        back = other.history("la-export-orders")
    assert wfkit.Replayer(workflows=[la_pipeline]).replay(back).result == {"schema": {"key": "orders", "rows": 6}, "loaded": 12}


async def test_replay_resolves_a_marker_recorded_in_the_task_that_called_it(engine: wfkit.Engine) -> None:
    """Temporal's SDKs run a short local activity within the workflow task that calls it and record its marker
    (Core's `core_local_activity`, numbered by `seq`) before the commands the code issued after it, in that task."""
    await (await engine.start(la_pipeline, "orders", id="la-same-task")).result()
    recorded = list(engine.history("la-same-task"))
    marker = next(e for e in recorded if e.event_type is wfkit.EventType.MarkerRecorded)
    first_task_end = next(e.event_id for e in recorded if e.event_type is wfkit.EventType.WorkflowTaskCompleted)
    core_marker = {
        "marker_name": "core_local_activity",
        "details": {
            "data": [{"encoding": "json/plain", "data": {"seq": 1, "attempt": 1, "activity_id": "1", "activity_type": "la_lookup"}}],
            "result": marker.attributes["details"]["result"],
        },
    }
    # The task that called it ends at `first_task_end`; drop the task wfkit used to deliver the outcome.
    second_task = {e.event_id for e in recorded if first_task_end < e.event_id < marker.event_id}
    reordered = [*recorded[:first_task_end], dataclasses.replace(marker, attributes=core_marker)]
    reordered += [e for e in recorded[marker.event_id :] if e.event_id not in second_task]
    events = tuple(dataclasses.replace(e, event_id=i) for i, e in enumerate(reordered, start=1))
    history = wfkit.History(workflow_id="la-same-task", run_id="r-same-task", events=events)
    assert [e.event_type.value for e in events[:6]] == [
        "WorkflowExecutionStarted", "WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted", "MarkerRecorded", "ActivityTaskScheduled",
    ]  # fmt: skip
    assert wfkit.Replayer(workflows=[la_pipeline]).replay(history).result == {"schema": {"key": "orders", "rows": 6}, "loaded": 12}
    snap = wfkit.ReplaySession(history, workflows=[la_pipeline]).run_to(wfkit.stop_at.end())
    assert snap.error is None
    assert snap.finished
    assert _count("lookup:orders") == 1
