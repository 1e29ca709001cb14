"""Chaos harness: SIGKILL a worker running a mixed ETL load, at random moments and at every named
fault point, restart it, and check the engine's promises after every restart and at the end.

Used by tests/integration/test_chaos.py (CI: 60 kills) and bench/chaos.py (500 kills). The worker is
tests/support/chaos_worker.py: fan-out, retries, timeouts, durable timers, signals from the harness
and from a sibling workflow, child workflows (one failing), continue-as-new, cancellation,
forks. Each start of the worker is a *life*; lives take turns at the kill modes in `MODES`:

- ``random``: SIGKILL at a random moment after the worker printed "ready" (now and then,
  before it: while it opens the file and resumes the open runs);
- a fault point of `wfkit._faults` (``activity_completed``, ``after_commit``, ``mid_commit``,
  ``recovery``, ``fork``): the life runs with ``WFKIT_FAULTS=<point>@<n>:kill``, so the engine
  SIGKILLs itself at the n-th time it reaches that point (n drawn per life).

After every life, `Auditor.audit` reads the file (plain DuckDB, read-only; then
`wfkit.open_histories`) and checks, for every run that changed:

- event ids are 1..n, the first event is WorkflowExecutionStarted, at most one closing event
  and nothing after it, no WorkflowTaskFailed, and the `workflows` row agrees with the history;
- events already seen are unchanged (histories are append-only);
- the history replays with `wfkit.Replayer` and the worker's code (no NondeterminismError);
- activities: one ActivityTaskScheduled; attempts 1..m started in order, every earlier attempt
  ended exactly once by a retry, nothing after the final outcome;
- an attempt cut short by a crash (ActivityTaskTimedOut, EngineRestart) was started in an
  earlier life, and an activity gets at most one such re-run per life (per crash);
- the side file (one line per attempt that really ran, written before any work): every attempt
  that ran has its ActivityTaskStarted, committed in the same life (so it ran once, and was
  recorded before it ran); no attempt ran twice; no attempt ran after the activity's completion
  was committed; the idempotency key is the same for every attempt of an activity and differs
  between activities.

After the last life (no kill, no faults) `Auditor.final_audit` also checks that every run
reached the outcome its code determines (`chaos_worker.expected_outcome`) with one closing
event, that each workflow id ran once (continue-as-new: one chain), that every child was started
once, every signal and cancellation arrived exactly once, and that the completing attempt of
every activity really ran.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

import wfkit

try:  # pytest imports this as tests.support.chaos; bench/chaos.py puts the repository root on sys.path first
    from tests.support import chaos_worker as workload
except ImportError:  # pragma: no cover - run from inside tests/support/
    import chaos_worker as workload  # type: ignore[no-redef]

WORKER = Path(__file__).with_name("chaos_worker.py")
FAULT_POINTS = ("activity_completed", "after_commit", "mid_commit", "recovery", "fork")
MODES = ("random", *FAULT_POINTS)
HITS = {"activity_completed": (1, 12), "after_commit": (1, 40), "mid_commit": (1, 40), "recovery": (1, 1), "fork": (1, 1)}
"""The range n is drawn from, per fault point (how often a life reaches it)."""
E = wfkit.EventType
CLOSING = {
    "WorkflowExecutionCompleted": "Completed",
    "WorkflowExecutionFailed": "Failed",
    "WorkflowExecutionCanceled": "Canceled",
    "WorkflowExecutionTerminated": "Terminated",
    "WorkflowExecutionContinuedAsNew": "ContinuedAsNew",
}
ENDINGS = ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled")


#### Running a process and killing it ####


@dataclass
class Process:
    """How one worker process went."""

    returncode: int
    killed: bool
    """The harness SIGKILLed it (after "ready", at launch, or because it ran past its time)."""
    before_ready: bool
    """It ended (killed or not) before printing "ready"."""
    timed_out: bool
    """It ran past `run_timeout` (and was killed)."""
    seconds_to_ready: float
    seconds_alive: float
    """From "ready" (or the launch) to its end."""
    stdout: str
    stderr: str
    pid: int

    @property
    def done(self) -> bool:
        return any(line.startswith("done") for line in self.stdout.splitlines())

    def describe(self) -> str:
        return (
            f"pid {self.pid} rc {self.returncode} killed {self.killed} before ready {self.before_ready} timed out {self.timed_out}\n"
            f"--- stdout ---\n{self.stdout[-2000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )


def launch(
    cmd: list[str],
    workdir: Path,
    name: str,
    *,
    env: dict[str, str] | None = None,
    kill_after: float | None = None,
    kill_at_launch: float | None = None,
    ready_timeout: float = 30.0,
    run_timeout: float = 60.0,
) -> Process:
    """Run `cmd` (stdout/stderr into files under `workdir`); SIGKILL it `kill_after` seconds after it printed "ready".

    With `kill_at_launch`, SIGKILL it that many seconds after its launch if it has not printed "ready" by
    then. A process that is not ready within `ready_timeout`, or runs `run_timeout` seconds past "ready"
    without being due for a kill, is killed and reported with `timed_out`. Only the process started
    here is ever signalled, by its PID.
    """
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir, env={**os.environ, **(env or {})})
    launched = time.monotonic()
    killed = early = timed_out = False

    def kill() -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    try:
        while b"ready\n" not in out_path.read_bytes():
            if proc.poll() is not None:
                early = True
                break
            waited = time.monotonic() - launched
            if kill_at_launch is not None and waited >= kill_at_launch:
                kill()
                killed = early = True
                break
            if waited > ready_timeout:
                kill()
                killed = early = timed_out = True
                break
            time.sleep(0.002)
        ready = time.monotonic()
        if not early:
            try:
                proc.wait(timeout=run_timeout if kill_after is None else kill_after)
            except subprocess.TimeoutExpired:
                kill()
                killed = True
                timed_out = kill_after is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Process(
        returncode=proc.returncode,
        killed=killed,
        before_ready=early,
        timed_out=timed_out,
        seconds_to_ready=ready - launched,
        seconds_alive=time.monotonic() - ready,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        pid=proc.pid,
    )


#### The invariants ####


@dataclass
class _Row:
    event_id: int
    event_type: str
    activity_id: int | None
    attempt: int | None
    text: str | None
    attributes: dict[str, Any]
    life: int
    """The life whose commit wrote this event (the audit after each life sees what it added)."""
    copied: bool = False
    """A fork's copy of its original's event (what it says happened, happened in the original run)."""


class Auditor:
    """Checks a chaos database after every life; remembers what it saw, so each audit reads only runs that changed."""

    def __init__(self, db_path: Path, side_path: Path) -> None:
        self.db_path = db_path
        self.side_path = side_path
        self.replayer = wfkit.Replayer(workflows=workload.WORKFLOWS)
        self.events: dict[str, list[_Row]] = {}
        self.digests: dict[str, tuple[int, int]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.side_offset = 0
        self.side_seen: collections.Counter[tuple[str, int, int]] = collections.Counter()
        self.side_lines: list[dict[str, Any]] = []
        self.key_of: dict[tuple[str, int], str] = {}
        self.owner_of_key: dict[str, tuple[str, int]] = {}
        self.stats: collections.Counter[str] = collections.Counter()

    def audit(self, life: int) -> list[str]:
        """Every violation visible now (`life` is the life that just ended)."""
        problems: list[str] = []
        if not self.db_path.exists() and not self.digests:
            return self._check_side_file(life)  # killed before it created the file
        try:
            con = duckdb.connect(str(self.db_path), read_only=True)  # the file must open cleanly
        except duckdb.Error as exc:
            return [f"after life {life}: the database does not open: {exc}"]
        try:
            tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "wfkit_schema" not in tables and not self.digests:
                return self._check_side_file(life)  # killed before its first commit created the tables
            digests = {
                run_id: (int(n), int(digest))
                for run_id, n, digest in con.execute(
                    "SELECT run_id, count(*), bit_xor(hash(event_id, event_type, attributes)) FROM events GROUP BY run_id"
                ).fetchall()
            }
            changed = sorted(run_id for run_id, digest in digests.items() if self.digests.get(run_id) != digest)
            rows = con.execute(
                "SELECT run_id, event_id, event_type, activity_id, attempt, CAST(attributes AS VARCHAR) FROM events"
                " WHERE run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY run_id, event_id",
                [changed],
            ).fetchall()
            columns = (
                "run_id, workflow_id, workflow_type, status, input, result, failure, history_length, parent_run_id, continued_from_run_id, forked_from_run_id"
            )
            workflows = con.execute(f"SELECT {columns} FROM workflows").fetchall()
        finally:
            con.close()
        try:
            with wfkit.open_histories(self.db_path) as histories:  # and wfkit reads it
                if histories.sql("SELECT count(*) FROM runs").fetchall()[0][0] != len(workflows):
                    problems.append(f"after life {life}: the runs view and the workflows table disagree on the number of runs")
        except wfkit.WfkitError as exc:
            problems.append(f"after life {life}: wfkit.open_histories failed: {exc}")

        names = [c.strip() for c in columns.split(",")]
        self.workflows = {row[0]: dict(zip(names, row, strict=True)) for row in workflows}
        for run_id in set(digests) - set(self.workflows):
            problems.append(f"run {run_id} has events but no workflows row")
        for run_id in set(self.workflows) - set(digests):
            problems.append(f"run {run_id} has a workflows row but no events")
        for run_id in set(self.digests) - set(digests):
            problems.append(f"run {run_id}: its events disappeared")

        fetched: dict[str, list[tuple[Any, ...]]] = collections.defaultdict(list)
        for row in rows:
            fetched[row[0]].append(row)
        for run_id in sorted(changed, key=lambda r: bool(self.workflows.get(r, {}).get("forked_from_run_id"))):  # originals before forks
            problems += self._check_run(run_id, fetched[run_id], life)
            self.digests[run_id] = digests[run_id]
        problems += self._check_side_file(life)
        self.stats["audits"] += 1
        return problems

    def _check_run(self, run_id: str, rows: list[tuple[Any, ...]], life: int) -> list[str]:
        problems: list[str] = []
        known = self.events.get(run_id, [])
        where = f"run {run_id} ({self.workflows.get(run_id, {}).get('workflow_id')})"
        history: list[_Row] = []
        for index, r in enumerate(rows):
            old = known[index] if index < len(known) else None
            if old is not None and (old.event_id, old.event_type, old.text) == (r[1], r[2], r[5]):
                history.append(old)  # seen before: keeps the life that wrote it
                continue
            if old is not None:
                problems.append(f"{where}: event {old.event_id} changed after it was committed (histories are append-only)")
            history.append(_Row(r[1], r[2], r[3], r[4], r[5], json.loads(r[5]) if r[5] else {}, life))
        if len(rows) < len(known):
            problems.append(f"{where}: history shrank from {len(known)} to {len(rows)} events")
        if not known:
            self._mark_copied(run_id, history)
        self.events[run_id] = history
        ids = [e.event_id for e in history]
        if ids != list(range(1, len(history) + 1)):
            missing = sorted(set(range(1, max(ids) + 1)) - set(ids))
            problems.append(f"{where}: event ids are not 1..{len(history)} (missing {missing[:10]}, first ids {ids[:5]})")
        types = [e.event_type for e in history]
        if not types or types[0] != "WorkflowExecutionStarted":
            problems.append(f"{where}: the first event is {types[:1]}")
            return problems
        closings = [i for i, t in enumerate(types) if t in CLOSING]
        if len(closings) > 1:
            problems.append(f"{where}: {len(closings)} closing events: {[types[i] for i in closings]}")
        if closings and closings[0] != len(types) - 1:
            problems.append(f"{where}: events after the closing {types[closings[0]]}: {types[closings[0] + 1 :][:5]}")
        if "WorkflowTaskFailed" in types:
            failed = next(e for e in history if e.event_type == "WorkflowTaskFailed")
            problems.append(f"{where}: WorkflowTaskFailed at event {failed.event_id}: {failed.attributes.get('failure', {}).get('message', '')[:300]}")
        row = self.workflows.get(run_id)
        if row is not None:
            status = CLOSING.get(types[closings[0]]) if closings else "Running"
            if row["status"] != status:
                problems.append(f"{where}: workflows.status is {row['status']!r} but the history says {status!r}")
            if closings and row["history_length"] != len(history):
                problems.append(f"{where}: workflows.history_length is {row['history_length']} but the history has {len(history)} events")
        problems += self._check_replay(run_id, history, where)
        problems += self._check_activities(history, where)
        return problems

    def _mark_copied(self, run_id: str, history: list[_Row]) -> None:
        """A fork starts with a copy of its original's events 2..cut: mark them."""
        original = self.events.get(str(self.workflows.get(run_id, {}).get("forked_from_run_id")))
        if not original:
            return
        for mine, theirs in zip(history[1:], original[1:], strict=False):
            if (mine.event_type, mine.text) != (theirs.event_type, theirs.text):
                break
            mine.copied = True
            self.stats["events copied by forks"] += 1

    def _check_replay(self, run_id: str, history: list[_Row], where: str) -> list[str]:
        events = [wfkit.Event(e.event_id, E(e.event_type), 0.0, e.attributes) for e in history]
        try:
            result = self.replayer.replay(wfkit.History.from_events(events, workflow_id=str(events[0].attributes.get("workflow_id")), run_id=run_id))
        except Exception as exc:  # NondeterminismError above all, but any failure to replay is a violation
            return [f"{where}: replay failed: {type(exc).__name__}: {exc}"]
        self.stats["replays"] += 1
        last = history[-1]
        if last.event_type in CLOSING and last.event_type != "WorkflowExecutionTerminated" and not result.closed:
            return [f"{where}: replay did not reach the end of the workflow, but the history closes it ({last.event_type})"]
        return []

    def _check_activities(self, history: list[_Row], where: str) -> list[str]:
        problems: list[str] = []
        by_activity: dict[int, list[_Row]] = collections.defaultdict(list)
        for event in history:
            if event.event_type.startswith("Activity"):
                by_activity[event.activity_id if event.activity_id is not None else -1].append(event)
        for activity_id, acts in by_activity.items():
            label = f"{where} activity {activity_id}"
            scheduled = [e for e in acts if e.event_type == "ActivityTaskScheduled"]
            if len(scheduled) != 1:
                problems.append(f"{label}: {len(scheduled)} ActivityTaskScheduled events")
                continue
            label += f" ({scheduled[0].attributes.get('activity_type')})"
            starts = [e for e in acts if e.event_type == "ActivityTaskStarted"]
            attempts = [e.attempt for e in starts]
            if attempts != list(range(1, len(starts) + 1)):
                problems.append(f"{label}: started attempts {attempts}, expected 1..{len(starts)}")
                continue
            start_life = {e.attempt: e.life for e in starts if not e.copied}
            endings = [e for e in acts if e.event_type in ENDINGS]
            ended: collections.Counter[int | None] = collections.Counter(e.attempt for e in endings if e.event_type != "ActivityTaskCanceled")
            for n in range(1, len(starts) + 1):
                if ended[n] > 1 or (n < len(starts) and ended[n] != 1):
                    problems.append(f"{label}: attempt {n} has {ended[n]} ending events")
            final = [e for e in endings if e.attributes.get("retry_state") != "InProgress"]
            if len(final) > 1:
                problems.append(f"{label}: {len(final)} final outcomes")
            if final and acts[-1] is not final[0]:
                problems.append(f"{label}: {acts[-1].event_type} (event {acts[-1].event_id}) after its final outcome {final[0].event_type}")
            restarts_per_life: collections.Counter[int] = collections.Counter()
            for e in endings:
                if e.copied:
                    continue  # checked in the original run
                if e.attributes.get("retry_state") == "InProgress" and e.attributes.get("timeout_type") == "EngineRestart":
                    restarts_per_life[e.life] += 1
                    copied = any(s.copied and s.attempt == e.attempt for s in starts)  # running in the original when it was forked
                    if not copied and (e.attempt not in start_life or start_life[e.attempt] >= e.life):
                        problems.append(
                            f"{label}: attempt {e.attempt} was cut short by a restart in life {e.life}, but it started in life {start_life.get(e.attempt)}"
                        )
            for life, count in restarts_per_life.items():
                if count > 1:
                    problems.append(f"{label}: {count} attempts cut short by the one restart of life {life} (at most one re-run per crash)")
        return problems

    def _check_side_file(self, life: int) -> list[str]:
        problems: list[str] = []
        with self.side_path.open("rb") if self.side_path.exists() else open(os.devnull, "rb") as side:
            side.seek(self.side_offset)
            raw = side.read()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):
            problems.append(f"after life {life}: the side file ends with a torn line")
        self.side_offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            self.side_lines.append(record)
            self.stats["attempts run"] += 1
            run_id, activity_id, attempt = record["run_id"], int(record["activity_id"]), int(record["attempt"])
            label = (
                f"attempt {attempt} of {record['workflow_id']} run {run_id} activity {activity_id} ({record['activity_type']}), run in life {record['life']}"
            )
            self.side_seen[(run_id, activity_id, attempt)] += 1
            if self.side_seen[(run_id, activity_id, attempt)] > 1:
                problems.append(f"{label}: this attempt ran twice")
            key = record["idempotency_key"]
            if self.key_of.setdefault((run_id, activity_id), key) != key:
                problems.append(f"{label}: idempotency key {key!r}, but an earlier attempt had {self.key_of[(run_id, activity_id)]!r}")
            if self.owner_of_key.setdefault(key, (run_id, activity_id)) != (run_id, activity_id):
                problems.append(f"{label}: idempotency key {key!r} is also the key of activity {self.owner_of_key[key]}")
            acts = [e for e in self.events.get(run_id, []) if e.activity_id == activity_id and e.event_type.startswith("Activity")]
            started = [e for e in acts if e.event_type == "ActivityTaskStarted" and e.attempt == attempt]
            if not started:
                problems.append(f"{label}: no ActivityTaskStarted for it (an attempt ran without being recorded first)")
            elif started[0].life != record["life"]:
                problems.append(f"{label}: its ActivityTaskStarted was committed in life {started[0].life}")
            completed = [e for e in acts if e.event_type == "ActivityTaskCompleted"]
            if completed and (completed[0].attempt or 0) < attempt:
                problems.append(f"{label}: ran after the activity's completion (attempt {completed[0].attempt}) was committed")
        return problems

    #### After the last life ####

    def final_audit(self, groups: int, expected_lives: int) -> list[str]:
        """What must hold once the load finished: outcomes, exactly-once, every request delivered."""
        problems = self.audit(expected_lives)
        runs = self.workflows
        by_workflow: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for row in runs.values():
            by_workflow[row["workflow_id"]].append(row)
        expected_ids = {wid for index in range(groups) for wid, _, _ in workload.group_workflows(index)}
        expected_ids |= {f"fork-{index}" for index in range(groups) if workload.forks_in_group(index)}
        children = {wid for wid, rows in by_workflow.items() if all(r["parent_run_id"] for r in rows)}
        for wid in sorted(expected_ids - set(by_workflow)):
            problems.append(f"{wid}: never started")
        for wid in sorted(set(by_workflow) - expected_ids - children):
            problems.append(f"{wid}: not a workflow id of the load")
        for wid, rows in by_workflow.items():
            chain = len(rows) == workload.LOOP_ROUNDS + 1 and wid.startswith("loop-")
            if wid in children:
                # A fork of a parent forks the children running at its cut: one original run, and each
                # further run a fork whose parent is itself a fork.
                originals = [r for r in rows if not r.get("forked_from_run_id")]
                stray = [r for r in rows if r.get("forked_from_run_id") and not runs.get(str(r["parent_run_id"]), {}).get("forked_from_run_id")]
                if len(originals) != 1 or stray:
                    problems.append(f"{wid}: {len(originals)} original runs and {len(stray)} forked outside a fork of its parent, expected one and none")
                continue
            if len(rows) != 1 and not chain:
                problems.append(f"{wid}: {len(rows)} runs, expected exactly one")
        for run_id, row in runs.items():
            problems += self._check_outcome(run_id, row)
        problems += self._check_requests(by_workflow, groups)
        ran = {(r["run_id"], int(r["activity_id"]), int(r["attempt"])) for r in self.side_lines}
        for run_id, history in self.events.items():
            for e in history:
                if e.event_type == "ActivityTaskCompleted" and not e.copied and (run_id, e.activity_id, e.attempt) not in ran:
                    problems.append(f"run {run_id} activity {e.activity_id}: completed by attempt {e.attempt}, which never ran")
                if e.event_type == "ActivityTaskTimedOut" and e.attributes.get("timeout_type") == "EngineRestart":
                    self.stats["attempts cut short by a crash and run again"] += 1
                if e.event_type in ("ActivityTaskFailed", "ActivityTaskTimedOut") and e.attributes.get("timeout_type") != "EngineRestart":
                    self.stats["failed or timed-out attempts (retries and final failures)"] += 1
            self.stats["events"] += len(history)
        self.stats["runs"] = len(runs)
        return problems

    def _check_outcome(self, run_id: str, row: dict[str, Any]) -> list[str]:
        history = self.events.get(run_id, [])
        where = f"run {run_id} ({row['workflow_id']})"
        if not history:
            return [f"{where}: no history"]
        started = history[0].attributes
        args = [payload.get("data") for payload in started.get("input") or []]
        status, expected = workload.expected_outcome(str(started.get("workflow_type")), args)
        closing = history[-1]
        if closing.event_type not in CLOSING:
            return [f"{where}: still open ({closing.event_type} is its last event), expected {status}"]
        if CLOSING[closing.event_type] != status:
            failure = closing.attributes.get("failure") or {}
            return [f"{where}: ended {CLOSING[closing.event_type]} ({failure.get('type')}: {str(failure.get('message'))[:200]}), expected {status}"]
        if status == "Completed":
            got = (closing.attributes.get("result") or {}).get("data")
            if got != expected:
                return [f"{where}: result {got!r}, expected {expected!r}"]
            try:
                replayed = self.replayer.replay(
                    wfkit.History.from_events([wfkit.Event(e.event_id, E(e.event_type), 0.0, e.attributes) for e in history], run_id=run_id)
                ).result
            except Exception as exc:
                return [f"{where}: replay failed: {type(exc).__name__}: {exc}"]
            if json.loads(json.dumps(replayed)) != expected:
                return [f"{where}: replay returned {replayed!r}, expected {expected!r}"]
        elif status == "Failed":
            failure = closing.attributes.get("failure") or {}
            if failure.get("type") != expected[0] or expected[1] not in str(failure.get("message")):
                return [f"{where}: failed with {failure.get('type')}: {failure.get('message')!r}, expected {expected[0]} mentioning {expected[1]!r}"]
        elif status == "ContinuedAsNew":
            got = [payload.get("data") for payload in closing.attributes.get("input") or []]
            if got != expected:
                return [f"{where}: continued as new with {got!r}, expected {expected!r}"]
        return []

    def _check_requests(self, by_workflow: dict[str, list[dict[str, Any]]], groups: int) -> list[str]:
        problems: list[str] = []
        for index in range(groups):
            for request in workload.control_requests(index):
                history = [e for row in by_workflow.get(request["workflow_id"], []) for e in self.events.get(row["run_id"], [])]
                if request["op"] == "signal":
                    got = [
                        e
                        for e in history
                        if e.event_type == "WorkflowExecutionSignaled" and (e.attributes.get("input") or {}).get("data", {}).get("req") == request["req"]
                    ]
                else:
                    got = [e for e in history if e.event_type == "WorkflowExecutionCancelRequested"]
                self.stats[f"{request['op']}s from the harness"] += len(got)
                if len(got) != 1:
                    problems.append(f"{request['workflow_id']}: request {request['req']} arrived {len(got)} times, expected exactly once")
            if index % 2 == 0:
                history = [e for row in by_workflow.get(f"approve-{index}", []) for e in self.events.get(row["run_id"], [])]
                peers = [e for e in history if e.event_type == "WorkflowExecutionSignaled" and e.attributes.get("signal_name") == "peer"]
                self.stats["signals from a sibling workflow"] += len(peers)
                if len(peers) != 1:
                    problems.append(f"approve-{index}: the sibling's signal arrived {len(peers)} times, expected exactly once")
        return problems


