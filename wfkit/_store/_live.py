"""Live reads: other processes read a file an engine holds, from a replica the engine keeps up to date.

DuckDB lets one process open a file for writing and then no other process may open it at all,
not even read-only. So the process that holds the file serves it: the engine listens on a Unix
socket (owner-only permissions, in a private directory under the temp dir) and a reader keeps an
in-memory DuckDB replica of the `events` and `workflows` tables, with the analytic views over it.
The first sync copies both tables; after that the engine's `ChangeLog` (which runs each commit
changed, and from which event on) lets a sync fetch only what changed since the last one. Every
sync runs in one read transaction on the engine's side (a snapshot: each run's events arrive as
a gapless prefix of its history), never blocks its commits, and never writes. The queries
themselves run in the reader's process, so a reader costs the engine one small read per sync.
A dead engine leaves a socket nobody answers: clients fail fast and open the file directly.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import socket
import socketserver
import struct
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from wfkit.errors import ArgumentError, StoreError

__all__ = ["ChangeLog", "LiveReplica", "LiveServer", "check_select", "socket_path"]

logger = logging.getLogger("wfkit.store")

_HEADER = struct.Struct("!I")
_MAX_REQUEST = 16 * 1024 * 1024
_OK, _ERROR = b"\x00", b"\x01"

#: Seconds a client waits for an answer before giving up (a query that long is not a monitor's).
CLIENT_TIMEOUT = 60.0


def socket_path(db_path: str | os.PathLike[str]) -> Path:
    """Where the engine holding `db_path` answers live reads: one name per real path, in a directory only this user can enter."""
    real = os.path.realpath(os.path.abspath(db_path))
    directory = Path(tempfile.gettempdir()) / f"wfkit-{os.getuid()}"
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return directory / f"{digest}.sock"


#### The engine's side ####


class ChangeLog:
    """Which runs each commit changed, and the first event it wrote for each (thread-safe; bounded)."""

    def __init__(self, keep: int = 100_000) -> None:
        self.generation = uuid.uuid4().hex
        """Names this log: a reader that synced against another (an earlier engine) starts over."""
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: collections.deque[tuple[int, dict[str, int]]] = collections.deque(maxlen=keep)

    def record(self, first_event: dict[str, int]) -> None:
        """A commit changed these runs, from these event ids on (a huge id: only the run's row)."""
        if first_event:
            with self._lock:
                self._seq += 1
                self._entries.append((self._seq, first_event))

    def since(self, seq: int) -> tuple[int, dict[str, int] | None]:
        """(the latest seq, the runs changed after `seq` with the first changed event of each);
        None for the runs if the log no longer reaches back to `seq` (the reader must copy everything)."""
        with self._lock:
            latest = self._seq
            if seq > latest or (self._entries and self._entries[0][0] > seq + 1) or (not self._entries and seq != latest):
                return latest, None
            changed: dict[str, int] = {}
            for entry_seq, runs in reversed(self._entries):
                if entry_seq <= seq:
                    break
                for run_id, first in runs.items():
                    changed[run_id] = min(first, changed.get(run_id, first))
            return latest, changed


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        cursor = self.server.con.cursor()
        try:
            while True:
                request = _read_frame(self.rfile)
                if request is None:
                    return
                try:
                    answer = _OK + _sync(cursor, self.server.changes, json.loads(request))
                except duckdb.ConnectionException:
                    return  # the engine is closing: the reader sees the connection close
                except Exception as exc:  # noqa: BLE001 - the reader gets the error; the engine goes on
                    answer = _ERROR + f"{type(exc).__name__}: {exc}".encode()
                self.wfile.write(_HEADER.pack(len(answer)) + answer)
        except (OSError, ValueError):
            return  # the reader went away or spoke nonsense: drop the connection
        finally:
            with contextlib.suppress(duckdb.Error):
                cursor.close()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, con: duckdb.DuckDBPyConnection, changes: ChangeLog) -> None:
        self.con = con
        self.changes = changes
        super().__init__(path, _Handler)


class LiveServer:
    """Serves replica syncs of the database of `con` to other processes (see the module docstring)."""

    def __init__(self, db_path: str, con: duckdb.DuckDBPyConnection, changes: ChangeLog) -> None:
        self.path = socket_path(db_path)
        self._con = con
        self._changes = changes
        self._server: _Server | None = None

    def start(self) -> bool:
        """Listen; False (logged) if the socket cannot be made, e.g. a path too long for a Unix socket."""
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.path.parent, 0o700)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # a socket a dead engine left behind: this process holds the file now
            old_umask = os.umask(0o177)
            try:
                self._server = _Server(str(self.path), self._con, self._changes)
            finally:
                os.umask(old_umask)
        except OSError as exc:
            logger.warning("wfkit: live reads from other processes are off for this file: %s", exc)
            return False
        thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="wfkit-live-reads", daemon=True)
        thread.start()
        return True

    def stop(self) -> None:
        """Stop answering and remove the socket (without waiting: closing an engine stays instant)."""
        server, self._server = self._server, None
        if server is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

        def shut_down() -> None:
            server.shutdown()
            server.server_close()

        threading.Thread(target=shut_down, name="wfkit-live-reads-stop", daemon=True).start()


