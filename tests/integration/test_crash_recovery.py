"""Crash recovery: SIGKILL a worker process running 20 ETL workflows at random moments, then audit the DuckDB file.

The worker (tests/support/crash_worker.py) opens the engine on a DuckDB file, starts the workflows that
were never started and waits for all of them; every activity attempt first appends a fsynced
line to a side file. This test kills it with SIGKILL at random moments after it reports
"ready" (and, now and then, also before: while it opens the file and resumes the open runs),
restarts it each time, lets one last run finish everything, and then reads the file with
duckdb (no wfkit) to check:

- every workflow has exactly one run and one WorkflowExecutionCompleted event, with the result
  computed independently here;
- no activity whose completion was committed ran again: no attempt in the side file is later
  than the attempt of the activity's ActivityTaskCompleted, no (run, activity, attempt) ran
  twice, and every attempt that ran has its ActivityTaskStarted in the history;
- every run's event ids are exactly 1..n;
- the file opens cleanly, and no worker wrote anything to stderr.

WFKIT_CRASH_KILLS sets the number of kills after "ready" (default 20; above 20 every workflow
gets more batches so that the kills still land in work), WFKIT_CRASH_SEED the seed of the kill
schedule (the timing of the processes varies anyway).
"""

from __future__ import annotations

import collections
import json
import math
import os
import random
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.support.chaos import launch

WORKER = Path(__file__).resolve().parents[1] / "support" / "crash_worker.py"
N_WORKFLOWS = 20
KILLS = int(os.environ.get("WFKIT_CRASH_KILLS", "20"))
SEED = int(os.environ.get("WFKIT_CRASH_SEED", str(random.randrange(2**32))))
MAX_KILL_DELAY = 0.4
"""Kills land uniformly in [0, MAX_KILL_DELAY] seconds after the worker printed "ready"."""
EXTRA_BATCHES = max(0, round(0.3 * (KILLS - 20)))
"""More kills need more work to land in: every workflow gets this many more batches."""
READY_TIMEOUT = 30.0
FINAL_TIMEOUT = 60.0

SOURCES = ("orders", "customers", "payments")
ROWS_PER_EXTRACT = 20
WORKFLOW_ID_LENGTH = len("etl-00")


#### What the workflows must return, computed without the worker's code ####


def expected_batches(index: int) -> int:
    return 2 + index % 3 + EXTRA_BATCHES


def expected_result(index: int) -> dict[str, int]:
    totals = []
    for batch in range(expected_batches(index)):
        key = index * 100 + batch
        sources = SOURCES if batch == 0 else (SOURCES[(index + batch) % 3],)
        totals.append(sum((zlib.crc32(f"{source}/{key}".encode()) * (k + 1)) % 997 for source in sources for k in range(ROWS_PER_EXTRACT)))
    checksum = sum((position + 1) * total for position, total in enumerate(totals)) + WORKFLOW_ID_LENGTH
    return {"index": index, "batches": expected_batches(index), "total": sum(totals), "checksum": checksum}


def expected_activities(index: int) -> collections.Counter[str]:
    batches = expected_batches(index)
    return collections.Counter({"extract": len(SOURCES) + batches - 1, "transform": batches, "validate": 1, "load": 1})


#### Running the worker ####