#### The harness ####


@dataclass
class Tally:
    """What a chaos session did and found."""

    kills: collections.Counter[str] = field(default_factory=collections.Counter)
    """Kills by mode: "random", "random (before ready)", the fault point, or "backstop" (a life that hung, also a violation)."""
    missed: collections.Counter[str] = field(default_factory=collections.Counter)
    """Lives whose fault point was not reached (the life finished its work first)."""
    lives: int = 0
    recoveries: int = 0
    """Lives that reopened the file after a kill and resumed its open runs (printed "ready")."""
    violations: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    seconds: float = 0.0
    seed: int = 0

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def summary(self) -> str:
        modes = ", ".join(f"{mode}: {count}" for mode, count in sorted(self.kills.items()))
        missed = ", ".join(f"{mode}: {count}" for mode, count in sorted(self.missed.items())) or "none"
        stats = ", ".join(f"{name}: {count}" for name, count in sorted(self.stats.items()))
        return (
            f"kills: {self.total_kills} ({modes})\n"
            f"recoveries: {self.recoveries}\n"
            f"violations: {len(self.violations)}\n"
            f"lives: {self.lives}, groups of workflows: {self.groups}, faults not reached: {missed}, {self.seconds:.1f}s, seed {self.seed}\n"
            f"{stats}"
        )


