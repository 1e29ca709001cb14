"""Temporal's whole event vocabulary in `wfkit.EventType`, and an importer that is robust on any file (issue 12)."""

from __future__ import annotations

import copy
import gc
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import event_type_pb2

import wfkit
import wfkit.temporal
from wfkit.temporal._export import to_temporal_json

GOLDEN = Path(__file__).parent / "golden" / "temporal"
E = wfkit.EventType
START = "workflowExecutionStartedEventAttributes"
SCHEDULED = "activityTaskScheduledEventAttributes"
STARTED = "activityTaskStartedEventAttributes"


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_at_the_end() -> Iterator[None]:
    """Finalize what these tests leave (engines, plots, event loops) here, not inside a later test's `ast.parse`.

    Python 3.11's AST builder keeps one recursion counter per interpreter: a garbage collection in
    the middle of `ast.parse` that runs a finalizer which formats a traceback (which parses source
    again, for its carets) leaves it off, and `ast.parse` raises SystemError ("AST constructor
    recursion depth mismatch"), as tests/unit/test_architecture.py did after this module.
    """
    yield
    with warnings.catch_warnings():  # what earlier modules leaked warns as it goes: theirs, not these tests'
        warnings.simplefilter("ignore")
        gc.collect()


def _doc(name: str = "02_activity_retry_then_success.sdk.json") -> Any:
    return json.loads((GOLDEN / name).read_text())


def _pascal(screaming: str) -> str:
    return "".join(word.capitalize() for word in screaming.removeprefix("EVENT_TYPE_").split("_"))


def _append(doc: Any, event_type: str, attributes: dict[str, Any]) -> dict[str, Any]:
    pascal = _pascal(event_type)
    event = {
        "eventId": str(len(doc["events"]) + 1),
        "eventTime": "2026-11-27T17:00:40Z",
        "eventType": event_type,
        pascal[:1].lower() + pascal[1:] + "EventAttributes": attributes,
    }
    doc["events"].append(event)
    return event


def test_every_temporal_event_type_is_a_wfkit_event_type() -> None:
    temporal = {_pascal(name) for name, number in event_type_pb2.EventType.items() if number}
    assert temporal <= {t.value for t in E}
    assert all(t.is_known for t in E)
    assert len(temporal) == len(E)


def test_unknown_type_is_a_pseudo_member_that_keeps_its_name() -> None:
    future = E("FromTheFuture")
    assert future is E("FromTheFuture")
    assert future.value == "FromTheFuture"
    assert not future.is_known
    assert future not in list(E)
    with pytest.raises(ValueError, match="not a valid EventType"):
        E("not a name")
    with pytest.raises(ValueError, match="not a valid EventType"):
        E("Damaged")  # one word: what a damaged store holds, not a Temporal type
    assert E.of_name("Lonely").value == "Lonely"  # what an imported file says is kept all the same
    with pytest.raises(ValueError, match="not a valid EventType"):
        E.of_name("lower case")