@dataclass
class WorkerRun:
    number: int
    limit: int
    kill_after: float | None
    killed: bool
    before_ready: bool
    """Killed before it printed "ready"."""
    returncode: int
    seconds_to_ready: float
    seconds_alive: float
    """From "ready" to the kill or the exit."""
    stdout: str
    stderr: str

    @property
    def done(self) -> bool:
        return any(line.startswith("done ") for line in self.stdout.splitlines())

    def describe(self) -> str:
        return (
            f"run {self.number} (limit {self.limit}, kill_after {self.kill_after}, killed {self.killed}, before ready {self.before_ready},"
            f" rc {self.returncode}):\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


def run_worker(db_path: Path, workdir: Path, number: int, limit: int, kill_after: float | None, kill_at_launch: float | None = None) -> WorkerRun:
    """Start the worker; SIGKILL it `kill_after` seconds after it printed "ready" (None: let it finish).

    With `kill_at_launch`, SIGKILL it that many seconds after its launch if it is not ready by then
    (while it imports, opens the file or resumes the open runs). The process handling is the chaos
    harness's (tests/support/chaos.py), which runs a mixed load and the engine's fault points on top of this.
    """
    cmd = [sys.executable, str(WORKER), str(db_path), str(workdir / "side.jsonl"), str(N_WORKFLOWS), str(limit), str(EXTRA_BATCHES)]
    process = launch(
        cmd, workdir, f"run-{number:03d}", kill_after=kill_after, kill_at_launch=kill_at_launch, ready_timeout=READY_TIMEOUT, run_timeout=FINAL_TIMEOUT
    )
    if process.timed_out:
        raise AssertionError(f"worker run {number} did not print 'ready' within {READY_TIMEOUT}s or finish within {FINAL_TIMEOUT}s (hang?)")
    return WorkerRun(
        number=number,
        limit=limit,
        kill_after=kill_after,
        killed=process.killed,
        before_ready=process.before_ready and process.killed,
        returncode=process.returncode,
        seconds_to_ready=process.seconds_to_ready,
        seconds_alive=process.seconds_alive,
        stdout=process.stdout,
        stderr=process.stderr,
    )


#### Auditing the file ####


def audit(db_path: Path, side_path: Path) -> tuple[list[str], dict[str, int]]:
    """Every invariant violation found (as readable lines), and counts for the report."""
    problems: list[str] = []
    stats: collections.Counter[str] = collections.Counter()
    con = duckdb.connect(str(db_path), read_only=True)  # the file must open cleanly
    try:
        workflows = con.execute("SELECT run_id, workflow_id, status, result, history_length FROM workflows ORDER BY workflow_id, start_time").fetchall()
        rows = con.execute("SELECT run_id, event_id, event_type, activity_id, attempt, attributes FROM events ORDER BY run_id, event_id").fetchall()
    finally:
        con.close()

    events: dict[str, list[tuple[int, str, int | None, int | None, dict[str, Any]]]] = collections.defaultdict(list)
    for run_id, event_id, event_type, activity_id, attempt, attributes in rows:
        events[run_id].append((event_id, event_type, activity_id, attempt, json.loads(attributes) if attributes else {}))

    expected_ids = {f"etl-{index:02d}": index for index in range(N_WORKFLOWS)}
    runs_of: dict[str, list[str]] = collections.defaultdict(list)
    workflow_of_run: dict[str, str] = {}
    for run_id, workflow_id, status, result, history_length in workflows:
        runs_of[workflow_id].append(run_id)
        workflow_of_run[run_id] = workflow_id
        index = expected_ids.get(workflow_id)
        if index is None:
            problems.append(f"unexpected workflow id {workflow_id!r} (run {run_id})")
            continue
        if status != "Completed":
            problems.append(f"{workflow_id} run {run_id}: status {status!r}, expected 'Completed'")
        data = json.loads(result).get("data") if result else None
        if data != expected_result(index):
            problems.append(f"{workflow_id} run {run_id}: workflows.result {data!r}, expected {expected_result(index)!r}")
        if history_length != len(events.get(run_id, [])):
            problems.append(f"{workflow_id} run {run_id}: history_length {history_length} but {len(events.get(run_id, []))} events")
    for workflow_id in expected_ids:
        if len(runs_of.get(workflow_id, [])) != 1:
            problems.append(f"{workflow_id}: {len(runs_of.get(workflow_id, []))} runs in the workflows table, expected exactly 1")
    for run_id in events.keys() - workflow_of_run.keys():
        problems.append(f"run {run_id} has events but no workflows row")

    # Histories: event ids, closing event, activities and timers.
    completed_attempt: dict[tuple[str, int], int] = {}
    started_attempts: dict[tuple[str, int], set[int]] = collections.defaultdict(set)
    activity_type_of: dict[tuple[str, int], str] = {}
    for workflow_id, index in expected_ids.items():
        completions = []
        for run_id in runs_of.get(workflow_id, []):
            history = events.get(run_id, [])
            ids = [event[0] for event in history]
            if ids != list(range(1, len(history) + 1)):
                missing = sorted(set(range(1, max(ids, default=0) + 1)) - set(ids))
                problems.append(f"{workflow_id} run {run_id}: event ids are not 1..{len(history)} (missing {missing[:10]}, first ids {ids[:5]})")
            types = [event[1] for event in history]
            stats["events"] += len(history)
            completions += [event for event in history if event[1] == "WorkflowExecutionCompleted"]
            if not types or types[0] != "WorkflowExecutionStarted":
                problems.append(f"{workflow_id} run {run_id}: first event is {types[:1]}, expected WorkflowExecutionStarted")
            elif history[0][4].get("input") != [{"encoding": "json/plain", "data": value} for value in (index, EXTRA_BATCHES)]:
                problems.append(f"{workflow_id} run {run_id}: started with input {history[0][4].get('input')!r}")
            if types and types[-1] != "WorkflowExecutionCompleted":
                problems.append(f"{workflow_id} run {run_id}: last event is {types[-1]}")
            for closing in ("WorkflowExecutionFailed", "WorkflowExecutionCanceled", "WorkflowExecutionTerminated", "WorkflowExecutionContinuedAsNew"):
                if closing in types:
                    problems.append(f"{workflow_id} run {run_id}: has a {closing} event")
            timers = (types.count("TimerStarted"), types.count("TimerFired"))
            if timers != (1, 1):
                problems.append(f"{workflow_id} run {run_id}: {timers[0]} TimerStarted / {timers[1]} TimerFired events, expected 1 / 1")
            problems += audit_activities(workflow_id, index, run_id, history, completed_attempt, started_attempts, activity_type_of, stats)
        if len(completions) != 1:
            problems.append(f"{workflow_id}: {len(completions)} WorkflowExecutionCompleted events, expected exactly 1")
        for event in completions:
            data = (event[4].get("result") or {}).get("data")
            if data != expected_result(index):
                problems.append(f"{workflow_id}: WorkflowExecutionCompleted result {data!r}, expected {expected_result(index)!r}")

    problems += audit_side_file(side_path, workflow_of_run, completed_attempt, started_attempts, activity_type_of, stats)
    return problems, dict(stats)


def audit_activities(
    workflow_id: str,
    index: int,
    run_id: str,
    history: list[tuple[int, str, int | None, int | None, dict[str, Any]]],
    completed_attempt: dict[tuple[str, int], int],
    started_attempts: dict[tuple[str, int], set[int]],
    activity_type_of: dict[tuple[str, int], str],
    stats: collections.Counter[str],
) -> list[str]:
    """Each activity: scheduled once, attempts 1..m started in order, each earlier attempt ended by a retryable failure, attempt m completed."""
    problems = []
    where = f"{workflow_id} run {run_id}"
    by_activity: dict[int, list[tuple[int, str, int | None, int | None, dict[str, Any]]]] = collections.defaultdict(list)
    for event in history:
        if event[1].startswith("Activity"):
            if event[2] is None:
                problems.append(f"{where}: event {event[0]} {event[1]} has no activity_id")
                continue
            by_activity[event[2]].append(event)
    kinds: collections.Counter[str] = collections.Counter()
    for activity_id, acts in by_activity.items():
        key = (run_id, activity_id)
        label = f"{where} activity {activity_id}"
        scheduled = [e for e in acts if e[1] == "ActivityTaskScheduled"]
        if len(scheduled) != 1:
            problems.append(f"{label}: {len(scheduled)} ActivityTaskScheduled events")
            continue
        activity_type = scheduled[0][4].get("activity_type", "?")
        activity_type_of[key] = activity_type
        kinds[activity_type] += 1
        started = [e[3] for e in acts if e[1] == "ActivityTaskStarted"]
        started_attempts[key].update(a for a in started if a is not None)
        if started != list(range(1, len(started) + 1)):
            problems.append(f"{label} ({activity_type}): started attempts {started}, expected 1..{len(started)}")
        completed = [e for e in acts if e[1] == "ActivityTaskCompleted"]
        if len(completed) != 1:
            problems.append(f"{label} ({activity_type}): {len(completed)} ActivityTaskCompleted events, expected 1")
            continue
        attempt = completed[0][3]
        completed_attempt[key] = attempt if attempt is not None else -1
        if attempt != len(started):
            problems.append(f"{label} ({activity_type}): completed by attempt {attempt} but {len(started)} attempts started")
        if acts[-1][1] != "ActivityTaskCompleted":
            problems.append(f"{label} ({activity_type}): {acts[-1][1]} (event {acts[-1][0]}) after ActivityTaskCompleted")
        ending = ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled")
        ended = collections.Counter(e[3] for e in acts if e[1] in ending)
        for n in range(1, len(started) + 1):
            if ended[n] != 1:
                problems.append(f"{label} ({activity_type}): attempt {n} has {ended[n]} ending events, expected 1")
        stats["activities"] += 1
        stats["attempts started"] += len(started)
        for e in acts:
            if e[1] == "ActivityTaskTimedOut":
                stats["attempts cut short by a kill (EngineRestart)"] += 1
                if e[4].get("timeout_type") != "EngineRestart":
                    problems.append(f"{label} ({activity_type}): attempt {e[3]} timed out ({e[4].get('timeout_type')}), only engine restarts were expected")
            elif e[1] == "ActivityTaskFailed":
                failure = e[4].get("failure") or {}
                if activity_type == "validate" and e[3] == 1 and failure.get("type") == "ConnectionError":
                    stats["validate first attempts failed and retried"] += 1
                else:
                    problems.append(f"{label} ({activity_type}): attempt {e[3]} failed unexpectedly: {failure.get('type')}: {failure.get('message')}")
            elif e[1] == "ActivityTaskCanceled":
                problems.append(f"{label} ({activity_type}): unexpected ActivityTaskCanceled (event {e[0]})")
        if activity_type == "validate" and attempt is not None and attempt < 2:
            problems.append(f"{label}: validate completed by attempt {attempt}, but its first attempt always fails")
    if kinds != expected_activities(index):
        problems.append(f"{where}: activities {dict(kinds)}, expected {dict(expected_activities(index))}")
    return problems


def audit_side_file(
    side_path: Path,
    workflow_of_run: dict[str, str],
    completed_attempt: dict[tuple[str, int], int],
    started_attempts: dict[tuple[str, int], set[int]],
    activity_type_of: dict[tuple[str, int], str],
    stats: collections.Counter[str],
) -> list[str]:
    """What really ran against what the history says ran."""
    problems = []
    seen: collections.Counter[tuple[str, int, int]] = collections.Counter()
    keys: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    ran: dict[tuple[str, int], set[int]] = collections.defaultdict(set)
    raw = side_path.read_bytes() if side_path.exists() else b""
    if raw and not raw.endswith(b"\n"):
        problems.append("side file does not end with a newline (a torn line)")
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            record = json.loads(line)
            run_id, activity_id, attempt = record["run_id"], int(record["activity_id"]), int(record["attempt"])
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"side file line {number} is not a complete record ({exc}): {line[:200]!r}")
            continue
        key = (run_id, activity_id)
        stats["attempts run (side file lines)"] += 1
        seen[(run_id, activity_id, attempt)] += 1
        keys[key].add(record["idempotency_key"])
        ran[key].add(attempt)
        label = f"side file line {number} ({record.get('workflow_id')} run {run_id} activity {activity_id} {record.get('activity_type')} attempt {attempt})"
        if workflow_of_run.get(run_id) != record.get("workflow_id"):
            problems.append(f"{label}: the run belongs to {workflow_of_run.get(run_id)!r}")
        if key not in activity_type_of:
            problems.append(f"{label}: no such activity in the history")
            continue
        if activity_type_of[key] != record.get("activity_type"):
            problems.append(f"{label}: the history says this activity is {activity_type_of[key]!r}")
        if attempt not in started_attempts.get(key, set()):
            problems.append(f"{label}: this attempt ran but has no ActivityTaskStarted event (a hidden attempt)")
        done = completed_attempt.get(key)
        if done is not None and attempt > done:
            problems.append(f"{label}: ran after its completion was committed (ActivityTaskCompleted has attempt {done})")
    for (run_id, activity_id, attempt), count in seen.items():
        if count > 1:
            problems.append(f"run {run_id} activity {activity_id} attempt {attempt} appears {count} times in the side file (ran twice)")
    for key, attempt in completed_attempt.items():
        if attempt not in ran.get(key, set()):
            problems.append(f"run {key[0]} activity {key[1]}: completed by attempt {attempt}, which never ran according to the side file")
    owners: dict[str, tuple[str, int]] = {}
    for key, found in keys.items():
        if len(found) != 1:
            problems.append(f"run {key[0]} activity {key[1]}: idempotency key changed between attempts: {sorted(found)}")
        for idempotency_key in found:
            if owners.setdefault(idempotency_key, key) != key:
                problems.append(f"idempotency key {idempotency_key!r} shared by activities {owners[idempotency_key]} and {key}")
    stats["attempts run more than once per activity (re-runs)"] = sum(len(attempts) - 1 for attempts in ran.values())
    return problems


