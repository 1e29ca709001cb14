"""Table payloads: DataFrames and Arrow tables stored as Arrow in the history file, content-addressed.

A tabular value (pandas, polars, pyarrow, a DuckDB relation) is written as one zstd-compressed
Arrow IPC stream in `wfkit_payloads.data`, keyed by the BLAKE2b hash of those bytes, so the same
table stored twice is stored once. The event carries a small JSON reference instead of the data:

    {"encoding": "wfkit/table", "ref": <hash>, "kind": "pandas", "rows": ..., "columns": [...],
     "bytes": ..., "schema": {column: arrow type}}

JSON values too big to keep inline go the same way as UTF-8 bytes (`wfkit/json-blob`). Which
events reference which payload is recorded in `wfkit_payload_refs`, in the same transaction as
the events, so a payload no event references (an orphan left by a crash) is found with one query.

Why IPC in a BLOB and not a DuckDB table per payload (bench/payloads.py, 1M rows x 6 columns:
a native table writes and reads faster): a DuckDB table cannot hold an Arrow schema exactly
(pandas' index and dtype metadata, time zone names, nanosecond tz-aware timestamps, column names
differing only in case), and payloads must come back equal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from wfkit.errors import PayloadError, WorkflowNotFoundError

__all__ = [
    "BLOB_ENCODING",
    "TABLE_ENCODING",
    "StagedPayload",
    "decode_blob",
    "decode_table",
    "delete_orphans",
    "encode_json_blob",
    "encode_table",
    "is_table",
    "output_relation",
    "read_payload",
    "refs_in",
    "write_payloads",
]

TABLE_ENCODING = "wfkit/table"
BLOB_ENCODING = "wfkit/json-blob"

_FREQ = b"wfkit.index_freq"
_REF = re.compile(r'"encoding":"wfkit/(?:table|json-blob)","ref":"([0-9a-f]{64})"')


@dataclass(frozen=True, slots=True)
class StagedPayload:
    """A payload's bytes, waiting to be written in the batch of the event that references it."""

    ref: str
    encoding: str
    data: bytes
    kind: str | None = None
    rows: int | None = None
    columns: str | None = None
    """JSON list of column names."""
    schema: str | None = None
    """JSON object: column name -> Arrow type."""


def _kind(value: Any) -> str | None:
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "polars" and name == "DataFrame":
        return "polars"
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return "arrow"
    if module in ("duckdb", "_duckdb") and name == "DuckDBPyRelation":
        return "duckdb"
    return None


def is_table(value: Any) -> bool:
    """True for the tabular values stored as tables (pandas/polars DataFrames, pyarrow tables, DuckDB relations)."""
    return _kind(value) is not None


def _to_arrow(value: Any, kind: str) -> pa.Table:
    if kind == "pandas":
        table = pa.Table.from_pandas(value)  # a RangeIndex as metadata, any other index as columns
        freq = getattr(value.index, "freqstr", None)  # pandas' own metadata does not keep a DatetimeIndex's freq
        return table.replace_schema_metadata({**(table.schema.metadata or {}), _FREQ: freq.encode()}) if freq else table
    if kind == "polars":
        return value.to_arrow()
    if kind == "duckdb":
        result = value.arrow()
        return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    return value if isinstance(value, pa.Table) else pa.Table.from_batches([value])


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def encode_table(value: Any) -> tuple[dict[str, Any], StagedPayload]:
    """A table's reference payload and the bytes to store (`value` must satisfy `is_table`)."""
    kind = _kind(value)
    assert kind is not None
    table = _to_arrow(value, kind)
    data = _ipc(table)
    ref = _hash(data)
    columns = list(value.columns) if kind == "pandas" else table.schema.names
    payload = {
        "encoding": TABLE_ENCODING,
        "ref": ref,
        "kind": kind,
        "rows": table.num_rows,
        "columns": [str(c) for c in columns],
        "bytes": len(data),
        "schema": {field.name: str(field.type) for field in table.schema},
    }
    if kind == "arrow" and isinstance(value, pa.RecordBatch):
        payload["batch"] = True
    staged = StagedPayload(ref, TABLE_ENCODING, data, kind, table.num_rows, json.dumps(payload["columns"]), json.dumps(payload["schema"]))
    return payload, staged


def encode_json_blob(text: str) -> tuple[dict[str, Any], StagedPayload]:
    """A big JSON value's reference payload and its bytes."""
    data = text.encode()
    ref = _hash(data)
    return {"encoding": BLOB_ENCODING, "ref": ref, "bytes": len(data)}, StagedPayload(ref, BLOB_ENCODING, data)


_WANTS = {"DataFrame": None, "Table": "arrow", "RecordBatch": "arrow", "DuckDBPyRelation": "duckdb"}


def _wanted_kind(hint: Any, stored: str) -> str:
    """The kind the receiving annotation asks for (the stored kind when it names none)."""
    if not isinstance(hint, type):
        return stored
    module = hint.__module__.split(".")[0]
    if hint.__name__ == "DataFrame":
        return "pandas" if module == "pandas" else "polars" if module == "polars" else stored
    return _WANTS.get(hint.__name__) or stored if module in ("pyarrow", "duckdb", "_duckdb") else stored


