"""Live reads: while an engine in one process holds a file, other processes read it through that engine."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import wfkit
from wfkit._store._live import ChangeLog, LiveReplica

WRITER = Path(__file__).parent.parent / "support" / "live_writer.py"
ROOT = Path(__file__).parent.parent.parent


def _start_writer(db: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, str(WRITER), str(db), str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    return writer


def _gapless(histories: wfkit.Histories) -> int:
    """Every run's event ids are 1..n (a consistent prefix of its history); returns the events seen."""
    rows = histories.sql("SELECT run_id, count(*), min(event_id), max(event_id) FROM events GROUP BY run_id").fetchall()
    for run_id, count, first, last in rows:
        assert (first, last) == (1, count), f"run {run_id}: event ids {first}..{last} for {count} events"
    return sum(count for _, count, _, _ in rows)


GAPLESS = "SELECT run_id, count(*) AS n, min(event_id) AS first, max(event_id) AS last FROM events GROUP BY run_id"


def _cli_sql(db: Path, query: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from wfkit.cli import main; main()", "sql", "--db", str(db), "--json", query]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)


def test_a_reader_in_another_process_sees_committed_work_while_the_writer_runs(tmp_path: Path) -> None:
    db = tmp_path / "live.duckdb"
    writer = _start_writer(db, 14)
    try:
        with pytest.raises(wfkit.StoreLockedError):
            wfkit.run(wfkit.workflow(name="lw_never")(_never), db=db)  # a second writer is still refused
        time.sleep(3)  # seconds 0-2: the writer alone
        seen: list[int] = []
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:  # seconds 3-12: `wfkit sql` from another process, every 200 ms
            answer = _cli_sql(db, GAPLESS)
            assert answer.returncode == 0, answer.stderr
            rows = json.loads(answer.stdout)
            for row in rows:  # every run's event ids are 1..n: a consistent prefix of its history
                assert (row["first"], row["last"]) == (1, row["n"]), row
            seen.append(sum(row["n"] for row in rows))
            time.sleep(0.2)
        with wfkit.open_histories(db) as histories:
            assert _gapless(histories) >= seen[-1]
            with pytest.raises(wfkit.ArgumentError, match=r"read-only here \(DELETE refused\)"):
                histories.sql("DELETE FROM events")
            with pytest.raises(wfkit.ArgumentError, match=r"read-only here \(DROP refused\)"):
                histories.sql("SELECT 1; DROP TABLE events")
            assert histories.runs(limit=5).fetchall(), "the analytics work over a live file"
    finally:
        out, _ = writer.communicate(timeout=60)
    assert len(seen) >= 5
    assert seen == sorted(seen), "each answer holds everything the one before held"
    assert seen[-1] > seen[0], "answers are fresh: the reader sees the writer's progress"
    per_second = {int(k): int(n) for line in out.splitlines() if line.startswith("second") for _, k, n in [line.split()]}
    alone = statistics.median(per_second[k] for k in (0, 1, 2) if k in per_second)
    polled = statistics.median(per_second[k] for k in range(3, 13) if k in per_second)
    print(f"writer throughput: {alone} runs/s alone, {polled} runs/s while `wfkit sql` polls every 200 ms ({polled / alone - 1:+.1%}); {len(seen)} answers")
    # The cost is measured by bench/live_reads.py; here only that a polling reader never stops the writer
    # (on a loaded 2-core machine the reader's own process start takes CPU from the writer).
    assert polled > 0, per_second


async def _never() -> None:
    return None


def test_a_dead_engine_leaves_nothing_the_reader_waits_on(tmp_path: Path) -> None:
    db = tmp_path / "dead.duckdb"
    writer = _start_writer(db, 60)
    histories = wfkit.open_histories(db)
    try:
        assert _gapless(histories) >= 0
        time.sleep(0.5)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        started = time.perf_counter()
        with pytest.raises(wfkit.StoreError, match=r"stopped answering|closed the live-read connection"):
            histories.sql("SELECT count(*) FROM events").fetchall()
        assert time.perf_counter() - started < 2
    finally:
        histories.close()
        if writer.poll() is None:
            writer.kill()
        writer.communicate(timeout=30)
    with wfkit.open_histories(db) as reopened:  # the file is free now: read directly, past the stale socket
        assert "answered live" not in repr(reopened)
        assert _gapless(reopened) > 0


@wfkit.activity
async def lr_step(i: int) -> int:
    return i + 1


@wfkit.workflow
async def lr_job(i: int) -> int:
    return await lr_step(i)


def _snapshot(sql: Any) -> list[tuple[Any, ...]]:
    return sql("SELECT run_id, event_id, event_type, attributes::VARCHAR FROM events ORDER BY ALL").fetchall()  # type: ignore[no-any-return]


async def test_the_replica_follows_new_runs_closes_and_purges(tmp_path: Path) -> None:
    # The replica connects to the engine's socket like a reader in another process would.
    db = tmp_path / "replica.duckdb"
    async with await wfkit.Engine.open(db) as engine:
        for i in range(5):
            await (await engine.start(lr_job, i)).result()
        waiting = await engine.start(wfkit.workflow(name="lr_waits")(_waits))
        replica = LiveReplica(db, freshness=0)
        try:
            assert _snapshot(replica.con.sql) == _snapshot(engine.sql)
            for i in range(3):
                await (await engine.start(lr_job, i)).result()
            await waiting.signal("go", 1)
            await waiting.result()
            replica.refresh()
            assert _snapshot(replica.con.sql) == _snapshot(engine.sql)
            rows = "SELECT run_id, status, close_time FROM workflows ORDER BY run_id"
            assert replica.con.sql(rows).fetchall() == engine.sql(rows).fetchall()
            await engine.purge(workflow="lr_job")
            replica.refresh()
            assert _snapshot(replica.con.sql) == _snapshot(engine.sql)
            assert replica.con.sql("SELECT count(*) FROM runs").fetchall() == [(1,)]
        finally:
            replica.close()


async def _waits() -> int:
    value: int = await wfkit.wait_signal("go")
    return value


def test_the_change_log_says_when_a_reader_must_copy_everything() -> None:
    log = ChangeLog(keep=3)
    assert log.since(0) == (0, {})
    log.record({"a": 1, "b": 4})
    log.record({"a": 3})
    assert log.since(0) == (2, {"a": 1, "b": 4})
    assert log.since(1) == (2, {"a": 3})
    assert log.since(2) == (2, {})
    log.record({"c": 1})
    log.record({"d": 1})  # entry 1 falls out of the log
    assert log.since(0) == (4, None)
    assert log.since(1) == (4, {"a": 3, "c": 1, "d": 1})
    assert log.since(9) == (4, None), "a seq from another log"
