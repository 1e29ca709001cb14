"""Honest attempt records: an attempt lost with its engine (kill -9, or a close that outwaits it) ends when
the engine was last known alive, is status 'lost', and stays out of durations and retry rates."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

import wfkit
from wfkit._store._schema import SCHEMA_VERSION

WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    import wfkit

    side = Path(sys.argv[2])

    @wfkit.activity
    def slow_step() -> str:
        with side.open("a") as f:
            f.write(f"start {wfkit.activity_info().attempt}\\n")
        time.sleep(1.0)
        return "done"

    @wfkit.workflow
    async def lost_flow() -> str:
        return await slow_step()

    async def main() -> None:
        async with wfkit.Engine.open(sys.argv[1]) as engine:
            try:
                handle = engine.get_handle("lost-1")
            except wfkit.WorkflowNotFoundError:
                handle = await engine.start(lost_flow, id="lost-1")
            print("result", await handle.result(), flush=True)

    asyncio.run(main())
    """
)


def _wait_for(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} did not appear in {path} within {timeout}s")


def test_an_attempt_killed_mid_activity_ends_at_its_last_alive_time_and_stays_out_of_the_stats(tmp_path: Path) -> None:
    script, side, db = tmp_path / "worker.py", tmp_path / "side.txt", tmp_path / "lost.duckdb"
    script.write_text(WORKER)
    first = subprocess.Popen([sys.executable, str(script), str(db), str(side)], stdout=subprocess.DEVNULL)
    try:
        _wait_for(side, "start 1", 30)
        time.sleep(0.5)  # half-way through the 1 s step
        killed_at = time.time()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    time.sleep(3.0)  # downtime that must not count as the attempt's duration
    second = subprocess.run([sys.executable, str(script), str(db), str(side)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "result done" in second.stdout

    con = duckdb.connect(str(db), read_only=True)
    try:
        attempts = con.execute(
            "SELECT attempt, status, timeout_type, epoch(started_time), epoch(closed_time), duration_s FROM activities"
            " WHERE workflow_id = 'lost-1' ORDER BY attempt"
        ).fetchall()
        stats = con.execute("SELECT attempts, lost_attempts, retry_rate, attempt_failure_rate, p95_s, max_s FROM activity_stats").fetchall()
    finally:
        con.close()
    (a1, s1, t1, _, closed1, d1), (a2, s2, _, _, _, d2) = attempts
    assert (a1, s1, t1) == (1, "lost", "EngineRestart")
    assert (a2, s2) == (2, "completed")
    # It was alive until at most the kill, and its engine marked itself alive at most a second before it.
    assert closed1 <= killed_at + 0.05
    assert killed_at - closed1 <= wfkit._engine._writer.ALIVE_INTERVAL + 0.3
    assert 0.0 <= d1 < 0.9, d1
    assert d2 == pytest.approx(1.0, abs=0.3)
    # activity_stats: one counted attempt (the lost one is counted apart), no retry, p95 near 1 s.
    attempts_counted, lost, retry_rate, failure_rate, p95, longest = stats[0]
    assert (attempts_counted, lost, retry_rate, failure_rate) == (1, 1, 0.0, 0.0)
    assert p95 == pytest.approx(1.0, abs=0.3)
    assert longest < 1.5
    with wfkit.open_histories(db) as h:
        assert [r[5] for r in h.slowest().fetchall()] == ["completed"]
        assert sorted(r[5] for r in h.slowest(include_lost=True).fetchall()) == ["completed", "lost"]
        assert h.failures().fetchall() == []
        assert [r[8] for r in h.failures(include_lost=True).fetchall()] == ["lost"]
        bars = wfkit.plot.attempts(h.history("lost-1"))
        lost_bar = next(b for b in bars if b.outcome == "lost")
        assert lost_bar.ended == pytest.approx(closed1, abs=1e-3)
        assert "lost" in {t.name for t in wfkit.plot.timeline(h.history("lost-1")).data}
        report = h.report("lost-1", tmp_path / "lost.html").read_text()
        assert "<tr class='lost'>" in report


@wfkit.activity
def g_thread_step(seconds: float) -> str:
    time.sleep(seconds)
    return f"slept {seconds}"


@wfkit.workflow
async def g_flow(seconds: float) -> str:
    return await g_thread_step(seconds)


async def test_close_waits_for_a_short_thread_activity_and_records_it_completed(db_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    engine = await wfkit.Engine.open(db_path)
    handle = await engine.start(g_flow, 0.3, id="g-short")
    await asyncio.sleep(0.1)
    await engine.close(grace=2.0)
    assert "never retrieved" not in capfd.readouterr().err
    async with wfkit.Engine.open(db_path) as again:
        history = again.history("g-short")
        assert await again.get_handle("g-short").result() == "slept 0.3"
    assert [e.attributes.get("timeout_type") for e in history if e.event_type is wfkit.EventType.ActivityTaskTimedOut] == []
    del handle


async def test_close_records_a_thread_activity_that_outlives_the_grace_period_as_lost_and_the_next_open_resumes_it(
    db_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    engine = await wfkit.Engine.open(db_path)
    await engine.start(g_flow, 1.5, id="g-long")
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await engine.close(grace=0.3)
    assert time.monotonic() - began < 1.0, "close waits at most its grace period"
    err = capfd.readouterr().err
    assert "never retrieved" not in err
    assert "Traceback" not in err
    async with wfkit.Engine.open(db_path) as again:
        lost = [e for e in again.history("g-long") if e.event_type is wfkit.EventType.ActivityTaskTimedOut]
        assert [e.attributes["timeout_type"] for e in lost] == ["EngineShutdown"]
        assert await again.get_handle("g-long").result() == "slept 1.5"
        assert again.sql("SELECT status FROM activities WHERE workflow_id = 'g-long' ORDER BY attempt").fetchall() == [("lost",), ("completed",)]


async def test_a_schema_2_file_upgrades_in_place_and_keeps_its_runs(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path, shutdown_grace=0) as engine:
        await engine.start(g_flow, 0.05, id="g-old")
    con = duckdb.connect(str(db_path))
    con.execute("DROP TABLE wfkit_owner")
    con.execute("DROP VIEW payloads")  # schema 6's
    con.execute("DROP TABLE wfkit_payload_refs")
    con.execute("DROP TABLE wfkit_payloads")
    con.execute("DELETE FROM wfkit_schema WHERE version >= 3")  # as a file written by a wfkit of schema 2
    con.close()
    async with wfkit.Engine.open(db_path) as engine:
        assert engine.sql("SELECT max(version) FROM wfkit_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert engine.sql("SELECT epoch > 0 FROM wfkit_owner").fetchall() == [(True,)]
        assert await engine.get_handle("g-old").result() == "slept 0.05"
        assert engine.sql("SELECT count(*) FROM activities WHERE status = 'lost'").fetchall() == [(1,)]
