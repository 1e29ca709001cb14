"""Analytics benchmark: SQL views and Parquet export over one million history events.

Generates N runs of a 10-activity ETL workflow (4 parallel extracts, 4 parallel transforms, a
validate, a durable timer, a load; about 5% of extract attempts fail once and are retried, about
1% of runs fail their load three times and fail) spread over 30 days, written through the store's
bulk path (`Store.write`, the same group-commit path the engine uses) — not through the engine.
Then times, as the median of --reps runs on a fresh connection each:
  - `SELECT * FROM activity_stats` (target: under 1 s for one million events on 2 cores),
  - `SELECT count(*) FROM activities` (the one-row-per-attempt view, computed in full) and
    runs grouped by status,
  - `wfkit.open_histories(db).export(dir)`: Parquet partitioned by date (the default past a
    million events), Parquet one file per table, and JSON lines; then `wfkit.import_histories` of
    the partitioned export into a new database.
Each timing opens the database afresh (`wfkit.open_histories`), as a CLI command would.

Usage: python bench/analytics.py [--runs 20000] [--reps 5] [--db PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import wfkit
from wfkit._store._store import RunClose, RunRow, Store

E = wfkit.EventType
DAY = 86_400.0
START = 1_800_000_000.0  # 2027-01-15, a fixed origin so every generated database is the same


class _Run:
    """Builds one run's events with explicit times (seconds since the epoch)."""

    def __init__(self, run_id: str, workflow_id: str, t: float, rng: random.Random) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.t = t
        self.rng = rng
        self.events: list[wfkit.Event] = []
        self.seq = 0

    def add(self, event_type: wfkit.EventType, attrs: dict[str, Any], dt: float = 0.0005) -> wfkit.Event:
        self.t = round(self.t + dt, 6)
        event = wfkit.Event(len(self.events) + 1, event_type, self.t, attrs)
        self.events.append(event)
        return event

    def task(self) -> None:
        scheduled = self.add(E.WorkflowTaskScheduled, {})
        started = self.add(E.WorkflowTaskStarted, {"scheduled_event_id": scheduled.event_id})
        self.add(E.WorkflowTaskCompleted, {"scheduled_event_id": scheduled.event_id, "started_event_id": started.event_id}, 0.0002)

    def schedule(self, activity_type: str, arg: Any) -> tuple[int, int, str]:
        self.seq += 1
        event = self.add(
            E.ActivityTaskScheduled,
            {"activity_id": self.seq, "activity_type": activity_type, "input": [{"encoding": "json/plain", "data": arg}], "task_queue": None},
            0.0001,
        )
        return self.seq, event.event_id, activity_type

    def execute(self, act: tuple[int, int, str], seconds: float, *, fail_attempts: int = 0, final_failure: bool = False) -> None:
        seq, scheduled_id, activity_type = act
        base = {"activity_id": seq, "activity_type": activity_type, "scheduled_event_id": scheduled_id}
        attempt = 0
        while True:
            attempt += 1
            started = self.add(E.ActivityTaskStarted, base | {"attempt": attempt}, 0.002)
            end = base | {"started_event_id": started.event_id, "attempt": attempt}
            duration = seconds * self.rng.lognormvariate(0, 0.35)
            if attempt <= fail_attempts:
                failure = {"type": "ConnectionError", "message": f"{activity_type}: connection reset", "stack": "", "non_retryable": False}
                last = final_failure and attempt == fail_attempts
                state = {"retry_state": "MaximumAttemptsReached"} if last else {"retry_state": "InProgress", "next_retry_delay": 0.5}
                self.add(E.ActivityTaskFailed, end | {"failure": failure} | state, duration)
                if last:
                    return
                self.t += 0.5
                continue
            self.add(E.ActivityTaskCompleted, end | {"result": {"encoding": "json/plain", "data": {"rows": self.rng.randrange(1000)}}}, duration)
            return