#### The test ####


@pytest.mark.slow
@pytest.mark.timeout(120 + 3 * max(0, KILLS - 20))  # the default 20 kills take about 10-15 s
def test_sigkill_at_random_moments_loses_nothing_and_repeats_no_completed_activity(db_path: Path, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    context = f"(seed {SEED}; rerun with WFKIT_CRASH_SEED={SEED}; files in {tmp_path})"
    ramp = max(1, math.ceil(KILLS * 0.85))  # new workflows keep arriving during most of the kills
    runs: list[WorkerRun] = []
    kills = 0
    kills_mid_work = 0
    kills_before_ready = 0
    last_alive = MAX_KILL_DELAY
    last_to_ready = 0.3
    started = time.monotonic()
    while kills < KILLS:
        if len(runs) > 3 * KILLS + 20:
            pytest.fail(f"only {kills} of {KILLS} kills landed in {len(runs)} worker runs {context}")
        limit = min(N_WORKFLOWS, math.ceil(N_WORKFLOWS * (len(runs) + 1) / ramp))
        # Once a worker finished all the work before its kill, aim inside the time such a worker lives.
        kill_after = rng.uniform(0.0, min(MAX_KILL_DELAY, last_alive))
        # Now and then (on top of the kills after "ready"), kill while the worker starts up and resumes the open runs.
        kill_at_launch = rng.uniform(0.6, 1.05) * last_to_ready if rng.random() < 0.12 else None
        run = run_worker(db_path, tmp_path, len(runs), limit, kill_after, kill_at_launch)
        runs.append(run)
        if run.before_ready:
            kills_before_ready += 1
        elif run.killed:
            last_to_ready = run.seconds_to_ready
            kills += 1
            kills_mid_work += not run.done
        elif run.returncode == 0 and run.done:
            last_to_ready = run.seconds_to_ready
            if limit == N_WORKFLOWS:  # all the work is done: later kills can only land in open, resume or close
                last_alive = max(0.005, run.seconds_alive * 0.9)
        else:
            pytest.fail(f"worker exited on its own with rc {run.returncode} {context}\n{run.describe()}")
    final = run_worker(db_path, tmp_path, len(runs), N_WORKFLOWS, None)
    runs.append(final)
    elapsed = time.monotonic() - started

    assert final.returncode == 0, f"the final worker run failed {context}\n{final.describe()}"
    assert final.done, f"the final worker run did not print its results {context}\n{final.describe()}"
    results = json.loads(next(line for line in final.stdout.splitlines() if line.startswith("done "))[len("done ") :])
    assert results == {f"etl-{i:02d}": expected_result(i) for i in range(N_WORKFLOWS)}, context

    problems, stats = audit(db_path, tmp_path / "side.jsonl")
    # Workers log at WARNING and above only, so any stderr output is an engine error, a warning or a traceback.
    problems += [f"worker run {run.number} wrote to stderr:\n{run.stderr.strip()[-3000:]}" for run in runs if run.stderr.strip()]
    report = (
        f"{kills} kills after 'ready' ({kills_mid_work} before the worker had its results), {kills_before_ready} before 'ready',"
        f" {len(runs)} worker runs, {elapsed:.1f}s; "
    ) + ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()))
    print(report)
    (tmp_path / "report.txt").write_text(report + "\n" + "\n".join(problems) + "\n")
    assert not problems, f"{len(problems)} invariant violation(s) {context}\n{report}\n" + "\n".join(problems[:40])
    assert kills >= KILLS
    assert kills_mid_work >= min(KILLS, 10), f"too few kills landed before the work was done {context}\n{report}"
    assert stats.get("attempts cut short by a kill (EngineRestart)", 0) > 0, f"no kill landed while an activity ran {context}\n{report}"
