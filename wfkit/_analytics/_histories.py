"""`wfkit.open_histories`: read-only SQL over history files while no engine needs to hold them.

Each file is attached read-only to an in-memory DuckDB connection under an alias made from its
name (`etl-2027.duckdb` -> `etl_2027`); `events` and `workflows` are views over all of them (UNION
ALL), and the analytic views (`runs`, `activities`, ...) are recreated over those, so one query
spans every file and older files (schema 1, before the views existed) work too. A directory
written by `export` (Parquet or JSON lines) can be opened the same way.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from wfkit._analytics import _queries, _report, _transfer
from wfkit._engine._opener import live_engine
from wfkit._history._history import History
from wfkit._history._summary import RunSummary
from wfkit._schedules._describe import ScheduleDescription, describe_state, state_from_history
from wfkit._store._live import LiveReplica, check_select
from wfkit._store._payloads import output_relation
from wfkit._store._schema import ANALYTIC_VIEWS
from wfkit._store._store import _open_error, schema_version
from wfkit.errors import ArgumentError, NotAWfkitDatabaseError, StoreCorruptError, StoreLockedError, WorkflowNotFoundError

if TYPE_CHECKING:
    from wfkit._engine._engine import Engine

__all__ = ["Histories", "open_histories"]


_ALIAS = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED = {"main", "temp", "system", "memory", "information_schema", "pg_catalog"}


def _listed(row: dict[str, Any], now: float) -> RunSummary:
    """A `runs` row (with its search attributes and memo) as a summary."""
    start = row["start_time"].timestamp() if row.get("start_time") is not None else None
    close = start + row["duration_s"] if start is not None and row.get("duration_s") is not None else None
    summary = RunSummary.from_row({**row, "start_time": start, "close_time": close, "history_length": row.get("event_count")}, now)
    properties = {key: json.loads(row[key]) if isinstance(row[key], str) else row[key] for key in ("search_attributes", "memo")}
    return dataclasses.replace(summary, **properties)


class Histories:
    """wfkit histories for analysis: files opened read-only (`wfkit.open_histories`) or a live engine's (`engine.histories`).

    The one implementation of `sql`, `stats`, `slowest`, `failures`, `compare`, `runs`, `history`,
    `export` and `report`; `databases` maps each attached alias to its file.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection | None, databases: dict[str, str], *, engine: Engine | None = None, live: LiveReplica | None = None
    ) -> None:
        self._con = con
        self._engine = engine
        self._live = live
        self._closed = False
        self.databases = databases
        """Alias -> file, for each attached file (query one with `SELECT ... FROM alias.events`)."""

    @classmethod
    def of_engine(cls, engine: Engine) -> Histories:
        """The histories in a live engine's file, queried through the engine (closing them leaves the engine open)."""
        return cls(None, {"main": engine.store.path or ":memory:"}, engine=engine)

    @property
    def closed(self) -> bool:
        """True once closed (over a live engine: once the engine is)."""
        return self._engine.closed if self._engine is not None else self._closed

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run SQL over the histories with bound parameters; returns a DuckDB relation (`.df()`, `.pl()`, `.arrow()`)."""
        if self._engine is not None:
            return self._engine.sql(query, params)
        assert self._con is not None
        if self._live is not None:  # a replica of a file another process's engine holds: bring it up to date
            check_select(query)
            self._live.refresh()
        return self._con.sql(query, params=params) if params is not None else self._con.sql(query)

    def output(
        self, workflow_id: str, activity: str | None = None, *, event_id: int | None = None, attempt: int | None = None, run_id: str | None = None
    ) -> duckdb.DuckDBPyRelation:
        """The table a step returned, as a DuckDB relation (see `Engine.output`), from the first attached file that holds the run.

        Raises:
            WorkflowNotFoundError: no file holds such a run.
            PayloadError: no such step, or it returned no table.
        """
        if self._engine is not None:
            return self._engine.output(workflow_id, activity, event_id=event_id, attempt=attempt, run_id=run_id)
        assert self._con is not None
        if self._live is not None:
            raise ArgumentError("output() needs the file itself: close the engine that holds it, or call engine.output there")
        missing: WorkflowNotFoundError | None = None
        for alias in self.databases:
            tables = {r[0] for r in self._con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [alias]).fetchall()}
            if "wfkit_payloads" not in tables:
                continue
            try:
                return output_relation(self._con, workflow_id, activity, event_id=event_id, attempt=attempt, run_id=run_id, catalog=alias)
            except WorkflowNotFoundError as exc:
                missing = exc
        raise missing or WorkflowNotFoundError(f"no run of workflow {workflow_id!r} in a file that stores tables")

    def stats(self, by: str = "activity") -> duckdb.DuckDBPyRelation:
        """Per activity type: count, failure and retry rates, p50/p95/p99 duration (`by="workflow"`: per workflow type)."""
        return _queries.stats(self, by)

    def slowest(self, n: int = 10, *, kind: str = "activities", type: str | None = None, include_lost: bool = False) -> duckdb.DuckDBPyRelation:  # noqa: A002
        """The `n` slowest activity attempts (or runs, with `kind="runs"`), optionally of one type; `include_lost` adds attempts lost with their engine."""
        return _queries.slowest(self, n, kind=kind, type=type, include_lost=include_lost)

    def failures(self, since: Any = None, *, final_only: bool = False, include_lost: bool = False) -> duckdb.DuckDBPyRelation:
        """Failed activity attempts and failed or terminated runs since `since` (datetime, timedelta, ISO string...), newest first."""
        return _queries.failures(self, since, final_only=final_only, include_lost=include_lost)

    def compare(self, run_a: str, run_b: str, *, duration_tolerance: float = 0.5) -> duckdb.DuckDBPyRelation:
        """Two runs side by side, one row per activity: status, attempts, result and duration in each, a
        `differences` list, a short `result_diff`, and when `run_b` is a fork, `in_b` (reused, edited or ran).
        Runs are run ids, workflow ids (their latest run) or unique run-id prefixes."""
        return _queries.compare(self, run_a, run_b, duration_tolerance=duration_tolerance)

    def compare_rows(self, run_a: str, run_b: str) -> builtins.list[dict[str, Any]]:
        """`compare(run_a, run_b)` as a list of dicts (what the compare widget and report show)."""
        relation = self.compare(run_a, run_b)
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]

    def compare_report(self, run_a: str, run_b: str, path: str | os.PathLike[str]) -> Path:
        """Write the comparison of two runs (e.g. a run and its what-if fork) as a self-contained HTML page."""
        return _report.write_comparison(self.compare_rows(run_a, run_b), self.resolve(run_a), self.resolve(run_b), path)

    def runs(
        self,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        search_attributes: Mapping[str, Any] | None = None,
        limit: int | None = 50,
    ) -> duckdb.DuckDBPyRelation:
        """Runs, newest first, optionally filtered by status, workflow type and search attributes (`{name: value}`, all must match)."""
        return _queries.runs(self, status=status, workflow_type=workflow_type, search_attributes=search_attributes, limit=limit)

    def resolve(self, ident: str) -> str:
        """The run id for a run id, a workflow id (its latest run) or a unique run-id prefix."""
        return _queries.resolve_run(self, ident)

    def history(self, ident: str | None = None, *, run_id: str | None = None) -> History:
        """The history of a run (run id, workflow id for its latest run, or run-id prefix)."""
        target = run_id or ident
        if target is None:
            raise ArgumentError("history() needs a run id or a workflow id")
        return _queries.load_history(self, self.resolve(target))

    def list(
        self,
        *,
        search_attributes: Mapping[str, Any] | None = None,
        status: str | None = None,
        workflow_type: str | None = None,
        limit: int | None = 50,
    ) -> builtins.list[RunSummary]:
        """Runs whose search attributes match (see `runs`), newest first, as summaries with `search_attributes` and `memo`."""
        relation = self.runs(status=status, workflow_type=workflow_type, search_attributes=search_attributes, limit=limit)
        names, now = relation.columns, time.time()
        return [_listed(dict(zip(names, row, strict=True)), now) for row in relation.fetchall()]

    def run_summaries(self, limit: int = 50) -> builtins.list[RunSummary]:
        """The most recent runs, newest first, for monitors (from the `workflows` table)."""
        query = (
            "SELECT run_id, workflow_id, workflow_type, status, epoch_us(start_time) / 1e6 AS start_time,"
            " epoch_us(close_time) / 1e6 AS close_time, history_length, task_queue, parent_workflow_id"
            " FROM workflows ORDER BY start_time DESC, run_id LIMIT ?"
        )
        relation = self.sql(query, [int(limit)])
        names, now = relation.columns, time.time()
        return [RunSummary.from_row(dict(zip(names, row, strict=True)), now) for row in relation.fetchall()]

    def schedules(self) -> builtins.list[ScheduleDescription]:
        """The open schedules, by id, each worked out by replaying its scheduler's history (no engine needed)."""
        rows = self.sql("SELECT run_id FROM workflows WHERE workflow_type = 'wfkit.schedule' AND status = 'Running' ORDER BY workflow_id").fetchall()
        open_ids = {w for (w,) in self.sql("SELECT workflow_id FROM workflows WHERE status = 'Running'").fetchall()}
        descriptions = []
        for (run_id,) in rows:
            state = state_from_history(_queries.load_history(self, run_id).events, run_id)
            descriptions.append(describe_state(state, time.time(), open_ids.__contains__))
        return descriptions

    def export(
        self,
        path: str | os.PathLike[str],
        format: str = "parquet",  # noqa: A002
        *,
        partition_by_date: bool | None = None,
        overwrite: bool = False,
        progress: _transfer.Progress | None = None,
    ) -> dict[str, Any]:
        """Write events, workflows, runs and activities as Parquet or JSON lines under the directory `path`."""
        return _transfer.export(self, path, format, partition_by_date=partition_by_date, overwrite=overwrite, progress=progress)

    def report(self, ident: str, path: str | os.PathLike[str]) -> Path:
        """Write a self-contained HTML report of one run; returns its path."""
        run_id = self.resolve(ident)
        return _report.write_report(self, run_id, path, _queries.load_history(self, run_id))

    def close(self) -> None:
        """Detach every file (over a live engine: nothing to do, the engine keeps its file)."""
        self._closed = True
        if self._live is not None:
            self._live.close()  # closes the replica's connection too
        elif self._con is not None:
            self._con.close()

    def __enter__(self) -> Histories:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        live = " (answered live by the engine holding it)" if self._live is not None else ""
        return f"<wfkit.Histories {', '.join(f'{a}={p}' for a, p in self.databases.items())}{live}>"


