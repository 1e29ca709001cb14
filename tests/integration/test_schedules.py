"""Schedules and backfills on the FakeClock: firings, overlap policies, catch-up, DST, a killed backfill."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import wfkit
from tests.support import backfill_worker
from tests.support.helpers import run_on_new_loop
from wfkit._schedules._spec import ScheduleSpec

UTC = datetime.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
DEC_1 = datetime.datetime(2026, 12, 1, tzinfo=UTC).timestamp()
ROOT = Path(__file__).parent.parent.parent


@wfkit.activity
async def sc_stamp(text: str) -> str:
    return text


@wfkit.workflow
async def sc_job(table: str) -> str:
    info = wfkit.info()
    assert info.scheduled_time is not None
    assert info.schedule_id is not None
    return await sc_stamp(f"{table}@{info.scheduled_time.isoformat()}")


@wfkit.workflow
async def sc_slow(table: str) -> str:
    """Runs until it gets the "done" signal (or is cancelled)."""
    await wfkit.wait_signal("done")
    return table


async def _until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


def _runs(engine: wfkit.Engine, workflow: str, status: str | None = None) -> list[tuple[Any, ...]]:
    query = "SELECT workflow_id, status FROM workflows WHERE workflow_type = ?" + (" AND status = ?" if status else "") + " ORDER BY start_time, workflow_id"
    return engine.sql(query, [workflow, status] if status else [workflow]).fetchall()


def _firings(engine: wfkit.Engine, schedule_id: str) -> list[dict[str, Any]]:
    """Every firing the scheduler recorded (its `wfkit.schedule.fire` results), oldest first."""
    rows = engine.sql(
        "SELECT attributes->>'$.result.data' FROM events e JOIN workflows w USING (run_id)"
        " WHERE w.workflow_id = ? AND e.event_type = 'ActivityTaskCompleted' ORDER BY w.start_time, e.event_id",
        ["schedule/" + schedule_id],
    ).fetchall()
    import json

    return [json.loads(r[0]) for r in rows]


async def test_a_quarter_hourly_schedule_starts_exactly_96_runs_in_24_hours(db_path: Path) -> None:
    clock = wfkit.FakeClock(start=DEC_1)
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        nightly = await engine.schedule(sc_job, "orders", id="q15", cron="*/15 * * * *")
        first = await nightly.describe()
        assert [t.strftime("%H:%M") for t in first.next_fire_times] == ["00:15", "00:30", "00:45", "01:00", "01:15"]
        for i in range(96):
            clock.advance(15 * 60)
            await _until(lambda i=i: len(_runs(engine, "sc_job", "Completed")) == i + 1, f"run {i + 1}")
        clock.advance(14 * 60)  # no firing before the next quarter hour
        await asyncio.sleep(0.05)
        runs = _runs(engine, "sc_job")
        assert len(runs) == 96
        assert runs[0][0] == "q15-2026-12-01T00:15:00Z"
        assert runs[-1][0] == "q15-2026-12-02T00:00:00Z"
        result = await engine.get_handle("q15-2026-12-01T06:00:00Z").result()
        assert result == "orders@2026-12-01T06:00:00+00:00"  # the run saw its own scheduled time
        described = await nightly.describe()
        assert described.firings == 96
        assert described.last is not None
        assert described.last["action"] == "started"
        history = nightly.history()
    # The scheduler is an ordinary run: its history replays with the same code.
    from wfkit._schedules._workflows import schedule_workflow

    assert wfkit.Replayer(workflows=[schedule_workflow]).replay(history) is not None


async def _overlap_case(db_path: Path, overlap: str) -> tuple[wfkit.Engine, wfkit.FakeClock, wfkit.ScheduleHandle]:
    clock = wfkit.FakeClock(start=DEC_1)
    engine = await wfkit.Engine.open(db_path, clock=clock)
    handle = await engine.schedule(sc_slow, "t", id="ov", every=datetime.timedelta(minutes=1), overlap=overlap)  # type: ignore[arg-type]
    return engine, clock, handle


async def _tick(engine: wfkit.Engine, clock: wfkit.FakeClock, firings: int) -> None:
    clock.advance(60)
    await _until(lambda: len(_firings(engine, "ov")) >= firings, f"{firings} firings")


async def test_overlap_skip_skips_while_the_previous_run_runs(db_path: Path) -> None:
    engine, clock, _ = await _overlap_case(db_path, "skip")
    async with engine:
        await _tick(engine, clock, 1)
        await _tick(engine, clock, 2)
        firings = _firings(engine, "ov")
        assert [f["action"] for f in firings] == ["started", "skipped"]
        assert firings[1]["reason"] == "ov-2026-12-01T00:01:00Z still running (overlap=skip)"
        await engine.get_handle(firings[0]["workflow_id"]).signal("done")
        await _tick(engine, clock, 3)
        assert [f["action"] for f in _firings(engine, "ov")] == ["started", "skipped", "started"]


async def test_overlap_buffer_one_starts_one_waiting_firing_when_the_run_closes(db_path: Path) -> None:
    engine, clock, _ = await _overlap_case(db_path, "buffer_one")
    async with engine:
        await _tick(engine, clock, 1)
        await _tick(engine, clock, 2)  # the second firing waits for the first run
        await _tick(engine, clock, 3)  # the third finds one already waiting: skipped
        assert [f["action"] for f in _firings(engine, "ov")] == ["started", "buffered", "skipped"]
        assert "buffer_one" in _firings(engine, "ov")[2]["reason"]
        assert len(_runs(engine, "sc_slow")) == 1
        await engine.get_handle("ov-2026-12-01T00:01:00Z").signal("done")
        await _until(lambda: len(_runs(engine, "sc_slow")) == 2, "the buffered firing's run")
        assert _runs(engine, "sc_slow")[1][0] == "ov-2026-12-01T00:02:00Z"  # it keeps its own scheduled time
        await _until(lambda: len(_firings(engine, "ov")) == 4, "the buffered firing recorded")
        assert [f["action"] for f in _firings(engine, "ov")] == ["started", "buffered", "skipped", "started"]


async def test_overlap_allow_all_runs_them_side_by_side(db_path: Path) -> None:
    engine, clock, handle = await _overlap_case(db_path, "allow_all")
    async with engine:
        for n in (1, 2, 3):
            await _tick(engine, clock, n)
        assert [status for _, status in _runs(engine, "sc_slow")] == ["Running"] * 3
        assert len((await handle.describe()).running) == 3


@pytest.mark.parametrize(("overlap", "status"), [("cancel_other", "Canceled"), ("terminate_other", "Terminated")])
async def test_overlap_cancel_or_terminate_other_replaces_the_running_run(db_path: Path, overlap: str, status: str) -> None:
    engine, clock, _ = await _overlap_case(db_path, overlap)
    async with engine:
        await _tick(engine, clock, 1)
        await _tick(engine, clock, 2)
        await _until(lambda: len(_runs(engine, "sc_slow")) == 2, "the second run")
        assert _runs(engine, "sc_slow") == [("ov-2026-12-01T00:01:00Z", status), ("ov-2026-12-01T00:02:00Z", "Running")]
        assert [f["action"] for f in _firings(engine, "ov")] == ["started", "started"]


async def test_catch_up_after_6_hours_down_starts_only_the_firings_inside_a_1_hour_window(db_path: Path) -> None:
    clock = wfkit.FakeClock(start=DEC_1)
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        await engine.schedule(sc_job, "orders", id="cu", cron="*/15 * * * *", overlap="allow_all", catchup_window=datetime.timedelta(hours=1))
        clock.advance(15 * 60)
        await _until(lambda: len(_runs(engine, "sc_job", "Completed")) == 1, "the first run")
    clock.advance(6 * 3600)  # the engine is down from 00:15 to 06:15
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        await _until(lambda: len(_runs(engine, "sc_job", "Completed")) == 6, "the caught-up runs")
        await asyncio.sleep(0.1)
        runs = [w for w, _ in _runs(engine, "sc_job")]
        # Missed by at most 1 h at 06:15: 05:15 (exactly 1 h) to 06:15; the 19 before are skipped.
        assert runs == [f"cu-2026-12-01T{t}:00Z" for t in ("00:15", "05:15", "05:30", "05:45", "06:00", "06:15")]
        skipped = [f for f in _firings(engine, "cu") if f["action"] == "skipped"]
        assert len(skipped) == 1
        assert "19 firing(s) 2026-12-01T00:30:00Z..2026-12-01T05:00:00Z" in skipped[0]["reason"]
        description = await engine.get_schedule("cu").describe()
        assert description.next_fire_times[0] == datetime.datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


def _berlin(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=BERLIN).timestamp()  # type: ignore[misc]


def test_dst_spring_forward_and_fall_back_in_berlin() -> None:
    nightly = ScheduleSpec(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist, so that night fires once, right after the change.
    spring = [datetime.datetime.fromtimestamp(t, BERLIN) for t in nightly.between(_berlin(2026, 3, 28), _berlin(2026, 3, 31))]
    assert [t.isoformat() for t in spring] == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice and fires once, at the first.
    autumn = nightly.between(_berlin(2026, 10, 24), _berlin(2026, 10, 27))
    assert [datetime.datetime.fromtimestamp(t, BERLIN).isoformat() for t in autumn] == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    assert autumn[2] - autumn[1] == 25 * 3600  # the repeated hour makes that day 25 hours long
    hourly = ScheduleSpec(cron="0 * * * *", timezone="Europe/Berlin")
    assert len(hourly.between(_berlin(2026, 10, 25), _berlin(2026, 10, 26))) == 25
    assert len(hourly.between(_berlin(2026, 3, 29), _berlin(2026, 3, 30))) == 23


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Fall back: 2026-10-25 has 02:30 twice; it fires once, at the first (00:30 UTC, still CEST).
        ((2026, 10, 24, 12), ["dst-2026-10-25T00:30:00Z", "dst-2026-10-26T01:30:00Z", "dst-2026-10-27T01:30:00Z"]),
        # Spring forward: 2026-03-29 has no 02:30; it fires once, at 03:00 CEST (01:00 UTC).
        ((2026, 3, 28, 12), ["dst-2026-03-29T01:00:00Z", "dst-2026-03-30T00:30:00Z", "dst-2026-03-31T00:30:00Z"]),
    ],
    ids=["fall-back", "spring-forward"],
)
async def test_dst_through_the_engine_fires_each_berlin_night_once(db_path: Path, start: tuple[int, int, int, int], expected: list[str]) -> None:
    clock = wfkit.FakeClock(start=_berlin(*start))
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        await engine.schedule(sc_job, "orders", id="dst", cron="30 2 * * *", timezone="Europe/Berlin")
        for _ in range(72):  # 72 hours, an hour at a time, across the change
            clock.advance(3600)
            await asyncio.sleep(0.01)
        await _until(lambda: len(_runs(engine, "sc_job", "Completed")) == 3, "three nights")
        assert [w for w, _ in _runs(engine, "sc_job")] == expected


async def test_pause_unpause_trigger_update_and_delete(db_path: Path) -> None:
    clock = wfkit.FakeClock(start=DEC_1)
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        nightly = await engine.schedule(sc_job, "orders", id="ctl", cron="0 2 * * *", jitter=datetime.timedelta(minutes=10))
        await nightly.pause("warehouse migration")
        described = await nightly.describe()
        assert described.paused
        assert described.note == "warehouse migration"
        assert described.next_fire_times == []
        clock.advance(86400)
        await asyncio.sleep(0.1)
        assert _runs(engine, "sc_job") == []  # paused: the night passed without a run
        await nightly.unpause()
        await nightly.trigger_now()
        await _until(lambda: len(_runs(engine, "sc_job", "Completed")) == 1, "the triggered run")
        assert _runs(engine, "sc_job")[0][0] == "ctl-2026-12-02T00:00:00Z-manual-1"
        # Re-running the notebook cell with a new cron updates the same schedule.
        again = await engine.schedule(sc_job, "orders", id="ctl", cron="0 3 * * *")
        assert again.id == "ctl"
        assert [h.id for h in engine.schedules()] == ["ctl"]
        assert (await again.describe()).spec == "cron 0 3 * * * (UTC)"
        await again.update(every=datetime.timedelta(hours=6), overlap="allow_all")
        described = await again.describe()
        assert described.spec == "every 6h"
        assert described.overlap == "allow_all"
        await again.delete()
        assert engine.schedules() == []
        with pytest.raises(wfkit.WorkflowNotFoundError, match="no open schedule 'ctl'"):
            engine.get_schedule("ctl")


async def test_bad_settings_fail_with_one_line_before_anything_is_recorded(engine: wfkit.Engine) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cron": "61 * * * *"}, r"bad cron expression '61 \* \* \* \*': Bad minute"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({}, "exactly one of cron="),
        ({"cron": "0 2 * * *", "every": 60}, "exactly one of cron="),
        ({"cron": "0 2 * * *", "overlap": "sometimes"}, "overlap= must be one of"),
        ({"every": -5}, "every= must be a positive interval"),
    ]
    for settings, message in cases:
        with pytest.raises(wfkit.ArgumentError, match=message):
            await engine.schedule(sc_job, "orders", id="bad", **settings)
    with pytest.raises(wfkit.WfkitError):
        await engine.schedule(sc_job, id="bad", cron="0 2 * * *")  # a missing argument fails now, not at 2am
    assert engine.schedules() == []
    assert _runs(engine, "wfkit.schedule") == []


async def test_a_backfill_runs_the_range_n_at_a_time_and_a_second_call_starts_nothing(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        await engine.schedule(sc_job, "orders", id="bf", cron="0 2 * * *", timezone="Europe/Berlin")
        seen: list[tuple[int, int]] = []
        report = await engine.backfill("bf", start="2026-11-01", end="2026-11-08", max_concurrent=3, progress=lambda d, t: seen.append((d, t)))
        assert (report.firings, report.completed, report.failed) == (7, 7, 0), report
        assert [r["workflow_id"] for r in report.runs][:2] == ["bf-backfill-2026-11-01T01:00:00Z", "bf-backfill-2026-11-02T01:00:00Z"]
        assert seen
        assert all(total == 7 for _, total in seen)
        assert "7 firings, 7 completed, 0 failed" in str(report)
        results = [await engine.get_handle(r["workflow_id"]).result() for r in report.runs]
        assert results[0] == "orders@2026-11-01T01:00:00+00:00"
        again = await engine.backfill("bf", start="2026-11-01", end="2026-11-08", max_concurrent=3, progress=False)
        assert again.note.startswith("already done")
        assert again.completed == 7
        assert len(_runs(engine, "sc_job")) == 7
        with pytest.raises(wfkit.ArgumentError, match="must be after start"):
            await engine.backfill("bf", start="2026-11-08", end="2026-11-01")


def test_a_backfill_killed_mid_way_resumes_with_no_firing_duplicated_or_missed(tmp_path: Path) -> None:
    db, side = tmp_path / "bf.duckdb", tmp_path / "executions.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BF_SIDE_FILE": str(side)}
    worker = subprocess.Popen([sys.executable, str(Path(backfill_worker.__file__)), str(db)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        deadline = time.perf_counter() + 60
        while not side.exists() or len(side.read_text().splitlines()) < 10:
            assert time.perf_counter() < deadline, "the backfill made no progress"
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.communicate(timeout=30)
    before = len(side.read_text().splitlines())
    assert before < 30, "killed mid-way"

    async def resume() -> wfkit.BackfillReport:
        os.environ["BF_SIDE_FILE"] = str(side)
        try:
            async with wfkit.Engine.open(db) as engine:  # the backfill resumes on its own; this attaches to it
                return await engine.backfill("bf-nightly", start="2026-11-01", end="2026-12-01", max_concurrent=3, progress=False)
        finally:
            del os.environ["BF_SIDE_FILE"]

    report = run_on_new_loop(resume())
    assert (report.firings, report.completed) == (30, 30), report
    lines = [line.split() for line in side.read_text().splitlines()]
    runs_by_time: dict[str, set[str]] = {}
    for when, run_id in lines:
        runs_by_time.setdefault(when, set()).add(run_id)
    assert len(runs_by_time) == 30, "every night of November ran"
    assert all(len(runs) == 1 for runs in runs_by_time.values()), "no firing started a second run"
    assert sorted(runs_by_time)[0] == "2026-11-01T01:00:00+00:00"


FLOWS = """
import wfkit

