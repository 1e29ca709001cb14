"""One live engine per database file per process, and owner epochs that fence a stale writer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import duckdb
import pytest

import wfkit
from wfkit._history._events import Event, EventType
from wfkit._store._store import RunRow, Store

CALLS: list[str] = []


@wfkit.activity
async def o_side_effect(tag: str) -> str:
    CALLS.append(tag)
    await asyncio.sleep(0.2)
    return tag


@wfkit.workflow
async def o_flow(tag: str) -> str:
    return await o_side_effect(tag)


def _event_count(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    finally:
        con.close()


async def test_a_second_open_of_a_file_this_process_holds_is_refused_and_names_the_live_engine(db_path: Path) -> None:
    CALLS.clear()
    async with wfkit.Engine.open(db_path) as engine:
        handle = await engine.start(o_flow, "once", id="o-1")
        with pytest.raises(wfkit.StoreLockedError, match=r"already open in this process by <wfkit.Engine .*reuse=True.*close\(\)"):
            await wfkit.Engine.open(db_path)
        # The same file through a symlink and a relative path is the same file.
        link = db_path.parent / "link.duckdb"
        link.symlink_to(db_path)
        with pytest.raises(wfkit.StoreLockedError):
            await wfkit.Engine.open(link)
        relative = os.path.relpath(db_path)
        assert await wfkit.Engine.open(relative, reuse=True) is engine
        assert wfkit.Engine.live(link) is engine
        assert await handle.result() == "once"
        history = engine.history("o-1")
    assert CALLS == ["once"]
    assert not [e for e in history if e.attributes.get("timeout_type") == "EngineRestart"]
    assert wfkit.Engine.live(db_path) is None
    async with wfkit.Engine.open(db_path) as again:  # closed: the file may be opened again
        assert (await again.get_handle("o-1").result()) == "once"


async def test_in_memory_engines_stay_independent() -> None:
    async with wfkit.Engine.open() as first, wfkit.Engine.open() as second:
        assert first is not second
        assert await (await first.start(o_flow, "a")).result() == "a"
        assert second.sql("SELECT count(*) FROM workflows").fetchall() == [(0,)]


async def test_wfkit_run_uses_the_engine_this_process_already_has_on_the_file(db_path: Path) -> None:
    CALLS.clear()
    async with wfkit.Engine.open(db_path) as engine:
        # A notebook cell calling the sync helper while the kernel holds an engine on the same file.
        assert wfkit.run(o_flow, "via-run", db=db_path, id="o-run") == "via-run"
        assert not engine.closed
        assert engine.history("o-run").events[-1].event_type is EventType.WorkflowExecutionCompleted
    assert CALLS == ["via-run"]


def test_a_store_with_a_stale_owner_epoch_cannot_append_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fenced.duckdb"
    old = Store.open(path)
    new = Store.open(path)  # a second owner in the same process: DuckDB shares the database between them
    try:
        assert old.epoch is not None
        assert new.epoch == old.epoch + 1
        row = RunRow("r1", "w1", "wf", "default", [], 1_800_000_000.0)
        started = Event(1, EventType.WorkflowExecutionStarted, 1_800_000_000.0, {"workflow_type": "wf", "workflow_id": "w1"})
        with pytest.raises(
            wfkit.StoreFencedError, match=rf"epoch {old.epoch}\) was taken over by a newer engine in this process \(epoch {new.epoch}\); nothing was written"
        ):
            old.write([("r1", started)], [row], [])
        with pytest.raises(wfkit.StoreFencedError):
            old.write([("r1", started)], [], [])  # the one-statement path is fenced too
        assert new.sql("SELECT count(*) FROM events").fetchall() == [(0,)]
        assert new.sql("SELECT count(*) FROM workflows").fetchall() == [(0,)]
        new.write([("r1", started)], [row], [])
        assert new.sql("SELECT epoch FROM wfkit_owner").fetchall() == [(new.epoch,)]
    finally:
        old.close()
        new.close()
    assert _event_count(path) == 1


async def test_an_engine_fenced_by_a_newer_store_stops_and_records_nothing_more(db_path: Path) -> None:
    CALLS.clear()
    engine = await wfkit.Engine.open(db_path)
    try:
        handle = await engine.start(o_flow, "fenced", id="o-fenced")
        before = engine.sql("SELECT count(*) FROM events").fetchall()[0][0]
        intruder = Store.open(db_path)  # bypasses the engine registry, as a leaked or hand-made store would
        try:
            with pytest.raises(wfkit.StoreFencedError):
                await asyncio.wait_for(handle.result(), 5)
            with pytest.raises(wfkit.StoreFencedError):
                await engine.start(o_flow, "more")
            assert intruder.sql("SELECT count(*) FROM events").fetchall()[0][0] == before
        finally:
            intruder.close()
    finally:
        await engine.close()
    assert engine.closed


async def test_importing_into_a_file_a_live_engine_holds_is_refused(db_path: Path, tmp_path: Path) -> None:
    async with wfkit.Engine.open(db_path) as engine:
        await (await engine.start(o_flow, "x", id="o-x")).result()
        engine.histories.export(tmp_path / "out")
        with pytest.raises(wfkit.StoreLockedError, match="close it"):
            wfkit.import_histories(tmp_path / "out", db=db_path)
        assert await (await engine.start(o_flow, "still", id="o-still")).result() == "still"  # not fenced
