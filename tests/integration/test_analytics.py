"""The analytic views, the query helpers, open_histories and the HTML report, on known histories.

Most expectations are computed by hand from tests/support/analytics_data.py (times are exact there);
the engine tests check the views against what a real run recorded.
"""

from __future__ import annotations

import asyncio
import datetime
import html.parser
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import wfkit
from tests.support.analytics_data import SCRIPT, T0, make_db

E = wfkit.EventType


@pytest.fixture
def known(tmp_path: Path) -> wfkit.Histories:
    """The five known runs, opened read-only."""
    h = wfkit.open_histories(make_db(tmp_path / "known.duckdb"))
    yield h
    h.close()


def rows(rel: Any) -> list[dict[str, Any]]:
    columns = rel.columns
    return [dict(zip(columns, row, strict=True)) for row in rel.fetchall()]


def at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(T0 + seconds, tz=datetime.timezone.utc)


#### The views, by hand ####


def test_every_new_database_has_the_views_and_the_current_schema_version(tmp_path: Path) -> None:
    from wfkit._store._schema import SCHEMA_VERSION, VIEW_NAMES

    make_db(tmp_path / "v.duckdb")
    import duckdb

    con = duckdb.connect(str(tmp_path / "v.duckdb"), read_only=True)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert set(VIEW_NAMES) <= views
    assert con.execute("SELECT max(version) FROM wfkit_schema").fetchall() == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 6  # 3: the owner epoch table, lost attempts in the views; 4: (empty); 5: Temporal vocabulary in the views; 6: payload tables
    con.close()


def test_runs_view(known: wfkit.Histories) -> None:
    got = {r["run_id"]: r for r in rows(known.sql("SELECT * FROM runs"))}
    expected = {
        # run: (workflow_type, status, duration, events, tasks, activities, attempts, retried, failed attempts, timers, signals, children)
        "run-a": ("etl", "Completed", 19.5, 24, 4, 2, 3, 1, 1, 1, 0, 0),
        "run-b": ("etl", "Completed", 17.25, 22, 4, 2, 2, 0, 0, 1, 0, 0),
        "run-c": ("approval", "Failed", 19.0, 25, 4, 1, 2, 1, 2, 1, 1, 1),
        "run-d": ("notify", "Completed", 19.0, 24, 4, 3, 2, 0, 0, 0, 0, 0),
        "run-e": ("etl", "Running", None, 8, 1, 2, 1, 0, 0, 1, 0, 0),
    }
    keys = (
        "workflow_type", "status", "duration_s", "event_count", "workflow_tasks", "activity_count", "activity_attempts",
        "retried_activities", "failed_attempts", "timer_count", "signal_count", "child_count",
    )  # fmt: skip
    assert {run: tuple(got[run][k] for k in keys) for run in got} == expected
    assert got["run-a"]["start_time"] == at(0)
    assert got["run-a"]["close_time"] == at(19.5)
    assert got["run-a"]["result"] == "3"
    assert got["run-b"]["result"] == "4"
    assert got["run-b"]["forked_from_run_id"] == "run-a"
    assert (got["run-c"]["failure_type"], got["run-c"]["failure_message"]) == ("ActivityError", "activity charge failed: ValueError: card declined")
    assert (got["run-d"]["parent_run_id"], got["run-d"]["parent_workflow_id"]) == ("run-c", "approval-c")
    assert got["run-e"]["close_time"] is None
    assert got["run-a"]["parent_run_id"] is None