@wfkit.activity
def cli_rows(day: str) -> int:
    return len(day)

@wfkit.workflow
async def cli_nightly(table: str) -> str:
    day = wfkit.info().scheduled_time.date().isoformat()
    return f"{table} {day}: {await cli_rows(day)}"
"""


def test_the_cli_creates_lists_controls_and_backfills_schedules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from wfkit.cli import main

    (tmp_path / "cli_flows.py").write_text(FLOWS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    runner, db = CliRunner(), ["--db", str(tmp_path / "cli.duckdb")]
    created = runner.invoke(
        main, ["schedule", "create", "cli_flows:cli_nightly", "--id", "etl", "--cron", "0 2 * * *", "--timezone", "Europe/Berlin", "--arg", "orders", *db]
    )
    assert created.exit_code == 0, created.output
    assert "schedule etl: cli_nightly cron 0 2 * * * (Europe/Berlin)" in created.output
    bad = runner.invoke(main, ["schedule", "create", "cli_flows:cli_nightly", "--id", "bad", "--cron", "0 25 * * *", *db])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines()[-1] == "error: bad cron expression '0 25 * * *': Bad hour"
    paused = runner.invoke(main, ["schedule", "pause", "etl", *db])
    assert paused.exit_code == 0
    assert "(paused)" in paused.output
    listed = runner.invoke(main, ["schedule", "ls", *db])
    assert "etl" in listed.output
    assert "paused" in listed.output
    missing = runner.invoke(main, ["schedule", "unpause", "nope", *db])
    assert missing.exit_code == 1
    assert "no open schedule 'nope'" in missing.output
    filled = runner.invoke(main, ["backfill", "etl", "--start", "2026-11-01", "--end", "2026-11-04", "--max-concurrent", "2", "--module", "cli_flows", *db])
    assert filled.exit_code == 0, filled.output
    assert "3 firings, 3 completed, 0 failed" in filled.output
    triggered = runner.invoke(main, ["schedule", "trigger", "etl", "--module", "cli_flows", *db])
    assert triggered.exit_code == 0, triggered.output
    assert "-manual-1" in triggered.output
    deleted = runner.invoke(main, ["schedule", "delete", "etl", *db])
    assert "deleted" in deleted.output
    assert "no schedules" in runner.invoke(main, ["schedule", "ls", *db]).output
    with wfkit.open_histories(tmp_path / "cli.duckdb") as histories:
        results = histories.sql("SELECT workflow_id, status FROM workflows WHERE workflow_type = 'cli_nightly' ORDER BY workflow_id").fetchall()
    assert [w for w, _ in results][1:] == [f"etl-backfill-2026-11-0{d}T01:00:00Z" for d in (1, 2, 3)]
    assert {s for _, s in results} == {"Completed"}


async def test_the_report_and_the_monitor_show_a_schedules_firings(db_path: Path, tmp_path: Path) -> None:
    from wfkit.ui._monitor import Monitor

    engine, clock, handle = await _overlap_case(db_path, "skip")
    async with engine:
        await _tick(engine, clock, 1)
        await _tick(engine, clock, 2)  # skipped: the first still runs
        monitor = Monitor(engine, refresh=60)
        try:
            await monitor.schedules.refresh()
            (row,) = monitor.schedules.rows.children
            text = row.children[0].children[0].value
            assert "<b>ov</b>" in text
            assert "skipped: ov-2026-12-01T00:01:00Z still running (overlap=skip)" in text
            toggle, trigger = row.children[0].children[1:]
            assert toggle.description == "pause"
            trigger.click()
            await _until(lambda: len(_firings(engine, "ov")) == 3, "the monitor's trigger")
            toggle.click()
            await _until(lambda: monitor.schedules.descriptions and monitor.schedules.descriptions[0].paused, "the monitor's pause")
        finally:
            monitor.close()
        report = engine.histories.report("schedule/ov", tmp_path / "schedule.html").read_text()
    assert "<h2>Firings <small>(3)</small></h2>" in report
    assert "ov-2026-12-01T00:01:00Z still running (overlap=skip)" in report
    assert "id='fig-firings'" in report
    figure = wfkit.plot.firings(handle.history())
    assert sorted(trace.name for trace in figure.data) == ["skipped (2)", "started (1)"]


async def test_a_long_running_schedule_continues_as_new_and_keeps_its_state(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wfkit._schedules import _workflows

    monkeypatch.setattr(_workflows, "CONTINUE_AFTER", 3)
    clock = wfkit.FakeClock(start=DEC_1)
    async with wfkit.Engine.open(db_path, clock=clock) as engine:
        handle = await engine.schedule(sc_job, "orders", id="can", every=60)
        for i in range(7):
            clock.advance(60)
            await _until(lambda i=i: len(_runs(engine, "sc_job", "Completed")) == i + 1, f"run {i + 1}")
        await _until(lambda: len(_runs(engine, "wfkit.schedule")) == 3, "three scheduler runs")
        statuses = [status for _, status in _runs(engine, "wfkit.schedule")]
        assert statuses == ["ContinuedAsNew", "ContinuedAsNew", "Running"]
        described = await handle.describe()
        assert described.firings == 7
        assert described.last is not None
        assert described.last["workflow_id"] == "can-2026-12-01T00:07:00Z"
        await handle.pause()
        assert (await handle.describe()).paused
    with wfkit.open_histories(db_path) as histories:  # replayed from the latest scheduler run's history alone
        (offline,) = histories.schedules()
    assert offline.firings == 7
    assert offline.paused