def test_imported_events_keep_their_own_type_and_id() -> None:
    doc = _doc("04_durable_timer.sdk.json")
    closing = doc["events"].pop()  # WorkflowExecutionCompleted: appended back as a timeout
    assert closing["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    _append(doc, "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED", {"taskQueue": {"name": "q"}, "attempt": 2})
    _append(doc, "EVENT_TYPE_WORKFLOW_TASK_STARTED", {"scheduledEventId": str(len(doc["events"]))})
    _append(doc, "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT", {"scheduledEventId": "1", "startedEventId": "2", "timeoutType": "TIMEOUT_TYPE_START_TO_CLOSE"})
    _append(
        doc,
        "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        {"searchAttributes": {"indexedFields": {"Color": {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "InJlZCI="}}}},
    )
    _append(doc, "EVENT_TYPE_NEXUS_OPERATION_SCHEDULED", {"endpoint": "ep", "service": "svc", "operation": "op"})
    _append(doc, "EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT", {"retryState": "RETRY_STATE_TIMEOUT"})
    history = wfkit.temporal.load_history(copy.deepcopy(doc))
    types = [e.event_type for e in history]
    assert types[-4:] == [E.WorkflowTaskTimedOut, E.UpsertWorkflowSearchAttributes, E.NexusOperationScheduled, E.WorkflowExecutionTimedOut]
    assert [e.event_id for e in history] == [int(e["eventId"]) for e in doc["events"]]
    assert [e.event_type.value for e in history] == [_pascal(e["eventType"]) for e in doc["events"]]
    assert history[-3].attributes["search_attributes"] == {"Color": "red"}
    assert history[-2].attributes["service"] == "svc"
    assert history[-1].attributes["retry_state"] == "Timeout"
    assert to_temporal_json(history) == doc  # lossless
    loaded = wfkit.temporal._load.load(copy.deepcopy(doc))
    assert loaded.status == "TimedOut"


def test_history_response_shape_snake_case_and_enum_numbers() -> None:
    doc = _doc()
    expected = [(e.event_id, e.event_type, e.attributes.get("activity_id")) for e in wfkit.temporal.load_history(copy.deepcopy(doc))]

    def snake(value: Any, rename: bool = True) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, child in value.items():
                name = "".join("_" + c.lower() if c.isupper() else c for c in key) if rename else key
                out[name] = snake(child, rename and key not in ("fields", "indexedFields", "metadata", "details", "header"))
            return out
        if isinstance(value, list):
            return [snake(v, rename) for v in value]
        return value

    snaked = snake(doc)
    assert "event_id" in snaked["events"][0]
    assert "workflow_execution_started_event_attributes" in snaked["events"][0]
    wrapped = {"history": copy.deepcopy(doc)}
    numbered = copy.deepcopy(doc)
    for event in numbered["events"]:
        event["eventType"] = event_type_pb2.EventType.Value(event["eventType"])
    for variant in (snaked, wrapped, numbered):
        history = wfkit.temporal.load_history(variant)
        assert [(e.event_id, e.event_type, e.attributes.get("activity_id")) for e in history] == expected


def test_run_id_and_workflow_id_for_files_that_lack_them(caplog: pytest.LogCaptureFixture) -> None:
    doc = _doc()
    start = doc["events"][0][START]
    for key in ("originalExecutionRunId", "firstExecutionRunId", "workflowId"):
        start.pop(key, None)
    given = wfkit.temporal.load_history(copy.deepcopy(doc), run_id="r-1", workflow_id="w-1")
    assert (given.run_id, given.workflow_id) == ("r-1", "w-1")
    assert given[0].attributes["workflow_id"] == "w-1"  # the views read it from the start event
    with caplog.at_level(logging.WARNING, logger="wfkit.temporal"):
        made_up = wfkit.temporal.load_history(copy.deepcopy(doc))
    assert made_up.run_id == wfkit.temporal.load_history(copy.deepcopy(doc)).run_id  # stable: a re-import finds the run
    assert any("names no run id" in r.getMessage() for r in caplog.records)


def test_a_json_plain_payload_that_is_not_json_is_kept_as_raw_bytes(caplog: pytest.LogCaptureFixture) -> None:
    doc = _doc()
    payload = doc["events"][0][START]["input"]["payloads"][0]
    payload["data"] = "bm90IGpzb24gey"  # "not json {" (no padding)
    with caplog.at_level(logging.WARNING, logger="wfkit.temporal"):
        history = wfkit.temporal.load_history(copy.deepcopy(doc))
    kept = history[0].attributes["input"][0]
    assert kept["encoding"] == "binary/invalid-json"
    assert kept["metadata"]["encoding"] == "json/plain"
    assert any("kept as raw bytes" in r.getMessage() and ".input.payloads[0].data" in r.getMessage() for r in caplog.records)
    assert to_temporal_json(history)["events"][0][START]["input"]["payloads"][0]["data"] == payload["data"]


def dumps_flat(value: Any) -> str:
    """`json.dumps` without recursion (the test's own writing must not hit the limit it tests)."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item.text)
        elif isinstance(item, dict):
            stack.append(_Token("}"))
            for index, (key, child) in enumerate(reversed(list(item.items()))):
                stack.append(child)
                stack.append(_Token(json.dumps(key) + ":" if index == len(item) - 1 else "," + json.dumps(key) + ":"))
            stack.append(_Token("{"))
        elif isinstance(item, list):
            stack.append(_Token("]"))
            for index, child in enumerate(reversed(item)):
                stack.append(child)
                if index != len(item) - 1:
                    stack.append(_Token(","))
            stack.append(_Token("["))
        else:
            out.append(json.dumps(item))
    return "".join(out)


class _Token:
    def __init__(self, text: str) -> None:
        self.text = text


def _nest(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"x": value}
    return value


def _set_attempt(d: Any, v: Any) -> None:
    d["events"][5][STARTED]["attempt"] = v


def _set_type_name(d: Any, v: Any) -> None:
    d["events"][4][SCHEDULED]["activityType"]["name"] = v


UNSTORABLE = [
    ("attempt 2**31", lambda d: _set_attempt(d, 2**31), f"$.events[5].{STARTED}.attempt", "attempt"),
    ("attempt -1", lambda d: _set_attempt(d, -1), f"$.events[5].{STARTED}.attempt", "attempt"),
    ("huge int64", lambda d: _set_attempt(d, "9999999999999999999"), f"$.events[5].{STARTED}.attempt", "out of range"),
    ("lone surrogate", lambda d: _set_type_name(d, "fetch\ud800"), f"$.events[4].{SCHEDULED}.activityType.name", "surrogate"),
    ("lone surrogate key", lambda d: d["events"][4][SCHEDULED].update({"\udfff": 1}), f"$.events[4].{SCHEDULED}", "key"),
    ("year 9999", lambda d: d["events"][3].update(eventTime="9999-12-31T23:59:59.999999999Z"), "$.events[3].eventTime", "out of range"),
    ("infinite number", lambda d: d["events"][4][SCHEDULED].update(extra=float("inf")), f"$.events[4].{SCHEDULED}.extra", "finite"),
    ("900 deep", lambda d: d["events"][4][SCHEDULED].update(extra=_nest(900)), f"$.events[4].{SCHEDULED}.extra", "levels deep"),
]


@pytest.mark.parametrize(("mutate", "path", "words"), [u[1:] for u in UNSTORABLE], ids=[u[0] for u in UNSTORABLE])
def test_unstorable_values_are_history_format_errors(mutate: Any, path: str, words: str) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(wfkit.HistoryFormatError) as caught:
        wfkit.temporal.load_history(doc)
    assert caught.value.json_path.startswith(path)
    assert words in caught.value.problem
    assert len(str(caught.value)) < 400
    text = dumps_flat(doc)  # the same from JSON text
    with pytest.raises(wfkit.HistoryFormatError):
        wfkit.temporal.load_history(text)


def test_deep_nesting_in_text_or_in_a_payload_is_a_clear_error() -> None:
    doc = _doc()
    text = json.dumps(doc).replace('"events"', '"deep": ' + "[" * 5000 + "]" * 5000 + ', "events"', 1)
    with pytest.raises(wfkit.HistoryFormatError, match="nested too deeply"):
        wfkit.temporal.load_history(text)
    assert json.loads(dumps_flat(doc)) == doc
    import base64

    payload = doc["events"][0][START]["input"]["payloads"][0]
    payload["data"] = base64.b64encode(dumps_flat(_nest(900)).encode()).decode()
    history = wfkit.temporal.load_history(doc)  # a payload too deep to decode is kept as raw bytes
    assert history[0].attributes["input"][0]["encoding"] == "binary/invalid-json"


async def test_a_directory_import_stores_every_good_file_and_reports_each_bad_one(engine: wfkit.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = ["01_etl_success.sdk.json", "04_durable_timer.sdk.json", "05_signal_with_payload.sdk.json"]
    for name in good:
        (folder / name).write_bytes((GOLDEN / name).read_bytes())
    for label, mutate, path, _ in UNSTORABLE:
        doc = _doc()
        mutate(doc)
        (folder / f"bad {label}.json").write_text(dumps_flat(doc))
    report = await engine.import_temporal(folder, progress=False)
    assert sorted(Path(p).name for p in report.errors) == sorted(f"bad {u[0]}.json" for u in UNSTORABLE)
    for label, _, path, _ in UNSTORABLE:
        error = report.errors[str(folder / f"bad {label}.json")]
        assert isinstance(error, wfkit.HistoryFormatError)
        # A file cannot even spell Infinity, and text too deep is refused before it is parsed.
        assert error.json_path.startswith("$" if label in ("infinite number", "900 deep") else path)
    assert all("\n" not in line and line.startswith(str(folder)) for line in report.problems())
    assert len(report.imported) == len(good)
    assert engine.sql("select count(*) from workflows").fetchall() == [(len(good),)]


async def test_import_temporal_takes_run_id_and_workflow_id(engine: wfkit.Engine, tmp_path: Path) -> None:
    doc = _doc()
    for key in ("originalExecutionRunId", "firstExecutionRunId", "workflowId"):
        doc["events"][0][START].pop(key, None)
    path = tmp_path / "anonymous.json"
    path.write_text(json.dumps(doc))
    report = await engine.import_temporal(path, progress=False, run_id="run-given", workflow_id="wf-given")
    assert report.ok
    assert report.imported == ["run-given"]
    assert engine.history(run_id="run-given").workflow_id == "wf-given"
    assert engine.sql("select workflow_id from runs where run_id = 'run-given'").fetchall() == [("wf-given",)]
    with pytest.raises(ValueError, match="one history file"):
        await engine.import_temporal([path, path], progress=False, run_id="x")


def test_docs_mapping_table_lists_every_event_type() -> None:
    text = (Path(__file__).parents[2] / "docs" / "temporal.md").read_text()
    missing = [t.value for t in E if f"| `{t.value}` |" not in text]
    assert missing == []


def test_replay_carries_the_jobs_of_a_timed_out_workflow_task_over() -> None:
    from tests.temporal.test_temporal_histories import FIXTURE_WORKFLOWS

    doc = _doc("04_durable_timer.sdk.json")
    events = doc["events"]
    assert [e["eventType"] for e in events[1:3]] == ["EVENT_TYPE_WORKFLOW_TASK_SCHEDULED", "EVENT_TYPE_WORKFLOW_TASK_STARTED"]
    when = events[2]["eventTime"]
    inserted = [
        {"eventType": "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT", "eventTime": when,
         "workflowTaskTimedOutEventAttributes": {"scheduledEventId": "2", "startedEventId": "3", "timeoutType": "TIMEOUT_TYPE_START_TO_CLOSE"}},
        {"eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED", "eventTime": when,
         "workflowTaskScheduledEventAttributes": {"taskQueue": {"name": "q"}, "attempt": 2}},
        copy.deepcopy(events[2]),
    ]  # fmt: skip

    def shift(node: Any) -> None:
        stack = [node]
        while stack:
            item = stack.pop()
            for key, value in item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ():
                if isinstance(key, str) and key.endswith("EventId") and isinstance(value, str) and value.isdigit() and int(value) > 3:
                    item[key] = str(int(value) + 3)
                else:
                    stack.append(value)

    for event in events[3:]:
        shift(event)
    events[3:3] = inserted
    for number, event in enumerate(events, start=1):
        event["eventId"] = str(number)
    history = wfkit.temporal.load_history(doc)
    assert history[3].event_type is E.WorkflowTaskTimedOut
    wfkit.Replayer(workflows=FIXTURE_WORKFLOWS).replay(history)


# #### Nexus operations of real Temporal histories: views, timeline, graph ####

REAL = Path(__file__).parents[1] / "data" / "temporal-real"
NEXUS_FILES = sorted(p for p in REAL.rglob("*.json") if "NexusOperation" in p.read_text())
NEXUS_LABEL = "replay-endpoint/replay-service/wait-on-signal-op"


def test_the_real_nexus_histories_are_found() -> None:
    assert [p.name for p in NEXUS_FILES] == [
        "nexus-cancel-after-complete.json",
        "nexus-cancel-after-start.json",
        "nexus-cancel-before-sent.json",
        "nexus-cancel-before-start.json",
    ]


async def test_nexus_operations_are_counted_in_the_views(engine: wfkit.Engine, tmp_path: Path) -> None:
    report = await engine.import_temporal(NEXUS_FILES, progress=False)
    assert report.ok
    scheduled = {p.stem: json.dumps(json.loads(p.read_text())).count("EVENT_TYPE_NEXUS_OPERATION_SCHEDULED") for p in NEXUS_FILES}
    by_file = dict(zip([p.stem for p in NEXUS_FILES], report.imported, strict=True))
    counts = dict(engine.sql("SELECT run_id, nexus_operation_count FROM runs").fetchall())
    assert {stem: counts[run_id] for stem, run_id in by_file.items()} == scheduled
    rows = engine.sql(
        "SELECT run_id, endpoint, service, operation, status, started_time IS NOT NULL, cancel_requested_time IS NOT NULL FROM nexus_operations"
    ).fetchall()
    got = {next(stem for stem, rid in by_file.items() if rid == row[0]): row[1:] for row in rows}
    expected_ids = ("replay-endpoint", "replay-service", "wait-on-signal-op")
    assert got == {
        "nexus-cancel-after-complete": (*expected_ids, "completed", True, False),
        "nexus-cancel-after-start": (*expected_ids, "canceled", True, True),
        "nexus-cancel-before-start": (*expected_ids, "canceled", True, True),
    }
    durations = engine.sql("SELECT count(*) FROM nexus_operations WHERE duration_s > 0 AND closed_event_id > scheduled_event_id").fetchall()
    assert durations == [(3,)]
    # They stay out of the activity views: those count activities only.
    assert engine.sql("SELECT count(*) FROM activities").fetchall() == [(0,)]
    engine.histories.report(by_file["nexus-cancel-after-start"], tmp_path / "nexus.html")
    page = (tmp_path / "nexus.html").read_text()
    assert "<th>Nexus operations</th><td>1</td>" in page
    assert "signals sent" not in page  # counts a run does not have stay out of its summary


@pytest.mark.parametrize("path", NEXUS_FILES, ids=lambda p: p.stem)
def test_nexus_operations_are_bars_on_the_timeline_and_nodes_of_the_graph(path: Path) -> None:
    import wfkit.plot
    from wfkit.plot._timeline import attempts

    history = wfkit.temporal.load_history(path)
    scheduled = [e for e in history if e.event_type is E.NexusOperationScheduled]
    bars = [b for b in attempts(history) if b.kind == "nexus"]
    assert [(b.name, b.outcome) for b in bars] == [(NEXUS_LABEL, _nexus_outcome(history, e.event_id)) for e in scheduled]
    assert all(b.started is not None and b.duration is not None and b.duration >= 0 for b in bars)
    figure = wfkit.plot.timeline(history)
    lanes = {y for trace in figure.data if trace.type == "bar" for y in trace.y}
    assert {b.lane for b in bars} <= lanes
    graph = wfkit.activity_graph(history)
    nexus = {n: d for n, d in graph.nodes(data=True) if d["kind"] == "nexus"}
    assert sorted(nexus) == [f"nexus:{e.event_id}" for e in scheduled]
    assert {d["label"] for d in nexus.values()} <= {NEXUS_LABEL}
    assert all(d["outcome"] == _nexus_outcome(history, int(n.split(":")[1])) for n, d in nexus.items())
    drawn = wfkit.plot.graph(history)
    steps = next(trace for trace in drawn.data if trace.name == "steps")
    assert [s for s, node in zip(steps.marker.symbol, steps.customdata, strict=True) if node.startswith("nexus:")] == ["hexagon"] * len(nexus)
    if scheduled:  # stepping the graph: scheduled at its event, its outcome at the end
        from wfkit.plot._graph import node_states, state_at

        states = node_states(history)
        node = f"nexus:{scheduled[0].event_id}"
        assert state_at(states, node, scheduled[0].event_id - 1) == "future"
        assert state_at(states, node, scheduled[0].event_id) == "scheduled"
        assert state_at(states, node, len(history)) == _nexus_outcome(history, scheduled[0].event_id)
    session = wfkit.ReplaySession(history)
    session.seek(len(history))
    session.seek(0)


def _nexus_outcome(history: wfkit.History, scheduled_id: int) -> str:
    words = {
        E.NexusOperationCompleted: "completed",
        E.NexusOperationFailed: "failed",
        E.NexusOperationCanceled: "canceled",
        E.NexusOperationTimedOut: "timed_out",
    }
    for event in history:
        if event.event_type in words and event.attributes.get("scheduled_event_id") == scheduled_id:
            return words[event.event_type]
    return "running"