def test_activities_view_one_row_per_attempt(known: wfkit.Histories) -> None:
    got = rows(known.sql("SELECT * FROM activities ORDER BY run_id, activity_id, attempt NULLS LAST"))
    keys = (
        "run_id",
        "activity_id",
        "activity_type",
        "attempt",
        "status",
        "final",
        "retried",
        "queue_wait_s",
        "duration_s",
        "retry_state",
        "timeout_type",
        "failure_type",
    )
    assert [tuple(r[k] for k in keys) for r in got] == [
        ("run-a", 1, "extract", 1, "failed", False, True, 0.5, 1.0, "InProgress", None, "ConnectionError"),
        ("run-a", 1, "extract", 2, "completed", True, False, 0.5, 3.0, None, None, None),  # ready at 1.5 + 2 s backoff, started at 4
        ("run-a", 2, "load", 1, "completed", True, False, 0.25, 2.0, None, None, None),
        ("run-b", 1, "extract", 1, "completed", True, False, 0.25, 1.0, None, None, None),
        ("run-b", 2, "load", 1, "completed", True, False, 0.0, 6.0, None, None, None),
        ("run-c", 1, "charge", 1, "timed_out", False, True, 0.5, 10.0, "InProgress", "StartToClose", "TimeoutError"),
        ("run-c", 1, "charge", 2, "failed", True, False, 0.5, 0.5, "MaximumAttemptsReached", None, "ValueError"),
        ("run-d", 1, "send", 1, "canceled", True, False, 1.0, 1.0, None, None, None),  # cancelled while running
        ("run-d", 2, "send", None, "canceled", True, False, None, None, None, None, None),  # cancelled before it started
        ("run-d", 3, "send", 1, "completed", True, False, 0.0, 1.0, None, None, None),
        ("run-e", 1, "extract", 1, "running", False, False, 1.0, None, None, None, None),
        ("run-e", 2, "load", None, "scheduled", False, False, None, None, None, None, None),
    ]
    first = got[0]
    assert (first["workflow_id"], first["workflow_type"], first["task_queue"]) == ("etl-a", "etl", "default")
    assert (first["scheduled_time"], first["started_time"], first["closed_time"]) == (at(0), at(0.5), at(1.5))
    assert (first["scheduled_event_id"], first["started_event_id"], first["closed_event_id"]) == (5, 6, 7)
    assert first["failure_message"] == "connection reset"
    assert first["result"] is None
    assert got[1]["result"] == '{"rows":3}'
    assert got[1]["input"] == '[{"encoding":"json/plain","data":"orders"}]'
    assert got[6]["failure_message"] == "card declined"


def test_payload_fields_are_queryable_with_json_functions(known: wfkit.Histories) -> None:
    assert known.sql("SELECT run_id, result->>'$.rows' FROM activities WHERE activity_type = 'extract' AND status = 'completed' ORDER BY 1").fetchall() == [
        ("run-a", "3"),
        ("run-b", "4"),
    ]
    assert known.sql("SELECT input->>'$[0].data' FROM activities WHERE run_id = 'run-c' AND attempt = 1").fetchall() == [("42",)]


def test_timers_view(known: wfkit.Histories) -> None:
    got = rows(known.sql("SELECT * FROM timers ORDER BY run_id, timer_id"))
    keys = ("run_id", "timer_id", "status", "duration_s", "elapsed_s", "lateness_s")
    assert [tuple(r[k] for k in keys) for r in got] == [
        ("run-a", 1, "fired", 10.0, 10.25, 0.25),
        ("run-b", 1, "fired", 10.0, 10.0, 0.0),
        ("run-c", 2, "canceled", 60.0, 0.0, None),
        ("run-e", 1, "pending", 5.0, None, None),
    ]
    assert (got[0]["started_time"], got[0]["fire_time"], got[0]["closed_time"]) == (at(7), at(17), at(17.25))
    assert (got[0]["started_event_id"], got[0]["closed_event_id"]) == (13, 14)


def test_signals_view(known: wfkit.Histories) -> None:
    (got,) = rows(known.sql("SELECT * FROM signals"))
    assert (got["run_id"], got["workflow_id"], got["event_id"], got["signal_name"]) == ("run-c", "approval-c", 7, "decision")
    assert (got["received_time"], got["delivered_time"], got["delivery_s"]) == (at(205), at(205.5), 0.5)
    assert known.sql("SELECT payload->>'$.note' FROM signals").fetchall() == [(SCRIPT,)]


