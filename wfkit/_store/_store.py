"""The DuckDB store: one file holds every run's history.

The engine owns one `Store`. Its writes arrive in batches (group commit) and each batch is
one transaction; bulk rows travel as Arrow tables, never row by row.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb

from wfkit._faults import fault
from wfkit._history._events import Event, EventType
from wfkit._history._payload import JsonPayload, payload_json
from wfkit._store._live import ChangeLog, LiveServer
from wfkit._store._payloads import StagedPayload, delete_orphans, output_relation, read_payload, refs_in, write_payloads
from wfkit._store._schema import ANALYTIC_VIEWS, MIGRATIONS, SCHEMA_VERSION, WFKIT_TABLES
from wfkit.errors import NotAWfkitDatabaseError, SchemaVersionError, StoreCorruptError, StoreError, StoreFencedError, StoreLockedError

__all__ = ["RunClose", "RunRow", "Store", "refuse_stored_code", "schema_version"]

_EVENT_COLUMNS = ("run_id", "event_id", "event_time", "event_type", "activity_id", "timer_id", "child_id", "activity_type", "attempt", "attributes")
_RUN_COLUMNS = (
    "run_id", "workflow_id", "workflow_type", "task_queue", "status", "input", "start_time",
    "parent_run_id", "parent_workflow_id", "continued_from_run_id", "forked_from_run_id",
)  # fmt: skip
_CLOSE_COLUMNS = ("run_id", "status", "result", "failure", "close_time", "history_length")


@dataclass(frozen=True, slots=True)
class RunRow:
    """A new row of the `workflows` table."""

    run_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str | None
    input: Any
    start_time: float
    parent_run_id: str | None = None
    parent_workflow_id: str | None = None
    continued_from_run_id: str | None = None
    forked_from_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunClose:
    """The closing update of a `workflows` row."""

    run_id: str
    status: str
    result: Any
    failure: Any
    close_time: float
    history_length: int


def _timestamp(seconds: float) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(microseconds=round(seconds * 1_000_000))


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _json(value: Any) -> str | None:
    """JSON text of a value, splicing in the text that payloads already carry instead of encoding them again."""
    if value is None:
        return None
    if isinstance(value, JsonPayload):
        return payload_json(value)
    if isinstance(value, list):
        return "[" + ",".join(_json(v) or "null" for v in value) + "]" if value and isinstance(value[0], JsonPayload) else _DUMPS(value)
    if isinstance(value, dict):
        spliced = _PAYLOAD_KEYS.intersection(value)
        if spliced:
            # Everything else in one C-speed dumps, then the payloads' own text appended.
            head = _DUMPS({k: v for k, v in value.items() if k not in spliced})
            tail = ",".join(f'"{k}":{_json(value[k]) or "null"}' for k in sorted(spliced))
            return f"{head[:-1]}{',' if len(head) > 2 else ''}{tail}}}"
    return _DUMPS(value)


#: The attribute keys under which wfkit puts payloads (the others never hold one).
_PAYLOAD_KEYS = frozenset({"input", "result", "value", "details"})
_DUMPS = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class Store:
    """A wfkit history database in one DuckDB file (or in memory)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str | None) -> None:
        self._con = con
        self._writer = con.cursor()
        self._appenders: dict[tuple[str, str], Any] = {}
        self._read_lock = threading.Lock()
        self.path = path
        self.epoch: int | None = None
        """This store's owner epoch (None: read-only or in memory, never fenced)."""
        self._owner_key = ""
        self.previous_alive_at: float | None = None
        """When the file's previous owner was last known alive (seconds since the epoch), read at open."""
        self.changes: ChangeLog | None = None
        """What each commit changed, kept while live reads are served (see `serve_live_reads`)."""

    #### Opening ####

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, read_only: bool = False, threads: int | None = None) -> Store:
        """Open (creating if needed) a wfkit database; None means in memory.

        `threads` caps DuckDB's worker threads (default: one per core).

        Raises:
            StoreLockedError: another process holds the file.
            StoreCorruptError: the file is not a DuckDB database.
            NotAWfkitDatabaseError: the file is a DuckDB database with other tables.
            SchemaVersionError: the file was written by a newer wfkit.
        """
        target = ":memory:" if path is None else os.fspath(path)
        try:
            con = duckdb.connect(target, read_only=read_only)
        except duckdb.IOException as exc:
            raise _open_error(target, exc) from None
        except duckdb.Error as exc:
            raise StoreCorruptError(f"{target}: cannot open as a DuckDB database ({_first_line(exc)})") from None
        try:
            if threads is not None:
                con.execute(f"SET threads = {int(threads)}")
            _migrate(con, target, read_only)
            store = cls(con, None if path is None else target)
            if path is not None and not read_only:
                store._take_ownership()
                delete_orphans(con)
        except BaseException:
            con.close()
            raise
        return store

    def _take_ownership(self) -> None:
        """Take the next owner epoch: from now on, a store that opened this file earlier cannot write to it."""
        assert self.path is not None
        self._con.begin()
        try:
            row = self._con.execute("SELECT epoch, epoch_us(alive_at) FROM wfkit_owner").fetchall()[0]
            epoch = int(row[0]) + 1
            now = datetime.datetime.now(datetime.timezone.utc)
            self._con.execute("UPDATE wfkit_owner SET epoch = ?, pid = ?, opened_at = ?, alive_at = ?", [epoch, os.getpid(), now, now])
            self._con.commit()
        except BaseException:
            self._con.rollback()
            raise
        self.previous_alive_at = None if row[1] is None else row[1] / 1_000_000
        self.epoch = epoch
        self._owner_key = _owner_key(self.path)
        with _OWNERS_LOCK:
            _OWNERS[self._owner_key] = epoch

    def check_owner(self) -> None:
        """Raise `StoreFencedError` if another store in this process opened the file after this one.

        Another process cannot hold the file at the same time (DuckDB's file lock refuses it); inside
        one process DuckDB shares the database between connections, so the owner epoch decides.
        """
        if self.epoch is None:
            return
        current = _OWNERS.get(self._owner_key)  # one dict read: atomic under the GIL
        if current != self.epoch:
            raise StoreFencedError(
                f"{self.path}: this engine's ownership of the file (epoch {self.epoch}) was taken over by a newer engine in this process "
                f"(epoch {current}); nothing was written. Use the newer engine, or close it and reopen."
            )

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL into the file)."""
        with contextlib.suppress(duckdb.Error):
            self._writer.close()
            self._con.close()

    def serve_live_reads(self) -> LiveServer | None:
        """Answer read-only queries from other processes while this store holds the file (see `_live.py`);
        None for a store in memory or opened read-only, or if the socket cannot be made."""
        if self.path is None or self.epoch is None:
            return None
        changes = ChangeLog()
        server = LiveServer(self.path, self._con, changes)
        if not server.start():
            return None
        self.changes = changes
        return server

    #### Writes (one transaction per call) ####

    def write(
        self,
        events: Sequence[tuple[str, Event]],
        new_runs: Sequence[RunRow],
        closed_runs: Sequence[RunClose],
        *,
        alive_at: float | None = None,
        payloads: Sequence[StagedPayload] = (),
    ) -> None:
        """Append events, insert new runs and close finished ones, atomically (and note the owner alive at `alive_at`).

        `payloads` (tables the events reference) are written in the same transaction, before the events.

        Raises:
            StoreFencedError: a newer engine in this process owns the file (nothing is written).
        """
        self.check_owner()
        cur = self._writer
        rows, refs = self._event_rows(events)
        if events and not new_runs and not closed_runs and alive_at is None and not payloads and not refs:
            # One statement: DuckDB commits an appender's flush by itself, which saves the
            # BEGIN/COMMIT round trips (a sequential step: 1.68 -> 1.40 ms for its 6 events).
            try:
                fault("mid_commit")
                self._append_rows_txn(cur, rows)
            except BaseException:
                self._appenders.clear()
                raise
            self._note_changes(events, ())
            return
        cur.begin()
        try:
            if payloads or refs:
                write_payloads(cur, payloads, refs)
                fault("after_payload_write")
            if new_runs:
                self._insert_runs_txn(cur, new_runs)
            if events:
                self._append_rows_txn(cur, rows)
            if closed_runs:
                self._close_runs_txn(cur, closed_runs)
            if alive_at is not None and self.epoch is not None:
                cur.execute("UPDATE wfkit_owner SET alive_at = ? WHERE epoch = ?", [_timestamp(alive_at), self.epoch])
            fault("mid_commit")
            cur.commit()
        except BaseException:
            self._appenders.clear()  # a failed flush may leave rows buffered: start afresh
            with contextlib.suppress(duckdb.Error):
                cur.rollback()
            raise
        self._note_changes(events, [r.run_id for r in new_runs] + [r.run_id for r in closed_runs])

    def _note_changes(self, events: Sequence[tuple[str, Event]], runs: Iterable[str]) -> None:
        """Tell live readers which runs a commit changed, and from which event on (only while some may read)."""
        if self.changes is None:
            return
        first: dict[str, int] = {}
        for run_id, event in events:
            if run_id not in first:  # a batch holds each run's events in order
                first[run_id] = event.event_id
        for run_id in runs:
            first.setdefault(run_id, 1 << 30)  # its row changed, not its events
        self.changes.record(first)

    # DuckDB's appender buffers Python rows and applies them with one statement at flush: bulk
    # speed without Arrow (whose first use imports pandas, a fifth of a second on every open).
    # The appenders are kept between transactions: making one costs a third of a small write.

    def _appender(self, cur: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], action: Literal["insert", "update"] = "insert") -> Any:
        key = (table, action)
        appender = self._appenders.get(key)
        if appender is None:
            keys = {"key": ["run_id"]} if action == "update" else {}
            appender = self._appenders[key] = cur.appender(table, columns=list(columns), action=action, **keys)
        return appender

    def _append_events_txn(self, cur: duckdb.DuckDBPyConnection, events: Sequence[tuple[str, Event]]) -> None:
        rows, refs = self._event_rows(events)
        if refs:
            write_payloads(cur, (), refs)
        self._append_rows_txn(cur, rows)

    @staticmethod
    def _event_rows(events: Sequence[tuple[str, Event]]) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, int]]]:
        """The `events` rows of a batch, and the (payload hash, run_id, event_id) references their attributes hold."""
        rows = []
        refs: list[tuple[str, str, int]] = []
        for run_id, e in events:
            attrs = e.attributes
            text = _json(attrs)
            if text is not None and '"wfkit/' in text:
                refs.extend((ref, run_id, e.event_id) for ref in refs_in([text]))
            rows.append(
                (
                    run_id,
                    e.event_id,
                    _timestamp(e.event_time),
                    e.event_type.value,
                    attrs.get("activity_id"),
                    attrs.get("timer_id"),
                    attrs.get("child_id"),
                    attrs.get("activity_type"),
                    attrs.get("attempt"),
                    text,
                )
            )
        return rows, refs

    def _append_rows_txn(self, cur: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
        appender = self._appender(cur, "events", _EVENT_COLUMNS)
        appender.append_rows(rows)
        appender.flush()

    def _insert_runs_txn(self, cur: duckdb.DuckDBPyConnection, runs: Sequence[RunRow]) -> None:
        appender = self._appender(cur, "workflows", _RUN_COLUMNS)
        appender.append_rows(
            (
                r.run_id, r.workflow_id, r.workflow_type, r.task_queue, "Running", _json(r.input), _timestamp(r.start_time),
                r.parent_run_id, r.parent_workflow_id, r.continued_from_run_id, r.forked_from_run_id,
            )
            for r in runs
        )  # fmt: skip
        appender.flush()

    def _close_runs_txn(self, cur: duckdb.DuckDBPyConnection, runs: Sequence[RunClose]) -> None:
        appender = self._appender(cur, "workflows", _CLOSE_COLUMNS, action="update")
        appender.append_rows((r.run_id, r.status, _json(r.result), _json(r.failure), _timestamp(r.close_time), r.history_length) for r in runs)
        appender.flush()

    #### Reads ####

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run a query with bound parameters and return a DuckDB relation."""
        return self._con.sql(query, params=params) if params is not None else self._con.sql(query)

    def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            return self._con.execute(query, list(params)).fetchall()

    def open_runs(self) -> list[dict[str, Any]]:
        """Every run whose status is Running, oldest first."""
        return self._runs_where("status = 'Running'", ())

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The `workflows` row of a run id."""
        rows = self._runs_where("run_id = ?", (run_id,))
        return rows[0] if rows else None

    def latest_run(self, workflow_id: str) -> dict[str, Any] | None:
        """The most recently started run of a workflow id."""
        rows = self._runs_where("workflow_id = ?", (workflow_id,))
        return rows[-1] if rows else None

    def _runs_where(self, condition: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        query = (
            "SELECT run_id, workflow_id, workflow_type, task_queue, status, input, result, failure,"
            " epoch_us(start_time), epoch_us(close_time), parent_run_id, parent_workflow_id,"
            " continued_from_run_id, forked_from_run_id, history_length"
            f" FROM workflows WHERE {condition} ORDER BY start_time, run_id"
        )
        names = (
            "run_id", "workflow_id", "workflow_type", "task_queue", "status", "input", "result", "failure",
            "start_time", "close_time", "parent_run_id", "parent_workflow_id", "continued_from_run_id",
            "forked_from_run_id", "history_length",
        )  # fmt: skip
        out = []
        for row in self._fetch(query, params):
            record = dict(zip(names, row, strict=True))
            for key in ("input", "result", "failure"):
                record[key] = None if record[key] is None else json.loads(record[key])
            for key in ("start_time", "close_time"):
                record[key] = None if record[key] is None else record[key] / 1_000_000
            out.append(record)
        return out

    def recent_runs(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` most recently started runs, newest first."""
        rows = self._runs_where("run_id IN (SELECT run_id FROM workflows ORDER BY start_time DESC, run_id LIMIT ?)", (int(limit),))
        return rows[::-1]

    def load_events(self, run_id: str) -> list[Event]:
        """The history of one run, in order."""
        return self.load_events_many([run_id]).get(run_id, [])

    def last_event(self, run_id: str) -> tuple[Event, str] | None:
        """A run's last event and its workflow type (for a closed run: its closing event), without reading its history."""
        rows = self._fetch(
            "SELECT e.run_id, e.event_id, epoch_us(e.event_time), e.event_type, e.attributes, coalesce(w.workflow_type, '')"
            " FROM events e LEFT JOIN workflows w USING (run_id) WHERE e.run_id = ? ORDER BY e.event_id DESC LIMIT 1",
            (run_id,),
        )
        if not rows:
            return None
        return self._events(rows[0][:5])[run_id][0], str(rows[0][5])

    def load_events_many(self, run_ids: Iterable[str]) -> dict[str, list[Event]]:
        """The histories of several runs in one query."""
        ids = list(run_ids)
        if not ids:
            return {}
        rows = self._fetch(
            "SELECT run_id, event_id, epoch_us(event_time), event_type, attributes FROM events"
            " WHERE run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY run_id, event_id",
            (ids,),
        )
        out: dict[str, list[Event]] = {run_id: [] for run_id in ids}
        out.update(self._events(*rows))
        return out

    def _events(self, *rows: tuple[Any, ...]) -> dict[str, list[Event]]:
        out: dict[str, list[Event]] = {}
        for run_id, event_id, micros, event_type, attributes in rows:
            try:
                attrs = json.loads(attributes) if attributes else {}
                if not isinstance(attrs, dict):
                    raise ValueError("its attributes are not a JSON object")
                out.setdefault(run_id, []).append(Event(event_id, EventType(event_type), micros / 1_000_000, attrs))
            except ValueError as exc:  # a damaged (or hand-made) file
                raise StoreCorruptError(f"{self.path or 'memory'}: run {run_id} event {event_id} cannot be read: {exc}") from None
        return out

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer cursor inside a transaction: committed at the end, rolled back if anything raises."""
        cur = self._writer
        cur.begin()
        try:
            yield cur
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                cur.rollback()
            raise
        cur.commit()

    def read_payload(self, ref: str) -> bytes | None:
        """A stored payload's bytes, by hash (None: not stored)."""
        with self._read_lock:
            return read_payload(self._con, ref)

    def output(self, workflow_id: str, activity: str | None, *, event_id: int | None, attempt: int | None, run_id: str | None) -> duckdb.DuckDBPyRelation:
        """A relation over the table a step returned (see `_payloads.output_relation`)."""
        with self._read_lock:
            return output_relation(self._con, workflow_id, activity, event_id=event_id, attempt=attempt, run_id=run_id)

    #### Runs recorded elsewhere (Temporal imports) ####

    def insert_run(self, run: RunRow, status: str, events: Sequence[Event], close: RunClose | None = None) -> int:
        """Store a whole run recorded elsewhere (a Temporal history): its `workflows` row and its events, in one transaction.

        `status` is the row's status (use one the engine does not resume, never "Running"). A run
        that is already stored gets only the events past those it holds (histories are
        append-only) and its status and close columns brought up to date. Returns the number of
        events appended.

        Raises:
            StoreError: the run id holds a different history (the stored events are not a prefix of `events`).
        """
        with self._transaction() as cur:
            existing = cur.execute("SELECT workflow_id FROM workflows WHERE run_id = ?", [run.run_id]).fetchone()
            stored = 0
            if existing is None:
                cur.execute(
                    f"INSERT INTO workflows ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
                    [
                        run.run_id, run.workflow_id, run.workflow_type, run.task_queue, status, _json(run.input), _timestamp(run.start_time),
                        run.parent_run_id, run.parent_workflow_id, run.continued_from_run_id, run.forked_from_run_id,
                    ],
                )  # fmt: skip
            else:
                last = cur.execute("SELECT max(event_id), arg_max(event_type, event_id) FROM events WHERE run_id = ?", [run.run_id]).fetchone()
                stored, last_type = (int(last[0]), last[1]) if last is not None and last[0] is not None else (0, None)
                if existing[0] != run.workflow_id or stored > len(events) or (stored and events[stored - 1].event_type.value != last_type):
                    raise StoreError(f"run {run.run_id} is already stored with a different history; not importing over it")
                cur.execute("UPDATE workflows SET status = ? WHERE run_id = ?", [status, run.run_id])
            new = [(run.run_id, e) for e in events[stored:]]
            if new:
                self._append_events_txn(cur, new)
            if close is not None:
                cur.execute(
                    "UPDATE workflows SET status = ?, result = ?, failure = ?, close_time = ?, history_length = ? WHERE run_id = ?",
                    [close.status, _json(close.result), _json(close.failure), _timestamp(close.close_time), close.history_length, run.run_id],
                )
            else:
                cur.execute("UPDATE workflows SET history_length = ? WHERE run_id = ?", [len(events), run.run_id])
        if self.changes is not None:
            self.changes.record({run.run_id: stored + 1})
        return len(new)

    #### Retention ####

    def purgeable_runs(self, before: float | None, workflow_types: Sequence[str], statuses: Sequence[str], limit: int) -> list[tuple[str, int]]:
        """Up to `limit` closed runs that closed before `before` (seconds; None: any time), oldest first, with their event counts.

        Only runs whose close is durable qualify (`close_time` set): open runs, and imported runs
        still running on Temporal, never do.
        """
        conditions = ["w.close_time IS NOT NULL", "w.status <> 'Running'"]
        params: list[Any] = []
        if before is not None:
            conditions.append("w.close_time < ?")
            params.append(_timestamp(before))
        if workflow_types:
            conditions.append("w.workflow_type IN (SELECT unnest(?))")
            params.append(list(workflow_types))
        if statuses:
            conditions.append("w.status IN (SELECT unnest(?))")
            params.append(list(statuses))
        query = (
            "SELECT w.run_id, (SELECT count(*) FROM events e WHERE e.run_id = w.run_id) FROM workflows w"
            f" WHERE {' AND '.join(conditions)} ORDER BY w.close_time, w.run_id LIMIT ?"
        )
        # The writer's cursor: this runs on the DuckDB thread, beside readers of the main connection.
        return [(str(run_id), int(count)) for run_id, count in self._writer.execute(query, [*params, limit]).fetchall()]

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete closed runs with their events, in one transaction; returns the number of events deleted.

        A run that is (again) open is left alone: only rows with a durable close are deleted.
        """
        self.check_owner()
        with self._transaction() as cur:
            closed = [r for (r,) in cur.execute(
                "SELECT run_id FROM workflows WHERE run_id IN (SELECT unnest(?)) AND close_time IS NOT NULL AND status <> 'Running'", [list(run_ids)]
            ).fetchall()]  # fmt: skip
            row = cur.execute("DELETE FROM events WHERE run_id IN (SELECT unnest(?))", [closed]).fetchone()
            cur.execute("DELETE FROM workflows WHERE run_id IN (SELECT unnest(?))", [closed])
            cur.execute("DELETE FROM wfkit_payload_refs WHERE run_id IN (SELECT unnest(?))", [closed])
            delete_orphans(cur)  # payloads no remaining event references (another run's reference keeps a shared one)
            fault("mid_purge")
        if self.changes is not None:
            self.changes.record(dict.fromkeys(closed, 1))  # from event 1 on: the whole run (now gone)
        return int(row[0]) if row else 0

    def reclaim(self) -> tuple[int, int]:
        """Checkpoint, so the blocks deleted rows held are free for new data; returns (used, free) blocks."""
        cur = self._writer
        cur.execute("CHECKPOINT")
        row = cur.execute("SELECT used_blocks, free_blocks FROM pragma_database_size() WHERE database_name = current_database()").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)


_OWNERS: dict[str, int] = {}
"""The current owner epoch of each file this process opened for writing (by real path)."""
_OWNERS_LOCK = threading.Lock()


def _owner_key(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _open_error(target: str, exc: duckdb.Error) -> StoreError:
    text = str(exc)
    if "lock" in text.lower():
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", text)
        who = f" by PID {holder.group(2)} ({holder.group(1)})" if holder else ""
        return StoreLockedError(
            f"{target} is open in another process{who}; DuckDB allows one writer per file: close that engine or kernel, or open a copy read-only"
        )
    if "not a valid DuckDB database" in text or "database file" in text.lower():
        return StoreCorruptError(f"{target} is not a DuckDB database file (or it is damaged): {_first_line(exc)}")
    return StoreError(f"cannot open {target}: {_first_line(exc)}")


def refuse_stored_code(con: duckdb.DuckDBPyConnection, target: str, database: str, *, macros: bool = True) -> None:
    """Refuse a database file that carries SQL code wfkit would run: a view in place of one of wfkit's
    tables, or (with `macros`, for a file opened as the main database, whose macros would replace
    built-in functions in wfkit's own queries) a macro named like a built-in function. A file someone
    sent you is data, never code. (An attached file's macros are never called: they are not on the
    search path.)

    Raises:
        NotAWfkitDatabaseError: the file holds such code.
    """
    kinds = dict(
        con.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main'", [database]).fetchall()
    )
    for name in sorted(WFKIT_TABLES & kinds.keys()):
        if kinds[name] != "BASE TABLE":
            raise NotAWfkitDatabaseError(
                f"{target}: {name} is a {str(kinds[name]).lower()}, not a table; wfkit does not run SQL code stored in a database file"
            )
    if not macros:
        return
    shadowing = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE database_name = ? AND NOT internal"
            " AND function_name IN (SELECT function_name FROM duckdb_functions() WHERE internal) ORDER BY 1",
            [database],
        ).fetchall()
    ]
    if shadowing:
        raise NotAWfkitDatabaseError(
            f"{target} defines SQL macros named like built-in functions ({', '.join(shadowing[:5])}); wfkit does not run SQL code stored in a database file"
        )


@functools.cache
def _wfkit_view_sql() -> dict[str, str]:
    """The analytic views as DuckDB stores them when wfkit creates them (built once, in memory)."""
    scratch = duckdb.connect()
    try:
        scratch.execute(MIGRATIONS[0])
        scratch.execute(ANALYTIC_VIEWS)
        return dict(scratch.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
    finally:
        scratch.close()


def _use_wfkit_views(con: duckdb.DuckDBPyConnection) -> None:
    """The engine's analytics query the views named in VIEW_NAMES: if the file's are not wfkit's own (changed
    by someone, or a table of that name), temp views with wfkit's definitions hide them for this connection."""
    stored = dict(con.execute("SELECT view_name, sql FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main'").fetchall())
    if any(stored.get(name) != sql for name, sql in _wfkit_view_sql().items()):
        con.execute(ANALYTIC_VIEWS.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))