def _sync(cursor: duckdb.DuckDBPyConnection, changes: ChangeLog, request: dict[str, Any]) -> bytes:
    """What a reader at (generation, seq) lacks: the changed runs' rows and new events, or everything."""
    import pyarrow as pa

    seq = int(request.get("seq", -1)) if request.get("generation") == changes.generation else -1
    latest, changed = changes.since(seq) if seq >= 0 else (changes.since(0)[0], None)
    cursor.begin()  # one snapshot for both tables
    try:
        if changed is None:
            events = cursor.sql("SELECT * FROM events").to_arrow_table()
            workflows = cursor.sql("SELECT * FROM workflows").to_arrow_table()
        else:
            ids, firsts = list(changed), list(changed.values())
            events = cursor.sql(
                "SELECT e.* FROM events e JOIN (SELECT unnest(?) AS run_id, unnest(?) AS first_id) c ON e.run_id = c.run_id AND e.event_id >= c.first_id",
                params=[ids, firsts],
            ).to_arrow_table()
            workflows = cursor.sql("SELECT * FROM workflows WHERE run_id IN (SELECT unnest(?))", params=[ids]).to_arrow_table()
    finally:
        cursor.rollback()
    head = json.dumps({"generation": changes.generation, "seq": latest, "changed": changed}).encode()
    parts = [head]
    for table in (events, workflows):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        parts.append(bytes(sink.getvalue()))
    return b"".join(_HEADER.pack(len(part)) + part for part in parts)


#### A reader's side ####


class LiveReplica:
    """An in-memory replica of a file another process's engine holds, synced on demand.

    `con` holds `events`, `workflows` and the analytic views; `refresh()` brings them up to date
    (at most every `freshness` seconds).
    """

    def __init__(self, db_path: str | os.PathLike[str], *, freshness: float = 0.5) -> None:
        """Raises `ConnectionError` (at once) if no engine answers for `db_path`."""
        from wfkit._store._schema import ANALYTIC_VIEWS, MIGRATIONS

        self.path = socket_path(db_path)
        self.freshness = freshness
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(CLIENT_TIMEOUT)
        try:
            self._sock.connect(str(self.path))
        except OSError as exc:
            self._sock.close()
            raise ConnectionError(f"no engine answers live reads for {db_path} ({exc.strerror or exc})") from None
        self._file = self._sock.makefile("rb")
        self._lock = threading.Lock()
        # One core fewer than the machine has: the engine whose file this mirrors runs beside it.
        self.con = duckdb.connect(config={"threads": max(1, (os.cpu_count() or 2) - 1)})
        self.con.execute(MIGRATIONS[0])
        self.con.execute(ANALYTIC_VIEWS)
        self._generation: str | None = None
        self._seq = -1
        self._synced_at = 0.0
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> None:
        """Fetch what changed since the last sync (everything, the first time).

        Raises:
            StoreError: the engine stopped answering (it closed or died), or failed the sync.
        """
        with self._lock:
            if not force and time.monotonic() - self._synced_at < self.freshness:
                return
            import pyarrow as pa

            request = json.dumps({"generation": self._generation, "seq": self._seq}).encode()
            try:
                self._sock.sendall(_HEADER.pack(len(request)) + request)
                answer = _read_frame(self._file)
            except OSError as exc:
                raise StoreError(f"the engine holding the file stopped answering live reads ({exc})") from None
            if answer is None:
                raise StoreError("the engine holding the file closed the live-read connection (it was closed or it stopped)")
            if answer[:1] == _ERROR:
                raise StoreError(f"live read failed in the engine's process: {answer[1:].decode(errors='replace')}")
            head, events, workflows = _split_frames(answer[1:])
            meta = json.loads(head)
            self._apply(meta["changed"], pa.ipc.open_stream(events).read_all(), pa.ipc.open_stream(workflows).read_all())
            self._generation, self._seq, self._synced_at = meta["generation"], int(meta["seq"]), time.monotonic()

    def _apply(self, changed: dict[str, int] | None, events: Any, workflows: Any) -> None:
        con = self.con
        con.begin()
        try:
            if changed is None:
                con.execute("DELETE FROM events")
                con.execute("DELETE FROM workflows")
            elif changed:
                con.execute(
                    "DELETE FROM events USING (SELECT unnest(?) AS run_id, unnest(?) AS first_id) c"
                    " WHERE events.run_id = c.run_id AND events.event_id >= c.first_id",
                    [list(changed), list(changed.values())],
                )
                con.execute("DELETE FROM workflows WHERE run_id IN (SELECT unnest(?))", [list(changed)])
            con.register("_wfkit_new_events", events)
            con.register("_wfkit_new_workflows", workflows)
            con.execute("INSERT INTO events BY NAME SELECT * FROM _wfkit_new_events")
            con.execute("INSERT INTO workflows BY NAME SELECT * FROM _wfkit_new_workflows")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            with contextlib.suppress(duckdb.Error):
                con.unregister("_wfkit_new_events")
                con.unregister("_wfkit_new_workflows")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()
        self.con.close()


def check_select(query: str) -> None:
    """Refuse anything but SELECT statements on a replica (it mirrors a file; changes would be lost at the next sync)."""
    for statement in duckdb.extract_statements(query):
        if statement.type != duckdb.StatementType.SELECT:
            raise ArgumentError(f"a live file is read-only here ({statement.type.name} refused): the engine holding it is the only writer")


#### Framing and parameters ####


def _read_frame(stream: Any) -> bytes | None:
    header = stream.read(_HEADER.size)
    if not header:
        return None
    if len(header) < _HEADER.size:
        raise ValueError("truncated frame")
    (length,) = _HEADER.unpack(header)
    if length > _MAX_REQUEST * 64:
        raise ValueError("frame too large")
    data: bytes = stream.read(length)
    if len(data) < length:
        raise ValueError("truncated frame")
    return data


def _split_frames(data: bytes) -> list[bytes]:
    parts, offset = [], 0
    while offset < len(data):
        (length,) = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        parts.append(data[offset : offset + length])
        offset += length
    return parts