def open_histories(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Histories:
    """Open one or more wfkit databases (or export directories) read-only, as one set of histories.

    ```python
    with wfkit.open_histories(["monday.duckdb", "tuesday.duckdb"]) as h:
        h.stats().df()
        h.sql("select workflow_type, count(*) from runs group by 1").fetchall()
    ```

    Raises:
        FileNotFoundError: a path does not exist.
        StoreLockedError: an engine in another process holds one of several files (a file an engine holds can be
            opened alone: its engine answers the queries, see docs/operations.md), or it holds the file and does not answer.
        NotAWfkitDatabaseError, StoreCorruptError, SchemaVersionError: a file cannot be read as wfkit histories.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise ArgumentError("open_histories() needs at least one path")
    con = duckdb.connect()
    databases: dict[str, str] = {}
    sources: list[tuple[str, str]] = []
    try:
        for item in items:
            path = Path(item)
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
            alias = _alias(path, databases)
            databases[alias] = str(path)
            if path.is_dir() or path.suffix in (".parquet", ".jsonl"):
                sources.append(_open_export(con, path, alias))
            else:
                try:
                    _attach(con, path, alias)
                except StoreLockedError:
                    in_this_process = live_engine(path) is not None  # its message says to use that engine
                    live = _live_client(path) if len(items) == 1 and not in_this_process else None
                    if live is None:
                        raise
                    con.close()
                    return Histories(live.con, {alias: str(path)}, live=live)
                sources.append((f"{alias}.events", f"{alias}.workflows"))
        for name, index in (("events", 0), ("workflows", 1)):
            union = " UNION ALL BY NAME ".join(f"SELECT * FROM {source[index]}" for source in sources)
            con.execute(f"CREATE TEMP VIEW {name} AS {union}")
        con.execute(ANALYTIC_VIEWS.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))
    except BaseException:
        con.close()
        raise
    return Histories(con, databases)


def _alias(path: Path, taken: dict[str, str]) -> str:
    stem = path.name.split(".")[0] if path.name.split(".")[0] else "db"
    base = re.sub(r"[^a-z0-9_]", "_", stem.lower())[:50] or "db"
    if base[0].isdigit():
        base = f"db_{base}"
    alias, n = base, 1
    while alias in taken or alias in _RESERVED or alias in {"events", "workflows"}:
        n += 1
        alias = f"{base}_{n}"
    assert _ALIAS.match(alias), alias
    return alias


def _live_client(path: Path) -> LiveReplica | None:
    """A replica of `path`, kept up to date by the engine of another process that holds it, if one answers."""
    try:
        return LiveReplica(path)
    except ConnectionError:
        return None


def _attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    try:
        con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [str(path)])
    except duckdb.IOException as exc:
        raise _open_error(str(path), exc) from None
    except duckdb.Error as exc:
        if "already attached" in str(exc):
            raise StoreLockedError(
                f"{path} is open in this process (an Engine holds it): query it through that engine (engine.sql, engine.histories)"
            ) from None
        raise StoreCorruptError(f"{path}: cannot open as a DuckDB database ({str(exc).strip().splitlines()[0]})") from None
    if schema_version(con, str(path), alias, macros=False) == 0:
        raise NotAWfkitDatabaseError(f"{path} is a DuckDB database but not a wfkit one (it has no tables)")


def _open_export(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> tuple[str, str]:
    """Views over an export directory's files (file paths inlined as quoted literals: views cannot hold parameters)."""
    names = []
    for table, types in (("events", _transfer.EVENT_TYPES), ("workflows", _transfer.WORKFLOW_TYPES)):
        reader = _transfer.reader(path, table, types)
        if reader is None:
            if table == "events":
                raise FileNotFoundError(f"{path}: no exported events (events.parquet, events.jsonl or events/)")
            columns = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in types.items())
            query = f"SELECT {columns} WHERE false"
        else:
            query, params = reader
            literal = "'" + str(params[0]).replace("'", "''") + "'"
            query = query.replace("?", literal, 1)
        view = f"{alias}_{table}"
        con.execute(f"CREATE TEMP VIEW {view} AS {query}")
        names.append(view)
    return names[0], names[1]
