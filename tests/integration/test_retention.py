"""Retention: `engine.purge`, the `retention=` policy and `wfkit purge` delete closed runs in small batches."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import wfkit
import wfkit._faults
from tests.support.helpers import run_on_new_loop
from wfkit._faults import FaultPlan
from wfkit.cli import main

DAY = datetime.timedelta(days=1)


@wfkit.activity
async def ret_step(i: int) -> int:
    return i * 2


@wfkit.workflow
async def ret_job(i: int) -> int:
    return await ret_step(i)


@wfkit.workflow
async def ret_other(i: int) -> int:
    return await ret_step(i)


@wfkit.workflow
async def ret_waits() -> str:
    result: str = await wfkit.wait_signal("go")
    return result


async def _finish(engine: wfkit.Engine, workflow: wfkit.WorkflowDefinition, n: int, prefix: str) -> list[str]:  # type: ignore[type-arg]
    handles = [await engine.start(workflow, i, id=f"{prefix}-{i}") for i in range(n)]
    for handle in handles:
        await handle.result()
    return [h.run_id for h in handles]


def _count(engine: wfkit.Engine, table: str, run_ids: list[str]) -> int:
    return int(engine.sql(f"SELECT count(*) FROM {table} WHERE run_id IN (SELECT unnest(?))", [run_ids]).fetchall()[0][0])


async def test_purge_deletes_old_closed_runs_in_batches_and_never_open_ones(tmp_path: Path) -> None:
    clock = wfkit.FakeClock()
    async with await wfkit.Engine.open(tmp_path / "purge.duckdb", clock=clock) as engine:
        old = await _finish(engine, ret_job, 35, "old")
        waiting = await engine.start(ret_waits, id="open-run")
        clock.advance(3 * 86400)
        recent = await _finish(engine, ret_job, 5, "recent")

        report = await engine.purge(before=2 * DAY, batch_size=10)

        assert (report.runs, report.batches) == (35, 4)
        assert sorted(report.run_ids) == sorted(old)
        assert report.events == 35 * 11  # started, task x3, activity x3, task x3, completed
        assert _count(engine, "workflows", old) == _count(engine, "events", old) == 0
        assert _count(engine, "runs", old) == _count(engine, "activities", old) == 0
        assert _count(engine, "runs", recent) == 5
        assert _count(engine, "runs", [waiting.run_id]) == 1, "open runs are never purged"
        with pytest.raises(wfkit.WorkflowNotFoundError):
            engine.get_handle("old-3")
        # the engine goes on as before, and the open run still finishes
        await waiting.signal("go", "done")
        assert await waiting.result() == "done"
        assert (await engine.purge()).runs == 6, "with no filter every closed run goes"


async def test_filters_and_dry_run(tmp_path: Path) -> None:
    async with await wfkit.Engine.open(tmp_path / "filters.duckdb") as engine:
        jobs = await _finish(engine, ret_job, 3, "job")
        others = await _finish(engine, ret_other, 2, "other")

        dry = await engine.purge(workflow=ret_other, dry_run=True)
        assert dry.dry_run
        assert sorted(dry.run_ids) == sorted(others)
        assert dry.events == 22
        assert _count(engine, "workflows", others) == 2, "a dry run deletes nothing"

        assert (await engine.purge(workflow="ret_other", status=["completed"])).runs == 2
        assert (await engine.purge(status="Failed")).runs == 0
        assert _count(engine, "workflows", jobs) == 3

        with pytest.raises(wfkit.ArgumentError, match="open runs are never purged"):
            await engine.purge(status="Running")
        with pytest.raises(wfkit.ArgumentError, match="not a closed run's status"):
            await engine.purge(status="Done")
        with pytest.raises(wfkit.ArgumentError, match="not an ISO date"):
            await engine.purge(before="last tuesday")
        with pytest.raises(wfkit.ArgumentError, match="batch_size=0"):
            await engine.purge(batch_size=0)


async def test_work_goes_on_while_a_large_purge_runs(tmp_path: Path) -> None:
    async with await wfkit.Engine.open(tmp_path / "busy.duckdb") as engine:
        await _finish(engine, ret_job, 300, "bulk")
        purge = asyncio.ensure_future(engine.purge(batch_size=20))
        during = await _finish(engine, ret_other, 20, "during")
        report = await purge
        assert report.runs >= 300
        assert report.batches >= 15
        assert report.longest_batch_s < 0.5, report
        assert all(r not in report.run_ids for r in during) or report.runs > 300


async def test_a_purge_that_fails_mid_batch_deletes_nothing_of_that_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await wfkit.Engine.open(tmp_path / "fault.duckdb") as engine:
        runs = await _finish(engine, ret_job, 4, "f")
        monkeypatch.setattr(wfkit._faults, "_PLAN", FaultPlan("mid_purge:raise"))
        with pytest.raises(OSError, match="injected fault at mid_purge"):
            await engine.purge()
        monkeypatch.setattr(wfkit._faults, "_PLAN", FaultPlan(""))
        assert _count(engine, "workflows", runs) == 4
        assert _count(engine, "events", runs) == 44
        await _finish(engine, ret_job, 1, "after")
        assert (await engine.purge()).runs == 5


async def test_space_of_purged_runs_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "space.duckdb"
    async with await wfkit.Engine.open(path) as engine:
        await _finish(engine, ret_job, 400, "a")
        await engine.in_store_thread(lambda store: store.reclaim())
        size_before = path.stat().st_size
        report = await engine.purge()
        assert report.free_blocks > 0
        await _finish(engine, ret_job, 400, "b")
        await engine.in_store_thread(lambda store: store.reclaim())
    assert path.stat().st_size <= size_before * 1.25, "the second load reuses the blocks the purge freed"


async def test_a_retention_policy_purges_on_its_own(tmp_path: Path) -> None:
    clock = wfkit.FakeClock()
    async with await wfkit.Engine.open(tmp_path / "policy.duckdb", clock=clock, retention=DAY) as engine:
        old = await _finish(engine, ret_job, 3, "old")
        clock.advance(86400 + 3600)  # past the retention, and an hour for the policy's next look
        for _ in range(100):
            await asyncio.sleep(0.01)
            if _count(engine, "workflows", old) == 0:
                break
        assert _count(engine, "workflows", old) == 0
        new = await _finish(engine, ret_job, 1, "new")
        clock.advance(3600)  # the policy looks again: the new run is younger than a day
        await asyncio.sleep(0.2)
        assert _count(engine, "workflows", new) == 1
    with pytest.raises(wfkit.ArgumentError, match="retention="):
        await wfkit.Engine.open(tmp_path / "bad.duckdb", retention=datetime.timedelta(0))


def test_cli_purge(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"

    async def make() -> list[str]:
        async with await wfkit.Engine.open(db) as engine:
            return await _finish(engine, ret_job, 3, "c")

    runs = run_on_new_loop(make())
    runner = CliRunner()
    dry = runner.invoke(main, ["purge", "--db", str(db), "--dry-run", "--status", "Completed"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 3 runs (33 events)" in dry.output
    assert runs[0][:12] in dry.output
    kept = runner.invoke(main, ["purge", "--db", str(db), "--older-than", "1"])
    assert kept.exit_code == 0
    assert "deleted 0 runs" in kept.output
    done = runner.invoke(main, ["purge", "--db", str(db), "--workflow", "ret_job"])
    assert done.exit_code == 0, done.output
    assert "deleted 3 runs (33 events)" in done.output
    both = runner.invoke(main, ["purge", "--db", str(db), "--before", "2026-01-01", "--older-than", "1"])
    assert both.exit_code != 0
    assert "not both" in both.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    con.close()