def test_activity_stats_view(known: wfkit.Histories) -> None:
    got = {r["activity_type"]: r for r in rows(known.stats())}
    assert list(got) == ["charge", "extract", "load", "send"]  # sorted
    keys = ("activities", "attempts", "completed", "failed", "failure_rate", "retry_rate", "attempt_failure_rate")
    counts = {t: tuple(r[k] for k in keys) for t, r in got.items()}
    assert counts == {
        "extract": (3, 4, 2, 0, 0.0, 1 / 3, 1 / 3),  # a: failed then completed; b: completed; e: running
        "load": (3, 2, 2, 0, 0.0, 0.0, 0.0),  # e's load never started
        "charge": (1, 2, 0, 1, 1.0, 1.0, 1.0),  # timed out, then failed for good
        "send": (3, 2, 1, 0, 0.0, 0.0, 0.0),  # two cancelled, one completed
    }
    durations = {t: tuple(round(r[k], 6) for k in ("mean_s", "p50_s", "p95_s", "p99_s", "max_s")) for t, r in got.items()}
    # quantile_cont interpolates: extract's closed attempts took [1, 1, 3] s, so p95 = 1 + 0.9 * 2.
    assert durations == {
        "extract": (round(5 / 3, 6), 1.0, 2.8, 2.96, 3.0),
        "load": (4.0, 4.0, 5.8, 5.96, 6.0),
        "charge": (5.25, 5.25, 9.525, 9.905, 10.0),
        "send": (1.0, 1.0, 1.0, 1.0, 1.0),  # a cancelled attempt's time is not a duration
    }
    waits = {t: (round(r["p50_queue_wait_s"], 6), round(r["p95_queue_wait_s"], 6)) for t, r in got.items()}
    assert waits == {"extract": (0.5, 0.925), "load": (0.125, 0.2375), "charge": (0.5, 0.5), "send": (0.5, 0.95)}


def _stats_from_activities(h: Any) -> list[tuple[Any, ...]]:
    """activity_stats recomputed from the activities view: the two must agree."""
    return h.sql(
        """
        WITH per AS (
            SELECT activity_type, run_id, activity_id, max(attempt) AS attempts,
                   bool_or(final AND status IN ('failed', 'timed_out')) AS failed, bool_or(final AND status = 'completed') AS completed,
                   bool_or(final) AS finished
            FROM activities GROUP BY ALL
        ), a AS (
            SELECT activity_type, count(*) AS activities, count(*) FILTER (WHERE completed) AS completed, count(*) FILTER (WHERE failed) AS failed,
                   count(*) FILTER (WHERE failed) / nullif(count(*) FILTER (WHERE finished), 0) AS failure_rate,
                   count(*) FILTER (WHERE attempts > 1) / count(*) AS retry_rate
            FROM per GROUP BY ALL
        ), t AS (
            SELECT activity_type, count(attempt) AS attempts,
                   round(quantile_cont(duration_s, 0.95) FILTER (WHERE status IN ('completed', 'failed', 'timed_out')), 9) AS p95_s,
                   round(quantile_cont(queue_wait_s, 0.95), 9) AS p95_queue_wait_s
            FROM activities GROUP BY ALL
        )
        SELECT activity_type, activities, attempts, completed, failed, failure_rate, retry_rate, p95_s, p95_queue_wait_s
        FROM a JOIN t USING (activity_type) ORDER BY activity_type
        """
    ).fetchall()


def test_activity_stats_agrees_with_the_activities_view(known: wfkit.Histories) -> None:
    direct = known.sql(
        "SELECT activity_type, activities, attempts, completed, failed, failure_rate, retry_rate, round(p95_s, 9), round(p95_queue_wait_s, 9)"
        " FROM activity_stats ORDER BY activity_type"
    ).fetchall()
    assert direct == _stats_from_activities(known)


#### Query helpers ####


def test_slowest(known: wfkit.Histories) -> None:
    assert [(r["run_id"], r["activity_type"], r["attempt"], r["duration_s"]) for r in rows(known.slowest(2))] == [
        ("run-c", "charge", 1, 10.0),
        ("run-b", "load", 1, 6.0),
    ]
    assert [r["activity_id"] for r in rows(known.slowest(5, type="send"))] == [3]  # send #1 was cancelled: not a duration
    assert [(r["run_id"], r["duration_s"]) for r in rows(known.slowest(1, kind="runs"))] == [("run-a", 19.5)]
    with pytest.raises(ValueError, match="kind"):
        known.slowest(3, kind="events; drop table events")
    with pytest.raises(ValueError, match="positive"):
        known.slowest(0)


def test_failures_since_and_final_only(known: wfkit.Histories) -> None:
    every = [(r["kind"], r["run_id"], r["name"], r["attempt"], r["status"], r["retried"]) for r in rows(known.failures())]
    assert every == [
        ("workflow", "run-c", "approval", None, "Failed", False),
        ("activity", "run-c", "charge", 2, "failed", False),
        ("activity", "run-c", "charge", 1, "timed_out", True),
        ("activity", "run-a", "extract", 1, "failed", True),
    ]
    assert len(rows(known.failures(since=at(216)))) == 3
    assert len(rows(known.failures(since=T0 + 216.5))) == 2  # seconds since the epoch
    assert len(rows(known.failures(since=at(216).isoformat()))) == 3
    assert [r["name"] for r in rows(known.failures(final_only=True))] == ["approval", "charge"]


