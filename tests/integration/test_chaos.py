"""Chaos: SIGKILL a worker running a mixed ETL load at random moments and at every fault point; nothing is lost.

The harness and its invariants are in tests/support/chaos.py (bench/chaos.py runs the same with 500
kills). WFKIT_CHAOS_KILLS sets the number of kills (default 60: 10 per mode), WFKIT_CHAOS_SEED
the seed of the kill schedule (the timing of the processes varies anyway).
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support import chaos

KILLS = int(os.environ.get("WFKIT_CHAOS_KILLS", "60"))
SEED = int(os.environ.get("WFKIT_CHAOS_SEED", str(random.randrange(2**32))))


@pytest.mark.slow
@pytest.mark.timeout(150 + 2 * KILLS)  # 60 kills take about 35 s on 2 cores
def test_sigkill_at_random_moments_and_at_every_fault_point_breaks_no_invariant(tmp_path: Path) -> None:
    tally = chaos.run_chaos(tmp_path, KILLS, seed=SEED)
    report = f"{tally.summary()}\n(rerun with WFKIT_CHAOS_SEED={SEED}; files in {tmp_path})"
    print(report)
    assert not tally.violations, f"{len(tally.violations)} violation(s)\n{report}\n" + "\n".join(v[:2000] for v in tally.violations[:30])
    assert tally.total_kills >= KILLS
    per_mode = KILLS // len(chaos.MODES)
    for point in chaos.FAULT_POINTS:
        assert tally.kills[point] >= per_mode, f"too few kills at {point}\n{report}"
    assert tally.kills["random"] + tally.kills["random (before ready)"] >= per_mode, report
    assert tally.recoveries >= KILLS // 2, report
    assert tally.stats["attempts cut short by a crash and run again"] > 0, report
    assert tally.stats["events copied by forks"] > 0, report


def _one_clean_life(workdir: Path) -> tuple[Path, Path]:
    db, side, control = workdir / "chaos.duckdb", workdir / "side.jsonl", workdir / "control.jsonl"
    chaos._write_requests(control, 0, 1)
    process = chaos.launch([sys.executable, str(chaos.WORKER), str(db), str(side), str(control), "0", "1"], workdir, "life-0", env={"WFKIT_FAULTS": ""})
    assert process.returncode == 0, process.describe()
    assert process.done, process.describe()
    return db, side


def test_the_auditor_reports_what_it_promises_to_check(tmp_path: Path) -> None:
    """The checks are not vacuous: tampering with a clean file and side file makes each of them speak."""
    db, side = _one_clean_life(tmp_path)
    auditor = chaos.Auditor(db, side)
    assert auditor.audit(0) == []
    assert auditor.final_audit(1, 0) == []

    # An attempt that ran again in a later life without a new ActivityTaskStarted (a hidden re-run).
    first = json.loads(side.read_text().splitlines()[0])
    with side.open("a") as out:
        out.write(json.dumps({**first, "life": 1}) + "\n")
    con = duckdb.connect(str(db))
    try:
        etl = con.execute("SELECT run_id FROM workflows WHERE workflow_id = 'etl-0'").fetchall()[0][0]
        approval = con.execute("SELECT run_id FROM workflows WHERE workflow_id = 'approve-0'").fetchall()[0][0]
        notifier = con.execute("SELECT run_id FROM workflows WHERE workflow_id = 'notify-0'").fetchall()[0][0]
        # An event changed in place, an event lost, a second closing event.
        con.execute(
            'UPDATE events SET attributes = json_merge_patch(attributes, \'{"result": {"encoding": "json/plain", "data": 1}}\')'
            " WHERE run_id = ? AND event_type = 'ActivityTaskCompleted' AND activity_id = 1",
            [etl],
        )
        con.execute(
            'UPDATE events SET attributes = json_merge_patch(attributes, \'{"result": {"encoding": "json/plain", "data": 2}}\')'
            " WHERE event_type = 'WorkflowExecutionCompleted' AND run_id = (SELECT run_id FROM workflows WHERE workflow_id = 'fan-0')"
        )
        # The signal item-0-0, wherever it landed (the harness's and the sibling's signals race).
        lost = con.execute(
            "SELECT event_id FROM events WHERE run_id = ? AND event_type = 'WorkflowExecutionSignaled' AND attributes->>'$.input.data.req' = 'item-0-0'",
            [approval],
        ).fetchall()[0][0]
        con.execute("DELETE FROM events WHERE run_id = ? AND event_id = ?", [approval, lost])
        con.execute(
            "INSERT INTO events SELECT run_id, event_id + 1, event_time, event_type, activity_id, timer_id, child_id, activity_type, attempt, attributes"
            " FROM events WHERE run_id = ? AND event_type = 'WorkflowExecutionCompleted'",
            [notifier],
        )
    finally:
        con.close()
    problems = "\n".join(auditor.audit(1))
    assert "this attempt ran twice" in problems
    assert "its ActivityTaskStarted was committed in life 0" in problems
    assert "changed after it was committed" in problems
    assert "event ids are not 1.." in problems
    assert "2 closing events" in problems
    # A fresh auditor sees the damage as bad histories and wrong outcomes.
    fresh = chaos.Auditor(db, side)
    problems = "\n".join(fresh.final_audit(1, 1))
    assert "(etl-0): replay failed: NondeterminismError" in problems  # extract's changed result changes what the code does
    assert "(fan-0): result 2, expected" in problems
    assert "approve-0: request item-0-0 arrived 0 times" in problems  # the lost event was that signal