def build_run(index: int, rng: random.Random) -> tuple[RunRow, list[wfkit.Event], RunClose]:
    run_id = f"{index:08x}{rng.getrandbits(96):024x}"
    workflow_id = f"etl-{index}"
    start = START + DAY * (index % 30) + rng.uniform(0, DAY - 3600)
    run = _Run(run_id, workflow_id, start, rng)
    sources = ["orders", "customers", "payments", "flaky-api"]
    run.add(
        E.WorkflowExecutionStarted,
        {
            "workflow_type": "etl10",
            "workflow_id": workflow_id,
            "input": [{"encoding": "json/plain", "data": sources}],
            "task_queue": "default",
            "random_seed": index,
            "parent_run_id": None,
            "parent_workflow_id": None,
            "parent_child_id": None,
            "continued_from_run_id": None,
        },
        0.0,
    )
    run.task()
    extracts = [run.schedule("extract", s) for s in sources]
    for act, source in zip(extracts, sources, strict=True):
        flaky = rng.random() < (0.15 if source == "flaky-api" else 0.02)
        run.execute(act, 0.05 if source != "flaky-api" else 0.2, fail_attempts=int(flaky))
    run.task()
    transforms = [run.schedule("transform", s) for s in sources]
    for act in transforms:
        run.execute(act, 0.01)
    run.task()
    run.execute(run.schedule("validate", None), 0.003)
    run.task()
    timer = run.add(E.TimerStarted, {"timer_id": 1, "duration": 1.0})
    run.t += 1.0
    run.add(E.TimerFired, {"timer_id": 1, "started_event_id": timer.event_id}, 0.001)
    run.task()
    failing = rng.random() < 0.01
    run.execute(run.schedule("load", None), 0.1, fail_attempts=3 if failing else 0, final_failure=failing)
    run.task()
    if failing:
        failure = {"type": "ActivityError", "message": "activity load failed: ConnectionError: load: connection reset", "stack": "", "non_retryable": False}
        closing = run.add(E.WorkflowExecutionFailed, {"failure": failure})
        close = RunClose(run_id, "Failed", None, failure, closing.event_time, len(run.events))
    else:
        result = {"encoding": "json/plain", "data": rng.randrange(10_000)}
        closing = run.add(E.WorkflowExecutionCompleted, {"result": result})
        close = RunClose(run_id, "Completed", result, None, closing.event_time, len(run.events))
    row = RunRow(run_id, workflow_id, "etl10", "default", [{"encoding": "json/plain", "data": sources}], start)
    return row, run.events, close


def generate(path: str, runs: int, *, batch: int = 500, seed: int = 7) -> int:
    """Write `runs` generated runs into a new wfkit database at `path`; returns the number of events."""
    rng = random.Random(seed)
    store = Store.open(path)
    total = 0
    try:
        for first in range(0, runs, batch):
            rows, events, closes = [], [], []
            for index in range(first, min(first + batch, runs)):
                row, history, close = build_run(index, rng)
                rows.append(row)
                closes.append(close)
                events.extend((row.run_id, e) for e in history)
            store.write(events, rows, closes)
            total += len(events)
    finally:
        store.close()
    return total


def timed(fn: Any, reps: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--db", help="keep the generated database here (default: a temporary file)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wfkit-bench-analytics-"))
    db = args.db or str(workdir / "analytics.duckdb")
    try:
        if os.path.exists(db):
            with wfkit.open_histories(db) as h:
                events = int(h.sql("SELECT count(*) FROM events").fetchall()[0][0])
            generate_s = None
        else:
            began = time.perf_counter()
            events = generate(db, args.runs)
            generate_s = time.perf_counter() - began
        print(f"database: {db}: {events:,} events, {args.runs:,} runs" + (f" (generated in {generate_s:.1f}s)" if generate_s else ""))

        def stats() -> None:
            with wfkit.open_histories(db) as h:
                rows = h.stats().fetchall()
            assert rows, "activity_stats is empty"

        def count_activities() -> None:
            with wfkit.open_histories(db) as h:
                h.sql("SELECT count(*) FROM activities").fetchall()

        def runs_view() -> None:
            with wfkit.open_histories(db) as h:
                h.sql("SELECT status, count(*), avg(duration_s) FROM runs GROUP BY status").fetchall()

        def export(fmt: str, partition: bool) -> Any:
            def go() -> None:
                out = workdir / f"export-{fmt}-{'partitioned' if partition else 'single'}"
                shutil.rmtree(out, ignore_errors=True)
                with wfkit.open_histories(db) as h:
                    h.export(out, format=fmt, partition_by_date=partition)

            return go

        def import_back() -> None:
            target = workdir / "imported.duckdb"
            target.unlink(missing_ok=True)
            counts = wfkit.import_histories(workdir / "export-parquet-partitioned", db=target)
            assert counts["events"] == events, counts

        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "events": events,
            "runs": args.runs,
            "generate_s": generate_s,
        }
        for name, fn in [
            ("activity_stats", stats),
            ("activities_count", count_activities),
            ("runs_by_status", runs_view),
            ("export_parquet_partitioned", export("parquet", True)),
            ("export_parquet_single", export("parquet", False)),
            ("export_jsonl", export("jsonl", False)),
            ("import_parquet_partitioned", import_back),
        ]:
            median, times = timed(fn, args.reps)
            results[name] = {"median_s": round(median, 4), "runs_s": [round(t, 4) for t in times]}
            print(f"{name:28s} median {median * 1000:8.1f} ms   ({', '.join(f'{t * 1000:.0f}' for t in times)})")
        for name in ("parquet-partitioned", "parquet-single", "jsonl-single"):
            size = sum(f.stat().st_size for f in (workdir / f"export-{name}").rglob("*") if f.is_file())
            results[f"export_{name}_bytes"] = size
            print(f"export {name}: {size / 1e6:.1f} MB")
        results["database_bytes"] = os.path.getsize(db)
        print(f"database: {os.path.getsize(db) / 1e6:.1f} MB")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
