#!/usr/bin/env python
"""wfkit engine benchmark: the reference ETL workload (see docs/performance.md).

Scenarios (each measured run is a fresh subprocess with a fresh file-backed DuckDB database,
repeated --reps times; medians are reported):

  throughput  N `etl(i)` runs (extract -> transform -> load) started at once from one process;
              workflows/s and activities/s (N / wall time from first start to last completion),
              per-run latency (start call to result) p50/p95/p99.
  loopstart   the same N runs started the way a notebook user writes it: one `await engine.start`
              after the other in a for loop, then every result awaited; workflows/s (N / wall
              time from the first start call to the last completion) and start-call p50/p99.
  seq         one run of --steps trivial activities in sequence: ms per step.
  floor       bare DuckDB on the same disk (a fresh file, one connection, threads=1 as wfkit's
              store): median ms of --floor-k `BEGIN; INSERT one row; COMMIT` transactions (and,
              for reference, of the same one-row transaction through an appender, as wfkit writes).
  fanout      one run of --fan trivial activities started at once with asyncio.gather: wall ms.
  replay      replay the recorded history of a --steps run and of a 1,000-activity run with
              `wfkit.Replayer` (no activities run): ms, median of 5 replays each.
  recovery    a 5-step run in a subprocess that is SIGKILLed while step 4 runs (step 4 starts only
              once step 3's completion is committed, and writes a marker at its start); a new
              subprocess opens the engine on the same file: restart-to-resumed = from the start of
              its `Engine.open` call to the run's completion. A side file counts step executions.
  memory      --timers runs each waiting on a one-day `wfkit.sleep`; process RSS once all are
              started and committed.

The summary adds two ratios: `seq ms/step / floor ms` (target <= 1.3: a sequential step costs
little more than one bare transaction) and `loopstart wf/s / throughput wf/s` (target >= 0.6:
starting runs one by one costs little throughput).

Usage:
  python bench/engine_throughput.py                       # all scenarios, 3 reps, N=500
  python bench/engine_throughput.py --n 200 --reps 1 --scenarios throughput,seq
  python bench/engine_throughput.py --json out.json       # also write the raw runs and medians
  python bench/engine_throughput.py --profile tp.prof     # cProfile one throughput run, print hotspots
  python bench/engine_throughput.py --profile seq.prof --profile-scenario seq   # or loopstart, fanout
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

T_IMPORT0 = time.time()

import duckdb  # noqa: E402

import wfkit  # noqa: E402

T_IMPORT1 = time.time()

SCENARIOS = ("throughput", "loopstart", "seq", "floor", "fanout", "replay", "recovery", "memory")
PROFILED = ("throughput", "loopstart", "seq", "fanout")
SIDE_FILE = os.environ.get("WFKIT_BENCH_SIDE_FILE", "")
CRASH = os.environ.get("WFKIT_BENCH_CRASH", "") == "1"
RECOVERY_ID = "recov-1"


# ---------------------------------------------------------------- workload (WORKLOAD.md)
@wfkit.activity
async def extract(i: int) -> list[dict[str, Any]]:
    return [{"id": k, "amount": k * 1.5, "src": i} for k in range(100)]


@wfkit.activity
async def transform(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"n": len(rows), "total": sum(r["amount"] for r in rows)}


@wfkit.activity
async def load(summary: dict[str, Any]) -> float:
    return float(summary["total"])


@wfkit.workflow
async def etl(i: int) -> float:
    rows = await extract(i)
    summary = await transform(rows)
    return await load(summary)


@wfkit.activity
async def tiny(k: int) -> int:
    return k + 1


@wfkit.workflow
async def seq_wf(n: int) -> int:
    acc = 0
    for _ in range(n):
        acc = await tiny(acc)
    return acc


@wfkit.workflow
async def fanout_wf(n: int) -> int:
    results = await asyncio.gather(*(tiny(k) for k in range(n)))
    return sum(results)


def _side(line: str) -> None:
    fd = os.open(SIDE_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@wfkit.activity
async def rstep(k: int) -> int:
    _side(f"start {k} {os.getpid()} {time.time():.6f}")
    if k == 4 and CRASH:
        await asyncio.sleep(3600)  # the parent SIGKILLs this process here
    _side(f"done {k} {os.getpid()} {time.time():.6f}")
    return k * 10


@wfkit.workflow
async def recov_wf() -> int:
    total = 0
    for k in range(1, 6):
        total += await rstep(k)
    return total


@wfkit.workflow
async def timer_wf(seconds: float) -> int:
    await wfkit.sleep(seconds)
    return 1


# ---------------------------------------------------------------- helpers
def pct(xs: list[float], p: float) -> float:
    """Percentile with linear interpolation (as the DBOS peer script computes it)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def scalar(engine: wfkit.Engine, query: str) -> Any:
    rows = engine.sql(query).fetchall()
    return rows[0][0] if rows else None