def test_compare_finds_the_differences(known: wfkit.Histories) -> None:
    got = rows(known.compare("run-a", "run-b"))
    assert [(r["activity_type"], r["occurrence"], r["attempts_a"], r["attempts_b"], r["seconds_a"], r["seconds_b"], r["differences"]) for r in got] == [
        ("extract", 1, 2, 1, 7.0, 1.25, ["attempts", "result", "duration"]),
        ("load", 1, 1, 1, 2.25, 6.0, ["result", "duration"]),
    ]
    assert (got[0]["result_a"], got[0]["result_b"]) == ('{"rows":3}', '{"rows":4}')
    assert all(r["differences"] == [] for r in rows(known.compare("run-a", "run-a")))
    # Workflow ids name their latest run; an activity only one run has is reported as such.
    only = rows(known.compare("etl-e", "approval-c"))
    assert sorted(tuple(r["differences"]) for r in only) == [("only_in_a",), ("only_in_a",), ("only_in_b",)]


def test_resolve_accepts_run_ids_workflow_ids_and_prefixes(known: wfkit.Histories) -> None:
    assert known.resolve("run-c") == "run-c"
    assert known.resolve("approval-c/notify") == "run-d"
    with pytest.raises(wfkit.WorkflowNotFoundError):
        known.resolve("nope")
    with pytest.raises(wfkit.WorkflowNotFoundError):
        known.resolve("run-")  # too short to be a prefix
    assert known.history("etl-a").run_id == "run-a"
    assert len(known.history("run-a")) == 24


def test_sql_parameters_are_bound_not_formatted(known: wfkit.Histories) -> None:
    evil = "x' OR '1'='1"
    assert known.sql("SELECT count(*) FROM runs WHERE workflow_id = ?", [evil]).fetchall() == [(0,)]
    assert known.sql("SELECT count(*) FROM runs WHERE workflow_id = $id", {"id": "etl-a"}).fetchall() == [(1,)]
    assert rows(known.runs(status="completed", workflow_type=evil)) == []
    assert [r["run_id"] for r in rows(known.runs(status="COMPLETED", workflow_type="etl"))] == ["run-b", "run-a"]


#### open_histories ####


def test_open_histories_attaches_several_files_into_one_query(tmp_path: Path) -> None:
    first = make_db(tmp_path / "monday.duckdb")
    other = make_db(tmp_path / "tuesday.duckdb", suffix="-2")
    with wfkit.open_histories([first, other]) as h:
        assert h.databases == {"monday": str(first), "tuesday": str(other)}
        assert h.sql("SELECT count(*) FROM runs").fetchall() == [(10,)]
        assert h.sql("SELECT count(*) FROM tuesday.events").fetchall() == [(103,)]
        assert [tuple(r) for r in h.sql("SELECT activity_type, activities FROM activity_stats ORDER BY 1").fetchall()] == [
            ("charge", 2),
            ("extract", 6),
            ("load", 6),
            ("send", 6),
        ]


def test_open_histories_is_read_only_and_reports_bad_files(tmp_path: Path) -> None:
    db = make_db(tmp_path / "k.duckdb")
    with wfkit.open_histories(db) as h, pytest.raises(Exception, match=r"read-only|read only"):
        h.sql("DELETE FROM k.events")
    with pytest.raises(FileNotFoundError):
        wfkit.open_histories(tmp_path / "missing.duckdb")
    import duckdb

    duckdb.connect(str(tmp_path / "other.duckdb")).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(wfkit.NotAWfkitDatabaseError):
        wfkit.open_histories(tmp_path / "other.duckdb")
    (tmp_path / "junk.duckdb").write_bytes(b"not a database at all" * 100)
    with pytest.raises(wfkit.StoreCorruptError):
        wfkit.open_histories(tmp_path / "junk.duckdb")


