"""Export histories as Parquet or JSON lines, and import such an export into a database, losslessly.

An export is a directory:

    wfkit-export.json        what it holds (format, schema version, row counts)
    events.parquet           the `events` table, every column as stored
    workflows.parquet        the `workflows` table (run status, result, lineage)
    runs.parquet             the `runs` view, for analysis elsewhere
    activities.parquet       the `activities` view, likewise

Large exports (more than `PARTITION_THRESHOLD` events, or `partition_by_date=True`) write each
table as a Hive-partitioned directory instead (`events/date=2027-01-15/data_0.parquet`, by the
UTC date of `event_time`, `start_time` or `scheduled_time`). With `format="jsonl"` the files are
newline-delimited JSON (`events.jsonl`). Import reads `events` and `workflows` back; the views are
recomputed by the target database.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from wfkit._analytics._queries import Source
from wfkit._engine._opener import live_engine
from wfkit._history._events import CLOSE_STATUS, EventType
from wfkit._store._schema import SCHEMA_VERSION
from wfkit._store._store import Store
from wfkit._version import __version__
from wfkit.errors import ConfigurationError, HistoryFormatError, SchemaVersionError, StoreLockedError

__all__ = ["EVENT_TYPES", "FORMATS", "PARTITION_THRESHOLD", "WORKFLOW_TYPES", "Progress", "export", "import_histories", "reader"]

#: progress(step, done, total): called as each table is written or read.
Progress = Callable[[str, int, int], None]

FORMATS = ("parquet", "jsonl")
PARTITION_THRESHOLD = 1_000_000
"""Exports of more events than this are partitioned by date unless told otherwise."""

MANIFEST = "wfkit-export.json"

# table -> (query, the timestamp its date partition comes from)
_EXPORTS = {
    "events": ("SELECT * FROM events ORDER BY run_id, event_id", "event_time"),
    "workflows": ("SELECT * FROM workflows ORDER BY start_time, run_id", "start_time"),
    "runs": ("SELECT * FROM runs ORDER BY start_time, run_id", "start_time"),
    "activities": ("SELECT * FROM activities ORDER BY run_id, activity_id, attempt NULLS LAST", "coalesce(scheduled_time, started_time)"),
}

EVENT_TYPES = {
    "run_id": "VARCHAR",
    "event_id": "INTEGER",
    "event_time": "TIMESTAMPTZ",
    "event_type": "VARCHAR",
    "activity_id": "INTEGER",
    "timer_id": "INTEGER",
    "child_id": "INTEGER",
    "activity_type": "VARCHAR",
    "attempt": "INTEGER",
    "attributes": "JSON",
}
WORKFLOW_TYPES = {
    "run_id": "VARCHAR",
    "workflow_id": "VARCHAR",
    "workflow_type": "VARCHAR",
    "task_queue": "VARCHAR",
    "status": "VARCHAR",
    "input": "JSON",
    "result": "JSON",
    "failure": "JSON",
    "start_time": "TIMESTAMPTZ",
    "close_time": "TIMESTAMPTZ",
    "parent_run_id": "VARCHAR",
    "parent_workflow_id": "VARCHAR",
    "continued_from_run_id": "VARCHAR",
    "forked_from_run_id": "VARCHAR",
    "history_length": "INTEGER",
}


#### Export ####


def export(
    source: Source,
    path: str | os.PathLike[str],
    format: str = "parquet",  # noqa: A002 - the natural name
    *,
    partition_by_date: bool | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write events, workflows, runs and activities under the directory `path`; returns the manifest.

    Raises:
        ValueError: an unknown format.
        FileExistsError: `path` holds files and `overwrite` is false.
    """
    if format not in FORMATS:
        raise ConfigurationError(f"export format must be one of {', '.join(FORMATS)}, not {format!r}")
    target = Path(path)
    _prepare(target, overwrite)
    events = int(source.sql("SELECT count(*) FROM events").fetchall()[0][0])
    partitioned = events > PARTITION_THRESHOLD if partition_by_date is None else bool(partition_by_date)
    suffix = ".parquet" if format == "parquet" else ".jsonl"
    options = "FORMAT parquet, COMPRESSION zstd" if format == "parquet" else "FORMAT json"
    counts: dict[str, int] = {}
    for done, (table, (query, date_of)) in enumerate(_EXPORTS.items()):
        if progress is not None:
            progress(table, done, len(_EXPORTS))
        if partitioned:
            copy = (
                f"COPY (SELECT *, strftime(timezone('UTC', {date_of}), '%Y-%m-%d') AS date FROM ({query}))"
                f" TO ? ({options}, PARTITION_BY (date), FILENAME_PATTERN 'data_{{i}}')"
            )
            out = target / table
        else:
            copy = f"COPY ({query}) TO ? ({options})"
            out = target / f"{table}{suffix}"
        counts[table] = int(source.sql(copy, [str(out)]).fetchall()[0][0])
    if progress is not None:
        progress("done", len(_EXPORTS), len(_EXPORTS))
    manifest = {
        "format": "wfkit-export",
        "file_format": format,
        "partitioned_by_date": partitioned,
        "schema_version": SCHEMA_VERSION,
        "wfkit_version": __version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "rows": counts,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _prepare(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} is a file; export writes a directory")
    target.mkdir(parents=True, exist_ok=True)
    ours = {MANIFEST} | {f"{t}{s}" for t in _EXPORTS for s in (".parquet", ".jsonl")} | set(_EXPORTS)
    present = list(target.iterdir())
    if not present:
        return
    if not overwrite:
        raise FileExistsError(f"{target} is not empty; export into a new directory or pass overwrite=True")
    strangers = [p.name for p in present if p.name not in ours]
    if strangers:
        raise FileExistsError(f"{target} holds files that are not a wfkit export ({', '.join(sorted(strangers)[:3])}); not overwriting")
    for p in present:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


#### Import ####


def reader(root: Path, table: str, types: dict[str, str]) -> tuple[str, list[Any]] | None:
    """SQL for reading one exported table (with its columns cast to the stored types), or None if absent."""
    columns = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in types.items())
    json_columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"
    candidates: list[tuple[Path, str, str]] = []
    if root.is_file():
        if table == "events":
            candidates.append((root, str(root), "parquet" if root.suffix == ".parquet" else "json"))
    else:
        candidates += [
            (root / f"{table}.parquet", str(root / f"{table}.parquet"), "parquet"),
            (root / f"{table}.jsonl", str(root / f"{table}.jsonl"), "json"),
        ]
        folder = root / table
        if folder.is_dir():
            kind = "parquet" if any(folder.rglob("*.parquet")) else "json"
            candidates.append((folder, str(folder / "**" / ("*.parquet" if kind == "parquet" else "*.json")), kind))
    for where, pattern, kind in candidates:
        if not where.exists():
            continue
        if kind == "parquet":
            return f"SELECT {columns} FROM read_parquet(?, hive_partitioning = false)", [pattern]
        return f"SELECT {columns} FROM read_json(?, format = 'newline_delimited', columns = {json_columns})", [pattern]
    return None


