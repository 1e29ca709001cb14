"""Export to Parquet / JSON lines and import back: every event and run row survives the round trip."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import wfkit
from tests.support.analytics_data import make_db

TABLES = {
    "events": "SELECT * FROM events ORDER BY run_id, event_id",
    "workflows": "SELECT * FROM workflows ORDER BY run_id",
    "runs": "SELECT * FROM runs ORDER BY run_id",
    "activities": "SELECT * FROM activities ORDER BY run_id, activity_id, attempt",
    "timers": "SELECT * FROM timers ORDER BY run_id, timer_id",
    "signals": "SELECT * FROM signals ORDER BY run_id, event_id",
    "activity_stats": "SELECT * FROM activity_stats ORDER BY activity_type",
}


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: con.execute(query).fetchall() for name, query in TABLES.items()}
    finally:
        con.close()


@pytest.mark.parametrize(("fmt", "partition"), [("parquet", False), ("parquet", True), ("jsonl", False), ("jsonl", True)])
def test_round_trip_preserves_every_event_and_run(tmp_path: Path, fmt: str, partition: bool) -> None:
    source = make_db(tmp_path / "source.duckdb")
    steps: list[tuple[str, int, int]] = []
    with wfkit.open_histories(source) as h:
        manifest = h.export(tmp_path / "out", fmt, partition_by_date=partition, progress=lambda *a: steps.append(a))
    assert manifest["rows"] == {"events": 103, "workflows": 5, "runs": 5, "activities": 12}
    assert manifest["partitioned_by_date"] is partition
    assert manifest["file_format"] == fmt
    assert [s[0] for s in steps] == ["events", "workflows", "runs", "activities", "done"]
    suffix = ".parquet" if fmt == "parquet" else ".jsonl"
    if partition:
        assert sorted(p.name for p in (tmp_path / "out" / "events").iterdir()) == ["date=2027-01-15"]
    else:
        assert (tmp_path / "out" / f"events{suffix}").is_file()
    counts = wfkit.import_histories(tmp_path / "out", db=tmp_path / "copy.duckdb")
    assert counts == {"runs": 5, "events": 103, "skipped_runs": 0}
    before, after = dump(source), dump(tmp_path / "copy.duckdb")
    for name in TABLES:
        assert after[name] == before[name], name
    # Importing again adds nothing.
    assert wfkit.import_histories(tmp_path / "out", db=tmp_path / "copy.duckdb") == {"runs": 0, "events": 0, "skipped_runs": 5}
    assert dump(tmp_path / "copy.duckdb") == before


async def test_engine_export_round_trips_a_live_database(engine: wfkit.Engine, tmp_path: Path) -> None:
    @wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.01))
    async def x_flaky(n: int) -> dict[str, Any]:
        if wfkit.activity_info().attempt == 1:
            raise ValueError(f"attempt 1 of {n} fails")
        return {"n": n, "text": "<b>ü ✓ 'quoted' \"double\"</b>", "nested": [1.5, None, True]}

    @wfkit.workflow
    async def x_flow(n: int) -> Any:
        first = await x_flaky(n)
        await wfkit.wait_signal("go", timeout=60)
        return first

    done = await engine.start(x_flow, 1, id="done")
    await asyncio.sleep(0.1)
    await done.signal("go")
    await done.result()
    waiting = await engine.start(x_flow, 2, id="waiting")  # still open at export time
    await asyncio.sleep(0.1)
    manifest = engine.histories.export(tmp_path / "out")
    assert manifest["rows"]["workflows"] == 2
    await waiting.terminate("test over")
    wfkit.import_histories(tmp_path / "out", db=tmp_path / "copy.duckdb")
    copy = dump(tmp_path / "copy.duckdb")
    events = engine.sql(TABLES["events"]).fetchall()
    copied_open = [e for e in copy["events"] if e[0] == waiting.run_id]
    assert copied_open
    assert copied_open == [e for e in events if e[0] == waiting.run_id][: len(copied_open)]
    assert {r[0]: r[4] for r in copy["workflows"]} == {done.run_id: "Completed", waiting.run_id: "Running"}
    assert [e for e in copy["events"] if e[0] == done.run_id] == [e for e in events if e[0] == done.run_id]


def test_import_rejects_a_broken_history_and_imports_nothing(tmp_path: Path) -> None:
    source = make_db(tmp_path / "source.duckdb")
    with wfkit.open_histories(source) as h:
        h.export(tmp_path / "out")
    events = tmp_path / "out" / "events.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM read_parquet(?) WHERE NOT (run_id = 'run-c' AND event_id = 7)) TO ? (FORMAT parquet)", [str(events), str(tmp_path / "gap.parquet")]
    )
    con.close()
    shutil.move(tmp_path / "gap.parquet", events)
    with pytest.raises(wfkit.HistoryFormatError, match=r"run-c.*not 1\.\.24"):
        wfkit.import_histories(tmp_path / "out", db=tmp_path / "copy.duckdb")
    assert dump(tmp_path / "copy.duckdb")["events"] == []


def test_import_of_events_alone_rebuilds_the_run_rows(tmp_path: Path) -> None:
    source = make_db(tmp_path / "source.duckdb")
    with wfkit.open_histories(source) as h:
        h.export(tmp_path / "out", "jsonl")
    counts = wfkit.import_histories(tmp_path / "out" / "events.jsonl", db=tmp_path / "copy.duckdb")
    assert counts["runs"] == 5
    before, after = dump(source), dump(tmp_path / "copy.duckdb")
    assert after["events"] == before["events"]
    assert after["runs"] == before["runs"]  # status, durations and lineage all come from the events
    con = duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True)
    assert con.execute("SELECT run_id, status, history_length FROM workflows ORDER BY 1").fetchall() == [
        ("run-a", "Completed", 24),
        ("run-b", "Completed", 22),
        ("run-c", "Failed", 25),
        ("run-d", "Completed", 24),
        ("run-e", "Running", 8),
    ]
    con.close()


def test_export_refuses_to_overwrite_by_accident(tmp_path: Path) -> None:
    source = make_db(tmp_path / "source.duckdb")
    with wfkit.open_histories(source) as h:
        h.export(tmp_path / "out")
        with pytest.raises(FileExistsError, match="not empty"):
            h.export(tmp_path / "out")
        h.export(tmp_path / "out", overwrite=True, partition_by_date=True)
        assert not (tmp_path / "out" / "events.parquet").exists()
        assert (tmp_path / "out" / "events").is_dir()
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "thesis.tex").write_text("precious")
        with pytest.raises(FileExistsError, match="not a wfkit export"):
            h.export(tmp_path / "mine", overwrite=True)
        assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
        with pytest.raises(ValueError, match="format"):
            h.export(tmp_path / "csv", "csv")


def test_large_exports_are_partitioned_by_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wfkit._analytics import _transfer
    from wfkit._store._schema import SCHEMA_VERSION

    monkeypatch.setattr(_transfer, "PARTITION_THRESHOLD", 100)
    with wfkit.open_histories(make_db(tmp_path / "source.duckdb")) as h:
        assert h.export(tmp_path / "big")["partitioned_by_date"] is True  # 103 events > 100
    manifest = json.loads((tmp_path / "big" / "wfkit-export.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["rows"]["events"] == 103
    assert list((tmp_path / "big" / "activities").glob("date=*/*.parquet"))


def test_an_export_directory_opens_for_analysis_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    source = make_db(tmp_path / "source.duckdb")
    with wfkit.open_histories(source) as h:
        h.export(tmp_path / "out", partition_by_date=True)
        expected = h.stats().fetchall()
    with wfkit.open_histories(tmp_path / "out") as h:
        assert h.stats().fetchall() == expected
        assert h.history("etl-a").run_id == "run-a"
    manifest = tmp_path / "out" / "wfkit-export.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"schema_version": 99}))
    with pytest.raises(wfkit.SchemaVersionError):
        wfkit.import_histories(tmp_path / "out", db=tmp_path / "copy.duckdb")
    with pytest.raises(FileNotFoundError):
        wfkit.import_histories(tmp_path / "nothing-here", db=tmp_path / "copy.duckdb")