class Window:
    """The measured part of a child: --profile turns its profilers on inside it only (not for the open or the warm-up)."""

    on_enter: Callable[[], None] | None = None
    on_exit: Callable[[], None] | None = None

    def __enter__(self) -> None:
        if Window.on_enter is not None:
            Window.on_enter()

    def __exit__(self, *exc: object) -> None:
        if Window.on_exit is not None:
            Window.on_exit()


def emit(result: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def remove_db(path: str) -> None:
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)


def wfkit_commit() -> str | None:
    """The git commit of the wfkit source being measured (+dirty if wfkit/ has uncommitted edits)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(wfkit.__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "wfkit"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "nproc_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "duckdb": duckdb.__version__,
        "wfkit": wfkit.__version__,
    }
    commit = wfkit_commit()
    if commit:
        facts["wfkit_commit"] = commit
    try:
        facts["pyarrow"] = version("pyarrow")
        with open("/proc/meminfo") as f:
            facts["mem_total_kib"] = int(f.readline().split()[1])
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except Exception:
        pass
    return facts


# ---------------------------------------------------------------- measured children
async def c_throughput(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    engine = await wfkit.Engine.open(args.db)
    open_s = time.perf_counter() - t0
    try:
        # warm-up (excluded): 10 runs, as the peers do
        handles = await asyncio.gather(*(engine.start(etl, -i - 1, id=f"warm-{i}") for i in range(10)))
        await asyncio.gather(*(h.result() for h in handles))

        async def one(i: int) -> tuple[float, float, float]:
            s = time.perf_counter()
            handle = await engine.start(etl, i, id=f"etl-{i}")
            started = time.perf_counter()
            result = await handle.result()
            assert result == 7425.0, result
            return s, started, time.perf_counter()

        with Window():
            t0 = time.perf_counter()
            stamps = await asyncio.gather(*(one(i) for i in range(args.n)))
            wall = time.perf_counter() - t0
        lats = [(done - s) * 1e3 for s, _, done in stamps]
        starts = [(started - s) * 1e3 for s, started, _ in stamps]
        completed = scalar(engine, "SELECT count(*) FROM workflows WHERE status = 'Completed'")
        events = scalar(engine, "SELECT count(*) FROM events")
    finally:
        t1 = time.perf_counter()
        await engine.close()
        close_s = time.perf_counter() - t1
    return {
        "n": args.n,
        "open_s": open_s,
        "wall_s": wall,
        "wf_per_s": args.n / wall,
        "activities_per_s": 3 * args.n / wall,
        "lat_p50_ms": pct(lats, 50),
        "lat_p95_ms": pct(lats, 95),
        "lat_p99_ms": pct(lats, 99),
        "lat_max_ms": max(lats),
        "start_call_p50_ms": pct(starts, 50),
        "start_call_p99_ms": pct(starts, 99),
        "all_started_s": max(started for _, started, _ in stamps) - t0,
        "completed_runs": completed,
        "events": events,
        "close_s": close_s,
        "db_bytes": os.path.getsize(args.db),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


async def c_loopstart(args: argparse.Namespace) -> dict[str, Any]:
    """The notebook way: start the runs one by one in a loop (each start awaited), then await the results."""
    t0 = time.perf_counter()
    engine = await wfkit.Engine.open(args.db)
    open_s = time.perf_counter() - t0
    try:
        warm = []
        for i in range(10):  # warm-up (excluded), written the same way
            warm.append(await engine.start(etl, -i - 1, id=f"warm-{i}"))
        for h in warm:
            await h.result()

        handles = []
        starts = []
        with Window():
            t0 = time.perf_counter()
            for i in range(args.n):
                s = time.perf_counter()
                handles.append(await engine.start(etl, i, id=f"etl-{i}"))
                starts.append((time.perf_counter() - s) * 1e3)
            all_started = time.perf_counter() - t0
            results = [await h.result() for h in handles]
            wall = time.perf_counter() - t0
        assert all(r == 7425.0 for r in results), results[:3]
        completed = scalar(engine, "SELECT count(*) FROM workflows WHERE status = 'Completed'")
        events = scalar(engine, "SELECT count(*) FROM events")
    finally:
        t1 = time.perf_counter()
        await engine.close()
        close_s = time.perf_counter() - t1
    return {
        "n": args.n,
        "open_s": open_s,
        "wall_s": wall,
        "wf_per_s": args.n / wall,
        "activities_per_s": 3 * args.n / wall,
        "all_started_s": all_started,
        "start_call_p50_ms": pct(starts, 50),
        "start_call_p95_ms": pct(starts, 95),
        "start_call_p99_ms": pct(starts, 99),
        "start_call_max_ms": max(starts),
        "start_call_mean_ms": statistics.fmean(starts),
        "completed_runs": completed,
        "events": events,
        "close_s": close_s,
        "db_bytes": os.path.getsize(args.db),
    }


async def c_floor(args: argparse.Namespace) -> dict[str, Any]:
    """Bare DuckDB: one-row transactions on one connection with threads=1, as wfkit's store opens it."""
    con = duckdb.connect(args.db, config={"threads": 1})
    try:
        con.execute("CREATE TABLE floor_rows (id VARCHAR, k INTEGER, x DOUBLE, s VARCHAR)")

        def insert_txn(i: int) -> None:
            con.execute("BEGIN")
            con.execute("INSERT INTO floor_rows VALUES (?, ?, ?, ?)", [f"row-{i}", i, i * 1.5, "payload"])
            con.execute("COMMIT")

        appender = con.appender("floor_rows", columns=["id", "k", "x", "s"]) if hasattr(con, "appender") else None

        def appender_txn(i: int) -> None:
            assert appender is not None
            con.begin()
            appender.append_rows([(f"app-{i}", i, i * 1.5, "payload")])
            appender.flush()
            con.commit()

        def timed(fn: Callable[[int], None]) -> list[float]:
            for i in range(20):  # warm-up (excluded)
                fn(-i - 1)
            times = []
            for i in range(args.floor_k):
                s = time.perf_counter()
                fn(i)
                times.append((time.perf_counter() - s) * 1e3)
            return times

        t0 = time.perf_counter()
        txn = timed(insert_txn)
        wall = time.perf_counter() - t0
        app = timed(appender_txn) if appender is not None else []
        rows = con.execute("SELECT count(*) FROM floor_rows").fetchall()[0][0]
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    finally:
        con.close()
    out: dict[str, Any] = {
        "k": args.floor_k,
        "threads": threads,
        "txn_median_ms": statistics.median(txn),
        "txn_mean_ms": statistics.fmean(txn),
        "txn_p10_ms": pct(txn, 10),
        "txn_p90_ms": pct(txn, 90),
        "txn_p99_ms": pct(txn, 99),
        "txn_wall_s": wall,
        "rows": rows,
        "db_bytes": os.path.getsize(args.db),
    }
    if app:
        out |= {"appender_txn_median_ms": statistics.median(app), "appender_txn_p90_ms": pct(app, 90)}
    return out