def decode_table(payload: dict[str, Any], data: bytes, hint: Any = Any) -> Any:
    """The value a `wfkit/table` payload holds, as the type it was stored as (or the type `hint` names)."""
    table = pa.ipc.open_stream(data).read_all()
    kind = _wanted_kind(hint, str(payload.get("kind", "arrow")))
    if kind == "pandas":
        frame = table.to_pandas()
        freq = (table.schema.metadata or {}).get(_FREQ)
        if freq is not None:
            frame.index = type(frame.index)(frame.index, freq=freq.decode())
        return frame
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if kind == "duckdb":
        return duckdb.from_arrow(table)
    if payload.get("batch") and not (isinstance(hint, type) and hint.__name__ == "Table"):
        return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema)
    return table


def decode_blob(data: bytes) -> Any:
    """The JSON value a `wfkit/json-blob` payload holds."""
    return json.loads(data)


def refs_in(texts: Iterable[str]) -> list[str]:
    """Payload hashes referenced in JSON texts (references are written by wfkit: encoding first, then ref)."""
    found: list[str] = []
    for text in texts:
        if '"wfkit/' in text:
            found.extend(_REF.findall(text))
    return found


def write_payloads(cur: duckdb.DuckDBPyConnection, payloads: Sequence[StagedPayload], refs: Sequence[tuple[str, str, int]]) -> None:
    """Inside the caller's transaction: store new payloads (a hash already stored is skipped) and the (hash, run_id, event_id) references."""
    for staged in payloads:
        cur.execute(
            "INSERT OR IGNORE INTO wfkit_payloads (hash, encoding, kind, rows, columns, bytes, schema, created_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
            [staged.ref, staged.encoding, staged.kind, staged.rows, staged.columns, len(staged.data), staged.schema, staged.data],
        )
    if refs:
        cur.executemany("INSERT INTO wfkit_payload_refs (hash, run_id, event_id) VALUES (?, ?, ?)", [list(r) for r in refs])


def read_payload(cur: duckdb.DuckDBPyConnection, ref: str) -> bytes | None:
    """A stored payload's bytes (None: not stored)."""
    rows = cur.execute("SELECT data FROM wfkit_payloads WHERE hash = ?", [ref]).fetchall()
    return bytes(rows[0][0]) if rows else None


def delete_orphans(cur: duckdb.DuckDBPyConnection) -> int:
    """Delete payloads no event references (left by a crash between a payload's batch and its event's); returns how many."""
    row = cur.execute("DELETE FROM wfkit_payloads WHERE hash NOT IN (SELECT hash FROM wfkit_payload_refs)").fetchall()
    return int(row[0][0]) if row else 0


def output_relation(
    con: duckdb.DuckDBPyConnection,
    workflow_id: str,
    activity: str | None,
    *,
    event_id: int | None = None,
    attempt: int | None = None,
    run_id: str | None = None,
    catalog: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """A DuckDB relation over the table one step of a run returned (its latest completed attempt unless `event_id`/`attempt` say which).

    `catalog` names the attached database to look in (None: the connection's own). Every value is a bound parameter.

    Raises:
        WorkflowNotFoundError: no such run.
        PayloadError: no such step, or the step returned no table (one line saying which).
    """
    prefix = "" if catalog is None else '"' + catalog.replace('"', '""') + '".'
    if run_id is None:
        rows = con.execute(f"SELECT run_id FROM {prefix}workflows WHERE workflow_id = ? ORDER BY start_time DESC, run_id LIMIT 1", [workflow_id]).fetchall()
    else:
        rows = con.execute(f"SELECT run_id FROM {prefix}workflows WHERE workflow_id = ? AND run_id = ?", [workflow_id, run_id]).fetchall()
    if not rows:
        raise WorkflowNotFoundError(f"no run of workflow {workflow_id!r}" + (f" with run id {run_id!r}" if run_id else ""))
    run = str(rows[0][0])
    conditions, params = ["c.run_id = ?"], list[Any]([run])
    if event_id is not None:
        conditions.append("c.event_id = ?")
        params.append(event_id)
    else:
        conditions.append("c.event_type = 'ActivityTaskCompleted'")
    if activity is not None:
        conditions.append("coalesce(c.activity_type, s.activity_type) = ?")
        params.append(activity)
    if attempt is not None:
        conditions.append("c.attempt = ?")
        params.append(attempt)
    query = (
        f"SELECT c.event_id, c.attributes->'$.result' FROM {prefix}events c"
        f" LEFT JOIN {prefix}events s ON s.run_id = c.run_id AND s.event_type = 'ActivityTaskScheduled' AND s.activity_id = c.activity_id"
        f" WHERE {' AND '.join(conditions)} ORDER BY c.event_id DESC LIMIT 1"
    )
    found = con.execute(query, params).fetchall()
    step = f"event {event_id}" if event_id is not None else f"a completed {activity!r} step" + (f" (attempt {attempt})" if attempt else "")
    if not found:
        raise PayloadError(f"run {run} of workflow {workflow_id!r} has no {step}")
    result = json.loads(found[0][1]) if found[0][1] else None
    if not isinstance(result, dict) or result.get("encoding") != TABLE_ENCODING:
        raise PayloadError(f"{step} of run {run} returned no table (its result is not a stored table)")
    data = con.execute(f"SELECT data FROM {prefix}wfkit_payloads WHERE hash = ?", [result["ref"]]).fetchall()
    if not data:
        raise PayloadError(f"the table {step} of run {run} returned is not stored in this file")
    return con.from_arrow(pa.ipc.open_stream(bytes(data[0][0])).read_all())