def import_histories(path: str | os.PathLike[str], db: str | os.PathLike[str], *, progress: Progress | None = None) -> dict[str, int]:
    """Store the runs of an export (a directory from `export`, or one events file) in the database `db`.

    Runs already in `db` (same run id) are left as they are. A run without a `workflows` row in
    the export gets one rebuilt from its events. Returns counts: runs, events, skipped_runs.
    Runs that were open when exported are open in `db` too, and resume when an engine opens it.

    Raises:
        FileNotFoundError: no events under `path`.
        HistoryFormatError: a run's event ids are not 1..n, or it does not start with WorkflowExecutionStarted.
        SchemaVersionError: the export was written by a newer wfkit.
        StoreLockedError, NotAWfkitDatabaseError, ...: `db` cannot be opened for writing.
    """
    root = Path(path)
    manifest_file = root / MANIFEST
    if manifest_file.is_file():
        try:
            manifest = json.loads(manifest_file.read_bytes())
            version = int(manifest.get("schema_version", 0))
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise HistoryFormatError(f"{manifest_file} is not a wfkit export manifest ({exc})", file=str(manifest_file)) from None
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(f"{root} was exported by a newer wfkit (schema {manifest['schema_version']} > {SCHEMA_VERSION}); upgrade wfkit")
    events = reader(root, "events", EVENT_TYPES)
    if events is None:
        raise FileNotFoundError(f"{root}: no exported events (events.parquet, events.jsonl or events/)")
    workflows = reader(root, "workflows", WORKFLOW_TYPES)
    steps = 4

    def step(name: str, done: int) -> None:
        if progress is not None:
            progress(name, done, steps)

    live = live_engine(db)
    if live is not None:  # a second writer would fence that engine off: refuse instead
        raise StoreLockedError(f"{db} is open in this process by {live!r}; close it (await engine.close()) before importing into it")
    store = Store.open(db)
    sql = store.sql
    try:
        step("reading events", 0)
        sql("BEGIN TRANSACTION")
        try:
            try:
                sql(f"CREATE OR REPLACE TEMP TABLE wfkit_import_events AS {events[0]}", events[1])
            except duckdb.Error as exc:  # a damaged file, a missing column, a value of the wrong type
                raise HistoryFormatError(f"cannot read the events of {root}: {_first_line(exc)}; nothing was imported") from None
            _check_histories(store)
            sql(
                "CREATE OR REPLACE TEMP TABLE wfkit_import_new AS"
                " SELECT DISTINCT run_id FROM wfkit_import_events WHERE run_id NOT IN (SELECT run_id FROM workflows)"
            )
            step("runs", 1)
            names = ", ".join(WORKFLOW_TYPES)
            if workflows is not None:
                sql(
                    f"INSERT INTO workflows ({names}) SELECT {names} FROM ({workflows[0]}) WHERE run_id IN (SELECT run_id FROM wfkit_import_new)",
                    workflows[1],
                )
            sql(f"INSERT INTO workflows ({names}) {_DERIVED_WORKFLOWS}")
            step("events", 2)
            columns = ", ".join(EVENT_TYPES)
            sql(
                f"INSERT INTO events ({columns}) SELECT {columns} FROM wfkit_import_events"
                " WHERE run_id IN (SELECT run_id FROM wfkit_import_new) ORDER BY run_id, event_id"
            )
            counts = sql(
                "SELECT (SELECT count(*) FROM wfkit_import_new),"
                " (SELECT count(*) FROM wfkit_import_events WHERE run_id IN (SELECT run_id FROM wfkit_import_new)),"
                " (SELECT count(DISTINCT run_id) FROM wfkit_import_events) - (SELECT count(*) FROM wfkit_import_new)"
            ).fetchall()[0]
            sql("COMMIT")
        except duckdb.Error as exc:  # the workflows of the export, or a constraint of the target database
            sql("ROLLBACK")
            raise HistoryFormatError(f"cannot import {root}: {_first_line(exc)}; nothing was imported") from None
        except BaseException:
            sql("ROLLBACK")
            raise
        finally:
            sql("DROP TABLE IF EXISTS wfkit_import_events")
            sql("DROP TABLE IF EXISTS wfkit_import_new")
        step("done", 4)
    finally:
        store.close()
    return {"runs": int(counts[0]), "events": int(counts[1]), "skipped_runs": int(counts[2])}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_histories(store: Store) -> None:
    """Refuse (before anything is written) what could not be read back as histories."""
    known = [t.value for t in EventType]
    malformed = store.sql(
        "SELECT run_id, event_id, CASE"
        " WHEN run_id IS NULL THEN 'it has no run id'"
        " WHEN event_id IS NULL THEN 'an event has no event id'"
        " WHEN event_time IS NULL THEN 'event ' || event_id || ' has no time'"
        " WHEN event_type IS NULL OR NOT list_contains(?, event_type) THEN 'event ' || event_id || ' has an unknown type'"
        " WHEN attributes IS NOT NULL AND json_type(attributes) <> 'OBJECT' THEN 'the attributes of event ' || event_id || ' are not a JSON object'"
        " END AS problem FROM wfkit_import_events WHERE problem IS NOT NULL ORDER BY run_id NULLS FIRST, event_id LIMIT 1",
        [known],
    ).fetchall()
    if malformed:
        run_id, _, problem = malformed[0]
        raise HistoryFormatError(f"cannot import run {run_id}: {problem}; nothing was imported")
    bad = store.sql(
        "SELECT run_id, count(*), count(DISTINCT event_id), min(event_id), max(event_id),"
        " bool_or(event_id = 1 AND event_type = 'WorkflowExecutionStarted')"
        " FROM wfkit_import_events GROUP BY run_id"
        " HAVING count(*) <> count(DISTINCT event_id) OR min(event_id) <> 1 OR max(event_id) <> count(*)"
        " OR NOT bool_or(event_id = 1 AND event_type = 'WorkflowExecutionStarted')"
        " ORDER BY run_id LIMIT 1"
    ).fetchall()
    if bad:
        run_id, count, distinct, first, last, started = bad[0]
        if not started and first == 1:
            problem = "event 1 is not WorkflowExecutionStarted"
        elif count != distinct:
            problem = "it has duplicate event ids"
        else:
            problem = f"its event ids are not 1..{count} (they run {first}..{last})"
        raise HistoryFormatError(f"cannot import run {run_id}: {problem}; nothing was imported")


