"""Table payloads: DataFrames and Arrow tables between activities, lossless, content-addressed, in the history file."""

from __future__ import annotations

import asyncio
import datetime
import decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import wfkit

SEEN: dict[str, Any] = {}


def rich_frame() -> pd.DataFrame:
    """A frame with what the JSON converter used to lose: DatetimeIndex, tz, Int64 with <NA>, category, decimal, nested."""
    index = pd.date_range("2024-01-01", periods=4, freq="h", tz="Europe/Paris", name="at")
    return pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "c": pd.Categorical(["a", "b", "a", None]),
            "d": [decimal.Decimal("1.10"), decimal.Decimal("2.25"), None, decimal.Decimal("-3.00")],
            "t": pd.to_datetime(["2024-03-01 12:00", None, "2024-03-02 00:00", "2024-03-03 00:00"]).tz_localize("UTC"),
            "day": [datetime.date(2024, 1, d) for d in range(1, 5)],
            "tags": [["x"], [], ["y", "z"], None],
            "point": [{"x": 1.0, "y": 2.0}, {"x": 0.5, "y": None}, None, {"x": 3.0, "y": 4.0}],
            "f": [0.5, np.nan, 2.5, 3.5],
            "s": pd.array(["p", None, "q", "r"], dtype="string"),
        },
        index=index,
    )


def multi_frame() -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["key", "n"])
    return pd.DataFrame({"v": [1.5, 2.5, 3.5]}, index=index)


@wfkit.activity
def p_make(which: str) -> pd.DataFrame:
    return rich_frame() if which == "rich" else multi_frame()


@wfkit.activity
def p_receive(df: pd.DataFrame) -> int:
    SEEN["frame"] = df
    return len(df)


@wfkit.workflow
async def p_pandas(which: str) -> int:
    df = await wfkit.execute_activity(p_make, which)
    return await wfkit.execute_activity(p_receive, df)


@pytest.mark.parametrize("which", ["rich", "multi"])
async def test_a_pandas_frame_reaches_the_next_activity_equal_index_and_dtypes_included(engine: wfkit.Engine, which: str) -> None:
    handle = await engine.start(p_pandas, which)
    expected = rich_frame() if which == "rich" else multi_frame()
    assert await handle.result() == len(expected)
    pd.testing.assert_frame_equal(SEEN["frame"], expected, check_dtype=True)
    # The event holds a small reference, not the data.
    [(attrs,)] = engine.sql("SELECT attributes FROM events WHERE event_type = 'ActivityTaskCompleted' AND activity_type = 'p_make'").fetchall()
    assert '"encoding":"wfkit/table"' in attrs
    assert len(attrs) < 2000


@wfkit.activity
def p_arrow() -> pa.Table:
    return pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})


@wfkit.activity
def p_as_polars(df: pl.DataFrame) -> str:
    SEEN["polars"] = df
    return type(df).__name__


@wfkit.activity
def p_as_pandas(df: pd.DataFrame) -> str:
    SEEN["pandas"] = df
    return type(df).__name__


@wfkit.activity
def p_as_relation(rel: duckdb.DuckDBPyRelation) -> int:
    return int(rel.aggregate("sum(a)").fetchall()[0][0])


@wfkit.activity
def p_untyped(value):  # type: ignore[no-untyped-def]
    SEEN["untyped"] = value
    return type(value).__module__.split(".")[0]


@wfkit.activity
def p_polars() -> pl.DataFrame:
    return pl.DataFrame({"a": [1, 2], "when": [datetime.datetime(2024, 1, 1), None]})


@wfkit.activity
def p_relation() -> duckdb.DuckDBPyRelation:
    return duckdb.sql("SELECT range AS a FROM range(5)")


@wfkit.workflow
async def p_convert() -> list[Any]:
    table = await wfkit.execute_activity(p_arrow)
    out: list[Any] = [
        await wfkit.execute_activity(p_as_polars, table),
        await wfkit.execute_activity(p_as_pandas, table),
        await wfkit.execute_activity(p_untyped, table),
    ]
    out.append(await wfkit.execute_activity(p_untyped, await wfkit.execute_activity(p_polars)))
    rel = await wfkit.execute_activity(p_relation)
    out.append(await wfkit.execute_activity(p_as_relation, rel))
    return out


