"""Reopening a file resumes open runs; re-registered code takes over; bad files give one clear error."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import wfkit
from tests.support.helpers import event_types

E = wfkit.EventType
RAN: list[str] = []


@wfkit.activity
async def r_step(name: str) -> str:
    RAN.append(name)
    return name


@wfkit.activity
async def r_other(name: str) -> str:
    return name


@wfkit.workflow
async def r_waits(seconds: float) -> list[str]:
    first = await r_step("before")
    await wfkit.sleep(seconds)
    approval = await wfkit.wait_signal("approve")
    second = await r_step(f"after-{approval}")
    return [first, second]


async def test_reopening_resumes_timers_and_signals_without_rerunning_activities(db_path: Path) -> None:
    RAN.clear()
    async with wfkit.Engine.open(db_path) as engine:
        await engine.start(r_waits, 0.3, id="resume-me")
        for _ in range(100):
            if RAN:
                break
            await asyncio.sleep(0.01)
    assert RAN == ["before"]
    async with wfkit.Engine.open(db_path) as engine:
        handle = engine.get_handle("resume-me")
        assert handle.describe().status == "Running"
        await asyncio.sleep(0.4)  # the timer fires after the restart
        await handle.signal("approve", "yes")
        assert await handle.result() == ["before", "after-yes"]
        history = engine.history("resume-me")
    assert RAN == ["before", "after-yes"]
    assert [e.event_id for e in history] == list(range(1, len(history) + 1))
    assert event_types(history).count("TimerFired") == 1


@wfkit.activity
async def r_slow(name: str) -> str:
    RAN.append(f"start:{name}")
    await asyncio.sleep(0.5)
    return name


@wfkit.workflow
async def r_in_flight() -> str:
    return await r_slow("x")


async def test_an_activity_in_flight_at_close_runs_again_with_a_higher_attempt(db_path: Path) -> None:
    RAN.clear()
    async with wfkit.Engine.open(db_path, shutdown_grace=0) as engine:  # no grace: the attempt is cut short
        await engine.start(r_in_flight, id="in-flight")
        await asyncio.sleep(0.1)
    async with wfkit.Engine.open(db_path) as engine:
        assert await engine.get_handle("in-flight").result() == "x"
        history = engine.history("in-flight")
    assert RAN == ["start:x", "start:x"]
    attempts = [(e.event_type.value, e.attempt) for e in history if e.event_type.value.startswith("ActivityTask") and e.attempt]
    assert attempts == [("ActivityTaskStarted", 1), ("ActivityTaskTimedOut", 1), ("ActivityTaskStarted", 2), ("ActivityTaskCompleted", 2)]
    lost = next(e for e in history if e.event_type is E.ActivityTaskTimedOut)
    assert lost.attributes["timeout_type"] == "EngineShutdown"


async def test_close_lets_an_activity_in_flight_finish_within_its_grace_period(db_path: Path) -> None:
    RAN.clear()
    async with wfkit.Engine.open(db_path) as engine:
        await engine.start(r_in_flight, id="in-flight")
        await asyncio.sleep(0.1)
    async with wfkit.Engine.open(db_path) as engine:
        assert await engine.get_handle("in-flight").result() == "x"
    assert RAN == ["start:x"]


async def test_a_run_whose_code_is_missing_waits_untouched_until_registered(db_path: Path) -> None:
    registry = wfkit.Registry()

    @wfkit.workflow(name="r_later", registry=registry)
    async def r_later_v1() -> str:
        await wfkit.wait_signal("go")
        return "done"

    async with wfkit.Engine.open(db_path, registry=registry) as engine:
        await engine.start(r_later_v1, id="later")
    empty = wfkit.Registry()
    async with wfkit.Engine.open(db_path, registry=empty) as engine:
        assert [r.workflow_id for r in engine.waiting_for_code()] == ["later"]
        await engine.get_handle("later").signal("go")  # recorded, waits for code
        length = len(engine.history("later"))
        await asyncio.sleep(0.05)
        assert len(engine.history("later")) == length
        status = engine.sql("select status from workflows where workflow_id = 'later'").fetchall()
        assert status == [("Running",)]

        @wfkit.workflow(name="r_later", registry=empty)
        async def r_later_v2() -> str:
            await wfkit.wait_signal("go")
            return "done"

        assert await engine.get_handle("later").result() == "done"
        assert engine.waiting_for_code() == []


NOTEBOOK = wfkit.Registry()


async def test_redefining_a_workflow_in_a_notebook_switches_open_runs_and_reports_nondeterminism(db_path: Path) -> None:
    @wfkit.workflow(name="nb", registry=NOTEBOOK)
    async def nb_v1() -> list[str]:
        a = await r_step("a")
        await wfkit.wait_signal("next")
        return [a, "v1"]

    async with wfkit.Engine.open(db_path, registry=NOTEBOOK) as engine:
        compatible = await engine.start(nb_v1, id="nb-ok")
        broken = await engine.start(nb_v1, id="nb-broken")
        await asyncio.sleep(0.1)

        @wfkit.workflow(name="nb", registry=NOTEBOOK)  # the cell is re-run with a compatible change
        async def nb_v2() -> list[str]:
            a = await r_step("a")
            await wfkit.wait_signal("next")
            return [a, "v2"]

        await compatible.signal("next")
        assert await compatible.result() == ["a", "v2"]

        with pytest.warns(RuntimeWarning, match="nb-broken .* is incompatible"):  # replayed at once on the new code

            @wfkit.workflow(name="nb", registry=NOTEBOOK)  # an incompatible change
            async def nb_v3() -> list[str]:
                b = await r_other("b-first")
                await wfkit.wait_signal("next")
                return [b, "v3"]

        await broken.signal("next")  # recorded; the run waits for compatible code
        blocked = engine.blocked_runs()
        assert [b.workflow_id for b in blocked] == ["nb-broken"]
        assert "recorded ActivityTaskScheduled(r_step)" in blocked[0].blocked
        assert "issued ActivityTaskScheduled(r_other)" in blocked[0].blocked
        assert E.WorkflowTaskFailed not in {e.event_type for e in engine.history("nb-broken")}  # the check is a dry run

        @wfkit.workflow(name="nb", registry=NOTEBOOK)  # fixed again: the run continues
        async def nb_v4() -> list[str]:
            a = await r_step("a")
            await wfkit.wait_signal("next")
            return [a, "v4"]

        assert await broken.result() == ["a", "v4"]


def test_a_file_held_by_another_process_gives_a_clear_error(db_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db_path)!r}); print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(wfkit.StoreLockedError, match=rf"open in another process by PID {holder.pid}"):
            wfkit.run(r_in_flight, db=db_path)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_file_that_is_not_duckdb_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are not the droids" * 200)
    with pytest.raises(wfkit.StoreCorruptError, match="not a DuckDB database file"):
        wfkit.run(r_in_flight, db=path)
    assert path.read_bytes().startswith(b"these are not"), "the file must be left as it was"


def test_a_duckdb_file_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sales.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table sales(id int)")
    con.close()
    with pytest.raises(wfkit.NotAWfkitDatabaseError, match="tables: sales"):
        wfkit.run(r_in_flight, db=path)


async def test_a_file_from_a_newer_wfkit_is_refused(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path):
        pass
    con = duckdb.connect(str(db_path))
    con.execute("insert into wfkit_schema values (999, now())")
    con.close()
    with pytest.raises(wfkit.SchemaVersionError, match="version 999"):
        await wfkit.Engine.open(db_path)


async def test_restart_is_fast_with_many_open_runs(db_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        for i in range(200):
            await engine.start(r_waits, 3600, id=f"wait-{i}")
    began = time.perf_counter()
    async with wfkit.Engine.open(db_path) as engine:
        elapsed = time.perf_counter() - began
        assert engine.health().open_runs == 200
    assert elapsed < 5  # generous: this is a correctness check, bench/ measures the speed


@wfkit.workflow
async def r_many_steps(n: int) -> int:
    for i in range(n):
        await r_other(str(i))
    return n


async def test_store_jobs_and_small_commits_never_share_the_writer_at_once(tmp_path: Path) -> None:
    # A bulk job on the DuckDB thread (an import) holds a transaction open; the small commits the
    # engine would otherwise write inline on the loop must wait for that thread instead.
    def slow_transaction(store: object) -> int:
        cur = store._writer  # type: ignore[attr-defined]
        cur.begin()
        time.sleep(0.3)
        count = int(cur.execute("SELECT count(*) FROM events").fetchone()[0])
        cur.commit()
        return count

    async with await wfkit.Engine.open(tmp_path / "jobs.duckdb") as engine:
        handle = await engine.start(r_many_steps, 30)
        for _ in range(3):
            await engine.in_store_thread(slow_transaction)
        assert await asyncio.wait_for(handle.result(), 20) == 30
        assert engine.health().commit_error is None