_STATUS_CASE = " ".join(f"WHEN '{event.value}' THEN '{status}'" for event, status in CLOSE_STATUS.items())

# A `workflows` row rebuilt from a run's events, for runs the export has no row for.
_DERIVED_WORKFLOWS = f"""
SELECT
    s.run_id,
    s.attributes->>'$.workflow_id',
    s.attributes->>'$.workflow_type',
    s.attributes->>'$.task_queue',
    CASE c.event_type {_STATUS_CASE} ELSE 'Running' END,
    s.attributes->'$.input',
    c.attributes->'$.result',
    c.attributes->'$.failure',
    s.event_time,
    c.event_time,
    s.attributes->>'$.parent_run_id',
    s.attributes->>'$.parent_workflow_id',
    s.attributes->>'$.continued_from_run_id',
    s.attributes->>'$.forked_from_run_id',
    n.events
FROM wfkit_import_events s
JOIN (SELECT run_id, count(*) AS events FROM wfkit_import_events GROUP BY run_id) n USING (run_id)
LEFT JOIN wfkit_import_events c ON c.run_id = s.run_id AND c.event_type IN (
    'WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionCanceled',
    'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew'
)
WHERE s.event_type = 'WorkflowExecutionStarted'
  AND s.run_id IN (SELECT run_id FROM wfkit_import_new)
  AND s.run_id NOT IN (SELECT run_id FROM workflows)
"""