async def test_an_annotation_asking_for_another_library_converts(engine: wfkit.Engine) -> None:
    handle = await engine.start(p_convert)
    assert await handle.result() == ["DataFrame", "DataFrame", "pyarrow", "polars", 10]
    assert SEEN["polars"].to_arrow().equals(pa.table({"a": [1, 2, 3], "b": ["x", "y", None]}).cast(SEEN["polars"].to_arrow().schema))
    assert SEEN["pandas"]["a"].tolist() == [1, 2, 3]
    assert SEEN["untyped"].equals(pl.DataFrame({"a": [1, 2], "when": [datetime.datetime(2024, 1, 1), None]}))


@wfkit.activity
def p_same() -> pd.DataFrame:
    return pd.DataFrame({"x": range(1000)})


@wfkit.workflow
async def p_twice() -> int:
    a = await wfkit.execute_activity(p_same)
    b = await wfkit.execute_activity(p_same)
    return len(a) + len(b)


async def test_the_same_table_is_stored_once(engine: wfkit.Engine) -> None:
    assert await (await engine.start(p_twice)).result() == 2000
    assert engine.sql("SELECT count(*) FROM wfkit_payloads").fetchall() == [(1,)]
    assert engine.sql("SELECT count(*) FROM wfkit_payload_refs").fetchall()[0][0] >= 2
    rows = engine.sql("SELECT activity_type, attempt, kind, rows, columns::VARCHAR FROM payloads WHERE event_type = 'ActivityTaskCompleted'").fetchall()
    assert rows == [("p_same", 1, "pandas", 1000, '["x"]')] * 2


@wfkit.activity
def p_big() -> list[dict[str, Any]]:
    return [{"id": i, "text": "x" * 100} for i in range(60_000)]  # about 7 MB of JSON: over the old 4 MB cap


@wfkit.activity
def p_count(rows: list[dict[str, Any]]) -> int:
    return len(rows)


@wfkit.workflow
async def p_big_json() -> int:
    rows = await wfkit.execute_activity(p_big)
    return await wfkit.execute_activity(p_count, rows)


async def test_big_json_values_move_out_of_line_instead_of_failing(engine: wfkit.Engine) -> None:
    assert await (await engine.start(p_big_json)).result() == 60_000
    encodings = engine.sql("SELECT encoding, bytes FROM wfkit_payloads").fetchall()
    assert [e for e, _ in encodings] == ["wfkit/json-blob"]
    assert encodings[0][1] > 4 * 1024 * 1024


async def test_tables_survive_a_reopen_and_replay(db_path: Path) -> None:
    async with await wfkit.Engine.open(db_path) as engine:
        handle = await engine.start(p_pandas, "rich")
        await handle.result()
    async with await wfkit.Engine.open(db_path) as engine:
        assert engine.sql("SELECT count(*) FROM wfkit_payloads").fetchall() == [(1,)]  # referenced: not an orphan
        assert await engine.get_handle(handle.workflow_id).result() == 4


@wfkit.activity
def p_transform(n: int) -> pd.DataFrame:
    return pd.DataFrame({"k": range(n), "v": [k * 0.5 for k in range(n)]})


@wfkit.activity
def p_scalar() -> int:
    return 7


@wfkit.workflow
async def p_pipeline(n: int) -> int:
    df = await wfkit.execute_activity(p_transform, n)
    await wfkit.execute_activity(p_scalar)
    return len(df)


async def test_engine_output_is_a_relation_over_a_steps_table(engine: wfkit.Engine, db_path: Path) -> None:
    await (await engine.start(p_pipeline, 5, id="pipe")).result()
    rel = engine.output("pipe", activity="p_transform")
    pd.testing.assert_frame_equal(rel.df(), p_transform.fn(5).reset_index(drop=True))  # type: ignore[attr-defined]
    assert rel.pl().shape == (5, 2)
    assert engine.sql("SELECT count(*) FROM payloads WHERE workflow_id = 'pipe'").fetchall() == [(1,)]
    with pytest.raises(wfkit.WorkflowNotFoundError, match="no run of workflow 'nope'"):
        engine.output("nope", activity="p_transform")
    with pytest.raises(wfkit.PayloadError, match="no a completed 'p_missing' step"):
        engine.output("pipe", activity="p_missing")
    with pytest.raises(wfkit.PayloadError, match="returned no table"):
        engine.output("pipe", activity="p_scalar")
    with pytest.raises(wfkit.PayloadError):
        engine.output("pipe", activity="p_transform", attempt=2)
    await engine.close()
    with wfkit.open_histories(db_path) as histories:
        assert histories.output("pipe", activity="p_transform").aggregate("sum(k)").fetchall() == [(10,)]