def test_open_histories_reads_a_schema_1_file_without_changing_it(tmp_path: Path) -> None:
    import duckdb

    from wfkit._store._schema import MIGRATIONS

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE wfkit_schema (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
    con.execute(MIGRATIONS[0])
    con.execute("INSERT INTO wfkit_schema VALUES (1, now())")
    con.execute("ATTACH ? AS src (READ_ONLY)", [str(make_db(tmp_path / "src.duckdb"))])
    con.execute("INSERT INTO events SELECT * FROM src.events")
    con.execute("INSERT INTO workflows SELECT * FROM src.workflows")
    con.close()
    with wfkit.open_histories(path) as h:
        assert h.sql("SELECT count(*) FROM activities").fetchall() == [(12,)]
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT max(version) FROM wfkit_schema").fetchall() == [(1,)]
    con.close()


#### Against a real engine ####


async def test_open_histories_on_a_file_this_process_holds_says_so(engine: wfkit.Engine, db_path: Path) -> None:
    with pytest.raises(wfkit.StoreLockedError, match="open in this process"):
        wfkit.open_histories(db_path)


SEEN: Counter[str] = Counter()


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01))
async def a_fetch(source: str, variant: int) -> dict[str, Any]:
    SEEN[source] += 1
    if source == "flaky" and SEEN[source] == 1:
        raise ConnectionError("first attempt fails")
    return {"source": source, "rows": 10 + (variant if source == "b" else 0)}


@wfkit.activity
def a_sum(parts: list[dict[str, Any]]) -> int:
    return sum(p["rows"] for p in parts)


@wfkit.workflow
async def a_child(source: str, variant: int) -> dict[str, Any]:
    result: dict[str, Any] = await a_fetch(source, variant)
    return result


@wfkit.workflow
async def a_parent(variant: int) -> int:
    parts = await asyncio.gather(a_fetch("a", variant), a_fetch("b", variant), a_child("flaky", variant))
    await wfkit.sleep(0.01)
    go = await wfkit.wait_signal("go", timeout=30)
    total: int = await a_sum(list(parts))
    return total + int(go)


async def test_views_match_a_real_engine_run_and_compare_finds_an_injected_difference(engine: wfkit.Engine) -> None:
    SEEN.clear()
    first = await engine.start(a_parent, 0, id="p-0")
    await asyncio.sleep(0.2)
    await first.signal("go", 1)
    assert await first.result() == 31
    SEEN.clear()
    second = await engine.start(a_parent, 5, id="p-5")  # the injected difference: fetch("b") returns 5 more rows
    await asyncio.sleep(0.2)
    await second.signal("go", 1)
    assert await second.result() == 36

    history = engine.history("p-0")
    started = [e for e in history if e.event_type is E.ActivityTaskStarted]
    got = rows(engine.sql("SELECT * FROM runs WHERE run_id = ?", [first.run_id]))[0]
    assert (got["status"], got["activity_count"], got["activity_attempts"], got["timer_count"], got["signal_count"], got["child_count"]) == (
        "Completed",
        3,
        len(started),
        2,  # the sleep, and wait_signal's timeout
        1,
        1,
    )
    assert got["event_count"] == len(history)
    assert got["duration_s"] == pytest.approx(history.events[-1].event_time - history.events[0].event_time, abs=1e-6)
    child = rows(engine.sql("SELECT * FROM runs WHERE parent_run_id = ?", [first.run_id]))
    assert [(c["workflow_type"], c["activity_attempts"], c["retried_activities"], c["failed_attempts"]) for c in child] == [("a_child", 2, 1, 1)]
    assert engine.sql("SELECT count(*) FROM activities WHERE run_id = ?", [first.run_id]).fetchall() == [(len(started),)]
    assert engine.sql("SELECT signal_name, payload FROM signals WHERE run_id = ?", [first.run_id]).fetchall() == [("go", "1")]
    assert engine.sql("SELECT status, duration_s FROM timers WHERE run_id = ? ORDER BY timer_id", [first.run_id]).fetchall() == [
        ("fired", 0.01),
        ("canceled", 30.0),
    ]
    stats = {r["activity_type"]: r for r in rows(engine.histories.stats())}
    assert (stats["a_fetch"]["activities"], stats["a_fetch"]["attempts"], stats["a_fetch"]["retry_rate"]) == (6, 8, 2 / 6)
    assert [tuple(r) for r in engine.sql("SELECT activity_type, activities, attempts, completed, failed FROM activity_stats ORDER BY 1").fetchall()] == [
        tuple(r[:5]) for r in _stats_from_activities(engine)
    ]
    assert len(rows(engine.histories.failures(since=datetime.timedelta(minutes=5)))) == 2
    assert rows(engine.histories.failures(final_only=True)) == []
    assert len(rows(engine.histories.slowest(3))) == 3

    diff = rows(engine.histories.compare("p-0", "p-5"))
    changed = {(r["activity_type"], r["occurrence"]): r["differences"] for r in diff if "result" in r["differences"]}
    assert set(changed) == {("a_fetch", 2), ("a_sum", 1)}  # b's rows, and the sum built from them
    assert next(r for r in diff if r["activity_type"] == "a_fetch" and r["occurrence"] == 2)["result_b"] == '{"source":"b","rows":15}'