def run_chaos(
    workdir: Path,
    kills: int,
    *,
    seed: int | None = None,
    max_kill_delay: float = 0.4,
    launch_kill_rate: float = 0.12,
    fault_life_timeout: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> Tally:
    """Kill the worker `kills` times (taking turns at `MODES`), audit after every life, finish the load, audit it all.

    Each mode gets its share of the kills (`kills // len(MODES)`, the first ones one more): a fault
    point that a life did not reach is tried again in the next life, and a `recovery` life that
    would follow a life that was not killed (no open runs to resume) is preceded by a random one.
    New groups of workflows keep arriving while the kills go on (one with every fault-point life and
    every other random life), so that every kill can land in work. A life that is still running
    `fault_life_timeout` seconds after "ready" (neither killed nor done) is killed and counted as a
    violation: a hang. Violations are collected in the tally, never raised.
    """
    seed = random.randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    db, side, control = workdir / "chaos.duckdb", workdir / "side.jsonl", workdir / "control.jsonl"
    auditor = Auditor(db, side)
    tally = Tally(seed=seed)
    groups, written_groups = 2, 0
    last_to_ready = 0.3
    killed_last = False
    turn = 0
    began = time.monotonic()

    def note(problems: list[str], life: int, process: Process) -> None:
        if process.stderr.strip():
            problems.append(f"life {life} wrote to stderr:\n{process.stderr.strip()[-3000:]}")
        tally.violations.extend(problems)
        if problems and progress is not None:
            progress(f"life {life}: {len(problems)} violation(s): {problems[0][:300]}")

    quota = {mode: kills // len(MODES) + (index < kills % len(MODES)) for index, mode in enumerate(MODES)}

    def landed(mode: str) -> int:
        return tally.kills[mode] + (tally.kills["random (before ready)"] if mode == "random" else 0)

    while any(landed(mode) < quota[mode] for mode in MODES):
        life = tally.lives
        if life > 4 * kills + 20:
            tally.violations.append(f"only {tally.total_kills} of {kills} kills landed in {life} lives: {dict(tally.kills)}")
            break
        mode = MODES[turn % len(MODES)]
        if landed(mode) >= quota[mode]:
            turn += 1
            continue
        if mode == "recovery" and not killed_last:
            mode = "random"  # recovery faults fire only while open runs are resumed: first a life that is killed
        if mode != "random" or rng.random() < 0.5:
            groups += 1
            while mode == "fork" and not workload.forks_in_group(groups - 1):
                groups += 1  # a new etl to fork in this life
        written_groups = _write_requests(control, written_groups, groups)
        env, kill_after, kill_at_launch = {}, None, None
        if mode == "random":
            env["WFKIT_FAULTS"] = ""
            kill_after = rng.uniform(0.0, max_kill_delay)
            if rng.random() < launch_kill_rate:
                kill_at_launch = rng.uniform(0.5, 1.05) * last_to_ready
        else:
            low, high = HITS[mode]
            env["WFKIT_FAULTS"] = f"{mode}@{rng.randint(low, high)}:kill"
        cmd = [sys.executable, str(WORKER), str(db), str(side), str(control), str(life), str(groups)]
        process = launch(cmd, workdir, f"life-{life:04d}", env=env, kill_after=kill_after, kill_at_launch=kill_at_launch, run_timeout=fault_life_timeout)
        tally.lives += 1
        if killed_last and not process.before_ready:
            tally.recoveries += 1
        if not process.before_ready:
            last_to_ready = process.seconds_to_ready
        fault_kill = not process.killed and process.returncode == -signal.SIGKILL
        if process.killed and process.timed_out:
            kind = "backstop"  # a kill all the same, but a life that neither finishes nor reaches its fault is a hang
            tally.violations.append(
                f"life {life} ({mode}, {env.get('WFKIT_FAULTS') or 'no fault'}) was still running after {fault_life_timeout:g}s"
                f" ({'before' if process.before_ready else 'after'} 'ready'): a hang?\n{process.describe()}"
            )
        elif process.killed:
            kind = "random (before ready)" if process.before_ready else "random"
        elif fault_kill and mode != "random":
            kind = mode
        elif process.returncode == 0 and process.done:
            kind = ""
            if mode != "random":
                tally.missed[mode] += 1
        else:
            kind = ""
            tally.violations.append(f"life {life} ({mode}) ended on its own with rc {process.returncode}:\n{process.describe()}")
        if kind:
            tally.kills[kind] += 1
        if kind and kind.startswith(MODES[turn % len(MODES)]):
            turn += 1  # else: the fault was not reached (or this was a bridge before a recovery life): try again
        killed_last = bool(kind)
        note(auditor.audit(life), life, process)
        if progress is not None and tally.lives % 25 == 0:
            progress(f"{tally.lives} lives, {tally.total_kills} kills, {tally.recoveries} recoveries, {len(tally.violations)} violations")

    # The last life: no kills, no faults; everything must finish.
    life = tally.lives
    cmd = [sys.executable, str(WORKER), str(db), str(side), str(control), str(life), str(groups)]
    process = launch(cmd, workdir, f"life-{life:04d}", env={"WFKIT_FAULTS": ""}, run_timeout=120.0)
    tally.lives += 1
    if killed_last and not process.before_ready:
        tally.recoveries += 1
    if process.returncode != 0 or not process.done:
        tally.violations.append(f"the last life did not finish the load:\n{process.describe()}")
    problems = auditor.final_audit(groups, life)
    note(problems, life, process)
    tally.groups = groups
    tally.stats = dict(auditor.stats)
    tally.seconds = time.monotonic() - began
    return tally


def _write_requests(control: Path, written: int, groups: int) -> int:
    """Append the harness's signal and cancel requests of groups `written`..`groups`-1 to the control file."""
    if groups > written:
        with control.open("a") as out:
            for index in range(written, groups):
                for request in workload.control_requests(index):
                    out.write(json.dumps(request) + "\n")
    return max(written, groups)