async def c_seq(args: argparse.Namespace) -> dict[str, Any]:
    async with wfkit.Engine.open(args.db) as engine:
        await (await engine.start(seq_wf, 5, id="warm")).result()
        with Window():
            t0 = time.perf_counter()
            handle = await engine.start(seq_wf, args.steps, id="seq")
            result = await handle.result()
            wall = time.perf_counter() - t0
        assert result == args.steps, result
        events = len(engine.history("seq").events)
    return {"steps": args.steps, "wall_s": wall, "ms_per_step": wall * 1e3 / args.steps, "history_events": events}


async def c_fanout(args: argparse.Namespace) -> dict[str, Any]:
    async with wfkit.Engine.open(args.db) as engine:
        await (await engine.start(fanout_wf, 5, id="warm")).result()
        with Window():
            t0 = time.perf_counter()
            handle = await engine.start(fanout_wf, args.fan, id="fanout")
            result = await handle.result()
            wall = time.perf_counter() - t0
        assert result == sum(range(1, args.fan + 1)), result
        events = len(engine.history("fanout").events)
    return {"fan": args.fan, "wall_s": wall, "wall_ms": wall * 1e3, "history_events": events}


async def c_replay(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with wfkit.Engine.open(args.db) as engine:
        for label, steps in (("steps", args.steps), ("1000", 1000)):
            await (await engine.start(seq_wf, steps, id=f"replay-{label}")).result()
            history = engine.history(f"replay-{label}")
            replayer = wfkit.Replayer([seq_wf])
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                replayed = replayer.replay(history)
                times.append((time.perf_counter() - t0) * 1e3)
                assert replayed.result == steps, replayed.result
            out[f"replay_{label}_ms"] = statistics.median(times)
            out[f"replay_{label}_events"] = len(history.events)
    out["steps"] = args.steps
    return out


async def c_recovery(args: argparse.Namespace) -> dict[str, Any]:
    if args.phase == "crash":
        engine = await wfkit.Engine.open(args.db)
        handle = await engine.start(recov_wf, id=RECOVERY_ID)
        await handle.result()  # never returns: step 4 sleeps until this process is killed
        return {}
    t_open0 = time.time()
    engine = await wfkit.Engine.open(args.db)
    t_opened = time.time()
    try:
        result = await engine.get_handle(RECOVERY_ID).result()
        t_done = time.time()
    finally:
        await engine.close()
    return {"t_import0": T_IMPORT0, "t_import1": T_IMPORT1, "t_open0": t_open0, "t_opened": t_opened, "t_done": t_done, "result": result}


async def c_memory(args: argparse.Namespace) -> dict[str, Any]:
    rss0 = proc_status_kib("VmRSS")
    engine = await wfkit.Engine.open(args.db)
    rss_open = proc_status_kib("VmRSS")
    try:
        t0 = time.perf_counter()
        batch = args.timer_batch or args.timers
        for lo in range(0, args.timers, batch):  # starts in groups of --timer-batch, each awaited until committed
            await asyncio.gather(*(engine.start(timer_wf, 86400.0, id=f"timer-{i}") for i in range(lo, min(lo + batch, args.timers))))
        start_s = time.perf_counter() - t0
        # start() returns once the run's first activation (which records TimerStarted) is committed
        timers = scalar(engine, "SELECT count(*) FROM events WHERE event_type = 'TimerStarted'")
        running = scalar(engine, "SELECT count(*) FROM workflows WHERE status = 'Running'")
        rss = proc_status_kib("VmRSS")
        hwm = proc_status_kib("VmHWM")
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        t1 = time.perf_counter()
        await engine.close()
        close_s = time.perf_counter() - t1
    return {
        "timers": args.timers,
        "start_all_s": start_s,
        "timers_committed": timers,
        "running_runs": running,
        "rss_before_open_mb": rss0 * 1024 / 1e6,
        "rss_after_open_mb": rss_open * 1024 / 1e6,
        "rss_mb": rss * 1024 / 1e6,
        "vmhwm_mb": hwm * 1024 / 1e6,
        "ru_maxrss_mb": maxrss * 1024 / 1e6,
        "kib_per_run": (rss - rss_open) / args.timers,
        "close_s": close_s,
        "db_bytes": os.path.getsize(args.db),
    }


CHILDREN: dict[str, Callable[[argparse.Namespace], Any]] = {
    "throughput": c_throughput,
    "loopstart": c_loopstart,
    "seq": c_seq,
    "floor": c_floor,
    "fanout": c_fanout,
    "replay": c_replay,
    "recovery": c_recovery,
    "memory": c_memory,
}


# ---------------------------------------------------------------- driver
def child_cmd(scenario: str, db: str, args: argparse.Namespace, *extra: str) -> list[str]:
    return [
        sys.executable, os.path.abspath(__file__), "--child", scenario, "--db", db,
        "--n", str(args.n), "--steps", str(args.steps), "--fan", str(args.fan), "--timers", str(args.timers),
        "--timer-batch", str(args.timer_batch), "--floor-k", str(args.floor_k), *extra,
    ]  # fmt: skip


def parse_result(stdout: str) -> dict[str, Any] | None:
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])  # type: ignore[no-any-return]
    return None