#### The HTML report ####


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags[tag] += 1
        if any(name in ("src", "href") for name, _ in attrs):
            self.tags["with a url"] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def fake_plot(monkeypatch: pytest.MonkeyPatch) -> list[wfkit.History]:
    """A stand-in for wfkit.plot whose figures carry the history's text (as real hover labels would)."""
    import plotly.graph_objects as go

    drawn: list[wfkit.History] = []

    def timeline(history: wfkit.History) -> Any:
        drawn.append(history)
        labels = [str(e.attributes) for e in history]
        return go.Figure(go.Scatter(x=[e.event_time for e in history], y=[e.event_type.value for e in history], text=labels))

    def graph(history: wfkit.History) -> Any:
        return go.Figure(go.Scatter(x=[0, 1], y=[0, 1], text=[SCRIPT, "</script><script>alert(2)</script>"]), layout={"title": {"text": SCRIPT}})

    module = types.ModuleType("wfkit.plot")
    module.timeline = timeline  # type: ignore[attr-defined]
    module.graph = graph  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wfkit.plot", module)
    monkeypatch.setattr(wfkit, "plot", module, raising=False)
    return drawn


def test_report_is_self_contained_and_escapes_every_payload(known: wfkit.Histories, tmp_path: Path, fake_plot: list[wfkit.History]) -> None:
    path = known.report("approval-c", tmp_path / "report.html")
    page = Path(path).read_text()
    parser = _Tags()
    parser.feed(page)
    assert parser.tags["script"] == 2  # plotly.js and the figures: no script came from a payload
    assert "<script>alert(1)</script>" not in page
    assert "alert(2)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text in the history table
    assert "\\u003cscript\\u003ealert(1)" in page  # and inert inside the figures' JSON
    assert parser.tags["with a url"] == 0
    assert parser.tags["link"] == 0
    assert "Plotly.newPlot('fig-timeline'" in page
    assert "Plotly.newPlot('fig-graph'" in page
    text = "".join(parser.text)
    assert "approval-c" in text
    assert "card declined" in text
    assert "Failed" in text
    assert len(fake_plot) == 1
    assert fake_plot[0].run_id == "run-c"
    assert len(fake_plot[0]) == 25


async def test_engine_report_writes_the_same_report(engine: wfkit.Engine, tmp_path: Path, fake_plot: list[wfkit.History]) -> None:
    @wfkit.workflow
    async def r_echo(text: str) -> str:
        return text

    handle = await engine.start(r_echo, SCRIPT, id="echo")
    assert await handle.result() == SCRIPT
    path = engine.histories.report("echo", tmp_path / "echo.html")
    parser = _Tags()
    parser.feed(Path(path).read_text())
    assert parser.tags["script"] == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in Path(path).read_text()


def test_report_without_the_plot_module_still_has_the_tables(known: wfkit.Histories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(wfkit, "plot", raising=False)  # forget an earlier import of it...
    monkeypatch.setitem(sys.modules, "wfkit.plot", None)  # ...so that `from wfkit import plot` raises ImportError
    page = Path(known.report("run-a", tmp_path / "r.html")).read_text()
    parser = _Tags()
    parser.feed(page)
    assert parser.tags["script"] == 0
    assert "figures are unavailable" in page
    assert "WorkflowExecutionCompleted" in page


def _has_plot() -> bool:
    import importlib.util

    return importlib.util.find_spec("wfkit.plot") is not None


@pytest.mark.skipif(not _has_plot(), reason="wfkit.plot is not written yet")
def test_report_with_the_real_plot_module(known: wfkit.Histories, tmp_path: Path) -> None:
    for run in ("approval-c", "etl-a", "etl-e", "approval-c/notify"):
        page = Path(known.report(run, tmp_path / "real.html")).read_text()
        parser = _Tags()
        parser.feed(page)
        assert parser.tags["script"] == 2, run
        assert "<script>alert(1)</script>" not in page
        assert "figures are unavailable" not in page
        assert "Plotly.newPlot('fig-timeline'" in page
        assert "Plotly.newPlot('fig-graph'" in page