def schema_version(con: duckdb.DuckDBPyConnection, target: str, catalog: str, *, macros: bool = True) -> int:
    """The wfkit schema version of the database `catalog` (0: empty), after the checks every open makes.

    Raises:
        StoreCorruptError: the table list cannot be read.
        NotAWfkitDatabaseError: it holds other tables, or SQL code wfkit would run (see `refuse_stored_code`).
        SchemaVersionError: a newer wfkit wrote it.
    """
    try:
        query = "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main'"
        tables = {row[0] for row in con.execute(query, [catalog]).fetchall()}
    except duckdb.Error as exc:
        raise StoreCorruptError(f"{target}: cannot read the table list ({_first_line(exc)})") from None
    if not tables:
        return 0
    if "wfkit_schema" not in tables:
        others = ", ".join(sorted(tables - WFKIT_TABLES)[:5]) or ", ".join(sorted(tables))
        raise NotAWfkitDatabaseError(f"{target} is a DuckDB database but not a wfkit one (it has tables: {others})")
    refuse_stored_code(con, target, catalog, macros=macros)
    # fetchall, not fetchone: DuckDB 2.0 keeps a partly fetched result open and refuses `con.sql` until it is finished.
    quoted = '"' + catalog.replace('"', '""') + '"'
    row = con.execute(f"SELECT max(version) FROM {quoted}.wfkit_schema").fetchall()[0]
    version = int(row[0]) if row and row[0] is not None else 0
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(f"{target} has wfkit schema version {version}, newer than this wfkit ({SCHEMA_VERSION}); upgrade wfkit")
    return version


def _migrate(con: duckdb.DuckDBPyConnection, target: str, read_only: bool) -> None:
    try:
        database = str(con.execute("SELECT current_database()").fetchall()[0][0])
    except duckdb.Error as exc:
        raise StoreCorruptError(f"{target}: cannot read the table list ({_first_line(exc)})") from None
    version = schema_version(con, target, database)
    if version == SCHEMA_VERSION:
        _use_wfkit_views(con)
        return
    if read_only:
        raise SchemaVersionError(f"{target} needs a schema upgrade (version {version} -> {SCHEMA_VERSION}); open it read-write once")
    con.begin()
    try:
        if version == 0:
            con.execute("CREATE TABLE wfkit_schema (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
        for number, ddl in enumerate(MIGRATIONS[version:], start=version + 1):
            con.execute(ddl)
            con.execute("INSERT INTO wfkit_schema VALUES (?, ?)", [number, datetime.datetime.now(datetime.timezone.utc)])
        con.commit()
    except BaseException:
        con.rollback()
        raise