def run_child(scenario: str, db: str, args: argparse.Namespace) -> dict[str, Any]:
    remove_db(db)
    t0 = time.time()
    p = subprocess.run(child_cmd(scenario, db, args), capture_output=True, text=True, timeout=args.timeout)
    result = parse_result(p.stdout)
    if result is None:
        raise RuntimeError(f"{scenario} child failed rc={p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    result["process_wall_s"] = time.time() - t0
    remove_db(db)
    return result


def run_recovery(workdir: str, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    db = os.path.join(workdir, f"recovery_{rep}.duckdb")
    side = os.path.join(workdir, f"recovery_{rep}.side")
    remove_db(db)
    if os.path.exists(side):
        os.remove(side)
    env = dict(os.environ, WFKIT_BENCH_SIDE_FILE=side, WFKIT_BENCH_CRASH="1")
    p1 = subprocess.Popen(child_cmd("recovery", db, args, "--phase", "crash"), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # step 4 is scheduled only after step 3's completion is committed: its start marker means
    # steps 1-3 are durable in the file
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(side):
            with open(side) as f:
                if "start 4 " in f.read():
                    break
        if p1.poll() is not None:
            break
        time.sleep(0.005)
    else:
        os.kill(p1.pid, signal.SIGKILL)
        p1.wait()
        raise RuntimeError("crash child never reached step 4")
    if p1.poll() is not None:
        out = p1.stdout.read().decode() if p1.stdout else ""
        raise RuntimeError(f"crash child exited early rc={p1.returncode}:\n{out[-3000:]}")
    os.kill(p1.pid, signal.SIGKILL)  # exactly the process this driver started
    p1.wait()
    if p1.stdout:
        p1.stdout.close()
    t_kill = time.time()

    env2 = dict(os.environ, WFKIT_BENCH_SIDE_FILE=side, WFKIT_BENCH_CRASH="0")
    t_spawn = time.time()
    p2 = subprocess.run(child_cmd("recovery", db, args, "--phase", "recover"), env=env2, capture_output=True, text=True, timeout=args.timeout)
    t_exit = time.time()
    res = parse_result(p2.stdout)
    if res is None:
        raise RuntimeError(f"recover child failed rc={p2.returncode}\n{p2.stdout[-3000:]}\n{p2.stderr[-3000:]}")
    with open(side) as f:
        lines = [line.split() for line in f.read().splitlines()]
    starts = {k: 0 for k in range(1, 6)}
    for ev, k, _pid, _ts in lines:
        if ev == "start":
            starts[int(k)] += 1
    step4_restart = next(float(ts) for ev, k, pid, ts in lines if ev == "start" and k == "4" and int(pid) != p1.pid)
    remove_db(db)
    return {
        "result": res["result"],
        "step_start_counts": starts,
        "steps_1_3_reexecuted": any(starts[k] != 1 for k in (1, 2, 3)),
        # from the start of Engine.open in the new process to the run's completion
        "restart_to_resumed_s": res["t_done"] - res["t_open0"],
        "open_s": res["t_opened"] - res["t_open0"],
        "open_to_step4_start_s": step4_restart - res["t_open0"],
        # from spawning the new process (interpreter start and imports included) to completion,
        # the DBOS peer's `time_to_recover_s`
        "spawn_to_resumed_s": res["t_done"] - t_spawn,
        "spawn_to_import_done_s": res["t_import1"] - t_spawn,
        "recover_proc_total_s": t_exit - t_spawn,
        "kill_to_restart_s": t_spawn - t_kill,
    }


def measure(scenario: str, workdir: str, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    if scenario == "recovery":
        return run_recovery(workdir, rep, args)
    return run_child(scenario, os.path.join(workdir, f"{scenario}_{rep}.duckdb"), args)


@dataclass(frozen=True)
class Metric:
    key: str
    scenario: str
    field: str
    label: str
    unit: str
    target: tuple[str, float] | None = None  # (">=" | "<=" | "<", value)
    scale: float = 1.0


METRICS = [
    Metric("throughput_wf_per_s", "throughput", "wf_per_s", "workflows/s", "1/s", (">=", 1000)),
    Metric("throughput_activities_per_s", "throughput", "activities_per_s", "activities/s", "1/s"),
    Metric("throughput_lat_p50_ms", "throughput", "lat_p50_ms", "latency p50", "ms"),
    Metric("throughput_lat_p95_ms", "throughput", "lat_p95_ms", "latency p95", "ms"),
    Metric("throughput_lat_p99_ms", "throughput", "lat_p99_ms", "latency p99", "ms"),
    Metric("loopstart_wf_per_s", "loopstart", "wf_per_s", "loop-start workflows/s", "1/s"),
    Metric("loopstart_start_call_p50_ms", "loopstart", "start_call_p50_ms", "loop-start, start() call p50", "ms"),
    Metric("loopstart_start_call_p99_ms", "loopstart", "start_call_p99_ms", "loop-start, start() call p99", "ms"),
    Metric("seq_ms_per_step", "seq", "ms_per_step", "sequential, per step", "ms", ("<=", 1.5)),
    Metric("floor_txn_ms", "floor", "txn_median_ms", "DuckDB floor: BEGIN; INSERT 1 row; COMMIT", "ms"),
    Metric("floor_appender_txn_ms", "floor", "appender_txn_median_ms", "DuckDB floor, 1 row through an appender", "ms"),
    Metric("fanout_wall_ms", "fanout", "wall_ms", "fan-out wall", "ms", ("<", 50)),
    Metric("replay_steps_ms", "replay", "replay_steps_ms", "replay, --steps-activity history", "ms"),
    Metric("replay_1000_ms", "replay", "replay_1000_ms", "replay, 1000-activity history", "ms"),
    Metric("recovery_restart_to_resumed_s", "recovery", "restart_to_resumed_s", "restart-to-resumed", "s", ("<", 0.3)),
    Metric("recovery_open_s", "recovery", "open_s", "Engine.open (recovery)", "s"),
    Metric("recovery_spawn_to_resumed_s", "recovery", "spawn_to_resumed_s", "process spawn-to-resumed", "s"),
    Metric("memory_rss_mb", "memory", "rss_mb", "RSS with 10k timers", "MB", ("<", 1000)),
    Metric("memory_start_all_s", "memory", "start_all_s", "start 10k timer runs", "s"),
]


@dataclass(frozen=True)
class Ratio:
    key: str
    label: str
    numerator: str  # Metric keys
    denominator: str
    target: tuple[str, float]


RATIOS = [
    Ratio("ratio_seq_over_floor", "seq ms/step / floor ms", "seq_ms_per_step", "floor_txn_ms", ("<=", 1.3)),
    Ratio("ratio_loopstart_over_throughput", "loopstart wf/s / throughput wf/s", "loopstart_wf_per_s", "throughput_wf_per_s", (">=", 0.6)),
]


def target_met(value: float, target: tuple[str, float]) -> bool:
    op, bound = target
    return {">=": value >= bound, "<=": value <= bound, "<": value < bound}[op]


def summarize(runs: dict[str, list[dict[str, Any]]], timers: int, steps: int) -> tuple[dict[str, Any], list[list[str]]]:
    medians: dict[str, Any] = {}
    rows: list[list[str]] = []
    for m in METRICS:
        xs = [float(r[m.field]) for r in runs.get(m.scenario, []) if r.get(m.field) is not None]
        if not xs:
            continue
        med = statistics.median(xs)
        medians[m.key] = med
        label = m.label.replace("10k", f"{timers:,}").replace("--steps", str(steps))
        target = met = ""
        if m.target is not None:
            target = f"{m.target[0]} {m.target[1]:g} {m.unit}"
            met = "met" if target_met(med, m.target) else "MISSED"
        rows.append([m.scenario, label, f"{med:.4g} {m.unit}", f"{min(xs):.4g}", f"{max(xs):.4g}", str(len(xs)), target, met])
        if m.key == "recovery_spawn_to_resumed_s":
            rerun = any(r["steps_1_3_reexecuted"] for r in runs["recovery"])
            medians["recovery_steps_1_3_reexecuted_any"] = rerun
            medians["recovery_step_start_counts"] = [r["step_start_counts"] for r in runs["recovery"]]
            rows.append(["recovery", "steps 1-3 run again?", "yes" if rerun else "no (all reps)", "", "", str(len(xs)), "no", "MISSED" if rerun else "met"])
    metrics = {m.key: m for m in METRICS}
    for q in RATIOS:
        num, den = medians.get(q.numerator), medians.get(q.denominator)
        if num is None or not den:
            continue
        value = num / den
        medians[q.key] = value
        # min/max over the reps paired by number (rep i of one scenario with rep i of the other)
        pairs = zip(runs[metrics[q.numerator].scenario], runs[metrics[q.denominator].scenario], strict=False)
        per_rep = [float(a[metrics[q.numerator].field]) / float(b[metrics[q.denominator].field]) for a, b in pairs]
        met = "met" if target_met(value, q.target) else "MISSED"
        lo, hi = (f"{min(per_rep):.3g}", f"{max(per_rep):.3g}") if per_rep else ("", "")
        rows.append(["ratio", f"{q.label} (of medians)", f"{value:.3g}", lo, hi, str(len(per_rep)), f"{q.target[0]} {q.target[1]:g}", met])
    return medians, rows


def print_table(rows: list[list[str]]) -> None:
    header = ["scenario", "metric", "median", "min", "max", "reps", "target", ""]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def driver(args: argparse.Namespace) -> dict[str, Any]:
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    workdir = args.workdir or tempfile.mkdtemp(prefix="wfkit-bench-")
    os.makedirs(workdir, exist_ok=True)
    facts = machine_facts()
    print(
        f"wfkit benchmark: nproc={facts['nproc']} python={facts['python']} duckdb={facts['duckdb']} wfkit={facts['wfkit']}"
        f" ({facts.get('wfkit_commit', 'no git')})"
        f" | n={args.n} steps={args.steps} fan={args.fan} timers={args.timers} reps={args.reps} | workdir={workdir}",
        flush=True,
    )
    res: dict[str, Any] = {
        "system": "wfkit",
        "machine": facts,
        "params": {
            "n": args.n,
            "steps": args.steps,
            "fan": args.fan,
            "timers": args.timers,
            "timer_batch": args.timer_batch,
            "reps": args.reps,
            "scenarios": scenarios,
        },
        "loadavg_start": os.getloadavg(),
        "runs": {s: [] for s in scenarios},
    }
    try:
        for rep in range(1, args.reps + 1):
            for scenario in scenarios:
                load1 = os.getloadavg()[0]
                commit = wfkit_commit()
                print(
                    f"[{scenario} rep {rep}/{args.reps}] nproc={facts['nproc']} python={facts['python']} duckdb={facts['duckdb']}"
                    f" wfkit={facts['wfkit']} ({commit or 'no git'}) load1={load1:.2f}",
                    end=" ",
                    flush=True,
                )
                r = measure(scenario, workdir, rep, args)
                r["loadavg1_before"] = load1
                r["wfkit_commit"] = commit
                res["runs"][scenario].append(r)
                print("-> " + describe(scenario, r), flush=True)
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    res["loadavg_end"] = os.getloadavg()
    res["medians"], rows = summarize(res["runs"], args.timers, args.steps)
    res["targets"] = {
        m.key: {"op": m.target[0], "value": m.target[1], "unit": m.unit, "met": target_met(res["medians"][m.key], m.target)}
        for m in METRICS
        if m.target is not None and m.key in res["medians"]
    }
    res["targets"].update(
        {
            q.key: {"op": q.target[0], "value": q.target[1], "unit": "ratio", "met": target_met(res["medians"][q.key], q.target)}
            for q in RATIOS
            if q.key in res["medians"]
        }
    )
    print()
    print(f"medians of {args.reps} rep(s); load average at start {fmt_load(res['loadavg_start'])}, at end {fmt_load(res['loadavg_end'])}")
    print_table(rows)
    return res


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def describe(scenario: str, r: dict[str, Any]) -> str:
    if scenario == "throughput":
        return f"{r['wf_per_s']:.1f} wf/s, p50 {r['lat_p50_ms']:.0f} ms, p99 {r['lat_p99_ms']:.0f} ms"
    if scenario == "loopstart":
        return f"{r['wf_per_s']:.1f} wf/s, start() p50 {r['start_call_p50_ms']:.2f} ms, p99 {r['start_call_p99_ms']:.2f} ms"
    if scenario == "seq":
        return f"{r['ms_per_step']:.3f} ms/step"
    if scenario == "floor":
        app = f", appender {r['appender_txn_median_ms']:.3f} ms" if "appender_txn_median_ms" in r else ""
        return f"{r['txn_median_ms']:.3f} ms/txn (p90 {r['txn_p90_ms']:.3f}){app}"
    if scenario == "fanout":
        return f"{r['wall_ms']:.1f} ms"
    if scenario == "replay":
        return f"{r['replay_steps_ms']:.1f} ms ({r['replay_steps_events']} events), {r['replay_1000_ms']:.1f} ms ({r['replay_1000_events']} events)"
    if scenario == "recovery":
        return f"restart-to-resumed {r['restart_to_resumed_s'] * 1e3:.0f} ms (open {r['open_s'] * 1e3:.0f} ms), step starts {r['step_start_counts']}"
    return f"RSS {r['rss_mb']:.0f} MB with {r['timers_committed']} timers committed (started in {r['start_all_s']:.1f} s)"


# ---------------------------------------------------------------- profile
def profile_scenario(args: argparse.Namespace) -> None:
    """One run of a scenario under cProfile, one profiler per thread: the event loop, the commit
    thread (Store.write when the engine sends it there; small batches are written inline on the
    loop and show up in the loop's profile) and the activation thread (workflow code). Only the
    measured part is profiled (not the open or the warm-up) unless --profile-whole."""
    import contextlib
    import threading

    from wfkit._store import _store

    activation_cls: Any = None  # the activation thread's entry point, where the engine has one (its internals change)
    with contextlib.suppress(ImportError):
        from wfkit._engine._activation import ActivationThread as activation_cls
    original_work = getattr(activation_cls, "_work", None)

    scenario = args.profile_scenario
    workdir = tempfile.mkdtemp(prefix="wfkit-prof-")
    args.db = os.path.join(workdir, "prof.duckdb")
    main_prof, db_prof, act_prof = cProfile.Profile(), cProfile.Profile(), cProfile.Profile()
    main_thread = threading.main_thread()
    writes = {"loop": [0, 0.0], "commit thread": [0, 0.0]}
    window = {"on": False, "t0": 0.0, "wall": 0.0}
    original_write = _store.Store.write

    def profiled_write(self: Any, *a: Any, **kw: Any) -> None:
        if not window["on"]:
            original_write(self, *a, **kw)
            return
        s = time.perf_counter()
        inline = threading.current_thread() is main_thread  # the loop's profiler is already on
        if not inline:
            db_prof.enable()
        try:
            original_write(self, *a, **kw)
        finally:
            if not inline:
                db_prof.disable()
            count = writes["loop" if inline else "commit thread"]
            count[0] += 1
            count[1] += time.perf_counter() - s

    def profiled_work(batch: Any) -> None:  # runs on an activation thread
        assert original_work is not None
        if not window["on"]:
            original_work(batch)
            return
        act_prof.enable()
        try:
            original_work(batch)
        finally:
            act_prof.disable()

    def enter() -> None:
        window["on"], window["t0"] = True, time.perf_counter()
        main_prof.enable()

    def leave() -> None:
        main_prof.disable()
        window["on"], window["wall"] = False, time.perf_counter() - window["t0"]

    _store.Store.write = profiled_write  # type: ignore[method-assign,assignment]
    if activation_cls is not None and original_work is not None:
        activation_cls._work = staticmethod(profiled_work)
    if not args.profile_whole:
        Window.on_enter, Window.on_exit = enter, leave
    try:
        if args.profile_whole:
            enter()
        try:
            result = asyncio.run(CHILDREN[scenario](args))
        finally:
            if args.profile_whole:
                leave()
    finally:
        Window.on_enter = Window.on_exit = None
        _store.Store.write = original_write  # type: ignore[method-assign]
        if activation_cls is not None and original_work is not None:
            activation_cls._work = staticmethod(original_work)
        shutil.rmtree(workdir, ignore_errors=True)
    wall = window["wall"]
    what = "the whole child (open and warm-up included)" if args.profile_whole else "the measured part"
    print(f"profiled {scenario}: {describe(scenario, result)} (profiler overhead included); {what}: {wall:.3f} s wall")
    for where, (count, secs) in writes.items():
        if count:
            print(f"Store.write on the {where}: {count:.0f} calls, {secs:.3f} s wall ({secs / count * 1e3:.3f} ms each)")
    threads = (
        ("event-loop thread", main_prof, args.profile),
        ("commit thread (Store.write)", db_prof, args.profile + ".commit-thread"),
        ("activation thread (workflow code)", act_prof, args.profile + ".activation-thread"),
    )
    for title, prof, out in threads:
        prof.create_stats()
        if not prof.stats:  # type: ignore[attr-defined]
            print(f"\n== {title}: nothing ran there")
            continue
        prof.dump_stats(out)
        print_hotspots(title, pstats.Stats(prof), wall, out, wfkit_only=not args.profile_all)


def print_hotspots(title: str, stats: pstats.Stats, wall: float, path: str, *, wfkit_only: bool = True) -> None:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())  # total tottime: time this thread spent under the profiler
    print(f"\n== {title}: {total:.2f} s profiled of {wall:.2f} s wall; stats in {path}")

    def wanted(file: str) -> bool:
        return not wfkit_only or (f"{os.sep}wfkit{os.sep}" in file and f"{os.sep}bench{os.sep}" not in file)

    inside = [(k, v) for k, v in raw.items() if wanted(k[0])]
    where = "in wfkit/" if wfkit_only else "(all, C calls included)"
    for sort, idx in (("tottime (self time)", 2), ("cumtime (incl. callees)", 3)):
        print(f"-- top 15 functions {where} by {sort}; share = of this thread's profiled time")
        print(f"{'share':>7} {'tottime':>8} {'cumtime':>8} {'calls':>9}  function")
        for (file, line, name), v in sorted(inside, key=lambda kv: kv[1][idx], reverse=True)[:15]:
            cut = file.rfind(f"{os.sep}wfkit{os.sep}")
            rel = file[cut + 1 :] if cut >= 0 else (os.path.basename(file) if file != "~" else "")
            print(
                f"{100 * v[idx] / total:6.1f}% {v[2]:8.3f} {v[3]:8.3f} {v[1]:9d}  {rel}:{line} {name}"
                if rel
                else f"{100 * v[idx] / total:6.1f}% {v[2]:8.3f} {v[3]:8.3f} {v[1]:9d}  {name}"
            )


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    ap.add_argument("--n", type=int, default=500, help="throughput: runs started at once (default 500)")
    ap.add_argument("--steps", type=int, default=200, help="seq: activities in sequence (default 200)")
    ap.add_argument("--fan", type=int, default=100, help="fanout: activities at once (default 100)")
    ap.add_argument("--timers", type=int, default=10_000, help="memory: runs waiting on a timer (default 10000)")
    ap.add_argument("--timer-batch", type=int, default=0, help="memory: start the runs in groups of this many (default 0: all at once)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each scenario (default 3)")
    ap.add_argument("--json", metavar="FILE", help="write machine facts, every run and the medians to FILE")
    ap.add_argument("--workdir", help="where the database files go (default: a temporary directory, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per measured subprocess")
    ap.add_argument("--floor-k", type=int, default=500, help="floor: one-row transactions timed (default 500)")
    ap.add_argument("--profile", metavar="FILE", help="instead: profile one run (--profile-scenario), write cProfile stats to FILE")
    ap.add_argument("--profile-scenario", choices=PROFILED, default="throughput", help="the scenario --profile runs (default throughput)")
    ap.add_argument("--profile-all", action="store_true", help="--profile: list every function, not only wfkit's")
    ap.add_argument("--profile-whole", action="store_true", help="--profile: the whole child, open and warm-up included")
    ap.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=["crash", "recover"], default="crash", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        emit(asyncio.run(CHILDREN[args.child](args)))
        return
    if args.profile:
        profile_scenario(args)
        return
    res = driver(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