@wfkit.workflow
async def p_pipeline_b(n: int) -> int:
    return len(await wfkit.execute_activity(p_transform, n))


async def test_purge_deletes_the_payloads_of_purged_runs_but_keeps_shared_ones(engine: wfkit.Engine) -> None:
    await (await engine.start(p_pipeline, 5, id="old")).result()
    await (await engine.start(p_pipeline_b, 6, id="kept")).result()
    await (await engine.start(p_pipeline, 6, id="shared")).result()  # the same table as "kept": stored once
    assert engine.sql("SELECT count(*) FROM wfkit_payloads").fetchall() == [(2,)]
    report = await engine.purge(workflow=p_pipeline)
    assert report.runs == 2
    assert engine.sql("SELECT count(*) FROM wfkit_payloads").fetchall() == [(1,)]
    assert engine.output("kept", activity="p_transform").shape == (6, 2)


@wfkit.workflow
async def p_lazy(which: str) -> int:
    df = await wfkit.execute_activity(p_make, which)
    SEEN["repr"] = repr(df)
    SEEN["loaded_before"] = df.loaded
    n = await wfkit.execute_activity(p_receive, df)  # passed on unread: the same reference
    SEEN["loaded_after_passing"] = df.loaded
    if which == "touch":
        return len(df) + n  # touching it loads it, on the workflow's thread
    return n


async def test_workflow_code_gets_a_lazy_handle_that_loads_only_when_touched(engine: wfkit.Engine) -> None:
    assert await (await engine.start(p_lazy, "rich")).result() == 4
    assert SEEN["repr"] == "<lazy pandas table: 4 rows x 9 columns [n, c, d, t, day, tags, point, f, ...]>"
    assert SEEN["loaded_before"] is False
    assert SEEN["loaded_after_passing"] is False
    pd.testing.assert_frame_equal(SEEN["frame"], rich_frame(), check_dtype=True)  # the activity got the frame itself
    assert await (await engine.start(p_lazy, "touch")).result() == 6  # multi_frame: 3 rows, read in workflow code
    assert engine.sql("SELECT count(*) FROM wfkit_payloads").fetchall() == [(2,)]


async def test_a_bare_replay_reads_no_table(engine: wfkit.Engine) -> None:
    handle = await engine.start(p_lazy, "rich")
    await handle.result()
    SEEN.clear()
    result = wfkit.Replayer([p_lazy]).replay(engine.history(handle.workflow_id))
    assert result.result == 4
    assert SEEN["loaded_after_passing"] is False


@wfkit.workflow
async def p_waits() -> int:
    df = await wfkit.execute_activity(p_make, "rich")
    await wfkit.wait_signal("go")
    return await wfkit.execute_activity(p_receive, df)


async def test_recovery_reads_no_table_the_workflow_code_does_not_touch(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wfkit._store._store import Store

    reads: list[str] = []
    real = Store.read_payload
    monkeypatch.setattr(Store, "read_payload", lambda self, ref: reads.append(ref) or real(self, ref))
    async with await wfkit.Engine.open(db_path) as engine:
        await engine.start(p_waits, id="waits")
        while not engine.sql("SELECT count(*) FROM payloads WHERE event_type = 'ActivityTaskCompleted'").fetchall()[0][0]:
            await asyncio.sleep(0.01)
        await engine.wait_idle()
    reads.clear()
    async with await wfkit.Engine.open(db_path) as engine:  # recovery replays the open run
        await engine.wait_idle()
        assert reads == []  # the handle was rebuilt from the reference alone
        await engine.get_handle("waits").signal("go")
        assert await engine.get_handle("waits").result() == 4
        assert len(reads) == 1  # the activity read it, once
    pd.testing.assert_frame_equal(SEEN["frame"], rich_frame(), check_dtype=True)
