"""kill -9 on the payload write path: never a reference to a missing payload, never an orphan after reopen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import wfkit
from tests.support.helpers import run_on_new_loop
from wfkit._store._payloads import refs_in

WORKER = Path(__file__).resolve().parents[1] / "support" / "payload_worker.py"
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = 2 * sum(range(1000))


def _run_worker(db: Path, faults: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("WFKIT_FAULTS", None)
    if faults:
        env["WFKIT_FAULTS"] = faults
    return subprocess.run([sys.executable, str(WORKER), str(db)], env=env, capture_output=True, text=True, timeout=60, check=False)


def _dangling_and_orphans(db: Path) -> tuple[list[str], list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        texts = [t for (t,) in con.execute("SELECT attributes FROM events WHERE attributes LIKE '%wfkit/table%'").fetchall()]
        referenced = set(refs_in(texts))
        stored = {h for (h,) in con.execute("SELECT hash FROM wfkit_payloads").fetchall()}
        tracked = {h for (h,) in con.execute("SELECT hash FROM wfkit_payload_refs").fetchall()}
        assert referenced <= tracked, "an event's reference is not in wfkit_payload_refs"
        return sorted(referenced - stored), sorted(stored - referenced)
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        "activity_completed@1:kill",
        "activity_completed@2:kill",
        "after_payload_write@1:kill",
        "after_payload_write@2:kill",
        "mid_commit@2:kill",
        "after_commit@3:kill",
    ],
)
def test_a_kill_on_the_payload_path_leaves_no_dangling_reference_and_no_orphan(tmp_path: Path, faults: str) -> None:
    db = tmp_path / "wf.duckdb"
    crashed = _run_worker(db, faults)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    dangling, _ = _dangling_and_orphans(db)
    assert dangling == []  # orphans may exist until the next open: it deletes them
    run_on_new_loop(_open_and_close(db))
    dangling, orphans = _dangling_and_orphans(db)
    assert (dangling, orphans) == ([], [])
    finished = _run_worker(db, None)
    assert finished.stdout.split() == ["done", str(EXPECTED)], finished.stderr[-2000:]
    assert _dangling_and_orphans(db) == ([], [])


async def _open_and_close(db: Path) -> None:
    # Opening resumes the run too; close at once (what it did meanwhile is durable or rolled back).
    engine = await wfkit.Engine.open(db)
    await engine.close(grace=0)


def test_an_orphan_payload_is_deleted_at_open(tmp_path: Path) -> None:
    db = tmp_path / "wf.duckdb"
    run_on_new_loop(_open_and_close(db))
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO wfkit_payloads (hash, encoding, bytes, created_at, data) VALUES ('ab', 'wfkit/table', 1, now(), 'x'::BLOB)")
    con.close()
    run_on_new_loop(_open_and_close(db))
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM wfkit_payloads").fetchall() == [(0,)]
    con.close()
