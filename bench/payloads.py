"""Payload storage layouts, measured: a 1M-row frame written to and read back from one DuckDB file.

Compares Arrow IPC bytes (uncompressed, lz4, zstd) and Parquet bytes in a BLOB column with a
native DuckDB table per payload. Run: `python bench/payloads.py [rows]` (default 1,000,000; keep it
at most a few million on a shared machine).
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import wfkit
from bench._timing import median_ms


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "i": np.arange(rows, dtype="int64"),
            "j": rng.integers(0, 1000, rows),
            "x": rng.random(rows),
            "y": rng.random(rows),
            "s": pd.Series(rng.integers(0, 5000, rows)).map(lambda n: f"name-{n}"),
            "t": pd.date_range("2024-01-01", periods=rows, freq="s", tz="UTC"),
        }
    )


def ipc_bytes(table: pa.Table, compression: str | None) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def main(rows: int) -> None:
    df = frame(rows)
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "p.duckdb"))
        con.execute("CREATE TABLE blobs (name VARCHAR PRIMARY KEY, data BLOB)")
        print(f"{rows:,} rows x 6 columns, frame {df.memory_usage(deep=True).sum() / 1e6:.0f} MB in memory")
        for label, compression in (("ipc", None), ("ipc+lz4", "lz4"), ("ipc+zstd", "zstd"), ("parquet", "parquet")):
            counter = [0]

            def write(label: str = label, compression: str | None = compression, n: list[int] = counter) -> None:
                n[0] += 1
                t = pa.Table.from_pandas(df)
                if compression == "parquet":
                    buf = io.BytesIO()
                    pq.write_table(t, buf)
                    data = buf.getvalue()
                else:
                    data = ipc_bytes(t, compression)
                con.execute("INSERT INTO blobs VALUES (?, ?)", [f"{label}{n[0]}", data])

            def read(label: str = label, compression: str | None = compression) -> None:
                data = con.execute("SELECT data FROM blobs WHERE name = ?", [f"{label}1"]).fetchall()[0][0]
                t = pq.read_table(io.BytesIO(data)) if compression == "parquet" else pa.ipc.open_stream(data).read_all()
                t.to_pandas()

            w = median_ms(write, 3)
            r = median_ms(read, 3)
            size = con.execute("SELECT octet_length(data) FROM blobs WHERE name = ?", [f"{label}1"]).fetchall()[0][0]
            print(f"{label:10s} write {w:7.0f} ms  read {r:7.0f} ms  {size / 1e6:6.1f} MB")
        n = [0]

        def write_native() -> None:
            n[0] += 1
            con.register("incoming", pa.Table.from_pandas(df))
            con.execute(f"CREATE TABLE native{n[0]} AS SELECT * FROM incoming")
            con.unregister("incoming")

        w = median_ms(write_native, 3)
        r = median_ms(
            lambda: (
                con.table("native1").arrow().read_all().to_pandas()
                if hasattr(con.table("native1").arrow(), "read_all")
                else con.table("native1").arrow().to_pandas()
            ),
            3,
        )
        print(f"{'native':10s} write {w:7.0f} ms  read {r:7.0f} ms  (table per payload)")
        baseline_w = median_ms(lambda: df.to_parquet(Path(tmp) / "f.parquet"), 3)
        baseline_r = median_ms(lambda: pd.read_parquet(Path(tmp) / "f.parquet"), 3)
        print(f"{'baseline':10s} df.to_parquet {baseline_w:7.0f} ms  pd.read_parquet {baseline_r:7.0f} ms")
        con.close()


_FRAMES: dict[str, pd.DataFrame] = {}


@wfkit.activity
def bench_make(rows: int) -> pd.DataFrame:
    return _FRAMES["frame"]


@wfkit.activity
def bench_count(df: pd.DataFrame) -> int:
    return len(df)


@wfkit.workflow
async def bench_pass(rows: int) -> int:
    return await wfkit.execute_activity(bench_count, await wfkit.execute_activity(bench_make, rows))


def end_to_end(rows: int) -> None:
    """One frame passed from one activity to the next through the engine, against the same frame to_parquet + read_parquet."""
    _FRAMES["frame"] = frame(rows)
    workflow_ms = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(3):

            async def run(k: int = k) -> None:
                async with await wfkit.Engine.open(Path(tmp) / f"e{k}.duckdb") as engine:
                    began = time.perf_counter()
                    assert await (await engine.start(bench_pass, rows)).result() == rows
                    workflow_ms.append((time.perf_counter() - began) * 1000)

            asyncio.run(run())
        df = _FRAMES["frame"]
        parquet = median_ms(lambda: (df.to_parquet(Path(tmp) / "f.parquet"), pd.read_parquet(Path(tmp) / "f.parquet")), 3)
        output_ms = []

        async def output() -> None:
            async with await wfkit.Engine.open(Path(tmp) / "e0.duckdb") as engine:
                output_ms.append(median_ms(lambda: engine.output(engine.list()[0].workflow_id, activity="bench_make").df(), 3))

        asyncio.run(output())
    print(
        f"end to end ({rows:,} rows): workflow with 2 activities {statistics.median(workflow_ms):.0f} ms (median of 3), "
        f"df.to_parquet + pd.read_parquet {parquet:.0f} ms, engine.output(...).df() {output_ms[0]:.0f} ms"
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    main(n)
    end_to_end(n)
