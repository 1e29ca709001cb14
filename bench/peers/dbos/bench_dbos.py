#!/usr/bin/env python
# ruff: noqa  (a copy of the shared peer benchmark script, kept as it was measured; only ruff-formatted)
"""Peer benchmark: DBOS Transact (Python) on an embedded SQLite system database.

Workloads (identical in spirit to the Temporal / wfkit benchmarks):
  throughput  N `etl` workflows (extract -> transform -> load, 3 async steps) started
              concurrently with DBOS.start_workflow_async; wall time, wf/s, latency pcts.
  seq         1 workflow running S sequential trivial async steps -> ms/step.
  fanout      1 workflow running F trivial async steps concurrently (asyncio.gather).
  recovery    5-step workflow; the child process is SIGKILLed (by its PID) after step 3
              is checkpointed; a fresh process relaunches DBOS, which recovers it.
              Side file counts step executions; time-to-recover measured.
  features    list_workflows / list_workflow_steps / fork / cancel / resume smoke test.
  schema      dump the SQLite system-database schema.
  all         driver: runs every workload REPS times, each in a fresh process with a
              fresh database file, and writes results.json (medians).

Every measured run happens in its own subprocess with its own SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

T_IMPORT0 = time.time()

from dbos import DBOS, DBOSConfig, SetWorkflowID  # noqa: E402

T_IMPORT1 = time.time()

HERE = os.path.dirname(os.path.abspath(__file__))
SIDE_FILE = os.environ.get("WFB_SIDE_FILE", "")
CRASH = os.environ.get("WFB_CRASH", "") == "1"
EXEC_COUNT: dict[str, int] = {}


def _count(name: str) -> None:
    EXEC_COUNT[name] = EXEC_COUNT.get(name, 0) + 1


# ---------------------------------------------------------------- workflows
@DBOS.step()
async def extract(i: int) -> list[dict]:
    _count("extract")
    return [{"id": k, "v": (k * i) % 97} for k in range(100)]


@DBOS.step()
async def transform(rows: list[dict]) -> int:
    _count("transform")
    return sum(r["v"] for r in rows)


@DBOS.step()
async def load(total: int) -> dict:
    _count("load")
    return {"total": total, "ok": True}


@DBOS.workflow()
async def etl(i: int) -> dict:
    rows = await extract(i)
    total = await transform(rows)
    return await load(total)


@DBOS.step()
async def tiny(k: int) -> int:
    return k + 1


@DBOS.workflow()
async def seq_wf(n: int) -> int:
    acc = 0
    for k in range(n):
        acc += await tiny(k)
    return acc


@DBOS.workflow()
async def fanout_wf(n: int) -> int:
    res = await asyncio.gather(*[tiny(k) for k in range(n)])
    return sum(res)


def _side(line: str) -> None:
    fd = os.open(SIDE_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@DBOS.step()
async def rstep(k: int) -> int:
    _side(f"start {k} {os.getpid()} {time.time():.6f}")
    if k == 4 and CRASH:
        await asyncio.sleep(3600)  # parent SIGKILLs us here (step 3 is checkpointed)
    _side(f"done {k} {os.getpid()} {time.time():.6f}")
    return k * 10


@DBOS.workflow()
async def recov_wf() -> int:
    total = 0
    for k in range(1, 6):
        total += await rstep(k)
    return total


@DBOS.step()
async def slow_step(k: int) -> int:
    _count(f"slow{k}")
    await asyncio.sleep(0.3)
    return k


@DBOS.workflow()
async def slow_wf() -> int:
    t = 0
    for k in range(1, 6):
        t += await slow_step(k)
    return t


# ---------------------------------------------------------------- helpers
def make_dbos(db: str, wal: bool = False) -> float:
    if wal:
        c = sqlite3.connect(db)
        c.execute("PRAGMA journal_mode=WAL")  # persistent in the file
        c.close()
    cfg: DBOSConfig = {
        "name": "wfbench",
        "system_database_url": f"sqlite:///{db}",
        "log_level": "WARNING",
    }
    t0 = time.perf_counter()
    DBOS(config=cfg)
    return time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def emit(d: dict) -> None:
    print("RESULT " + json.dumps(d), flush=True)


def db_stats(db: str) -> dict:
    c = sqlite3.connect(db)
    out = {
        "workflow_rows": c.execute("select count(*) from workflow_status").fetchone()[0],
        "success_rows": c.execute("select count(*) from workflow_status where status='SUCCESS'").fetchone()[0],
        "step_rows": c.execute("select count(*) from operation_outputs").fetchone()[0],
        "journal_mode": c.execute("pragma journal_mode").fetchone()[0],
    }
    c.close()
    size = os.path.getsize(db)
    for ext in ("-wal", "-shm"):
        if os.path.exists(db + ext):
            size += os.path.getsize(db + ext)
    out["db_bytes"] = size
    return out


# ---------------------------------------------------------------- workloads
async def w_throughput(args) -> dict:
    t0 = time.perf_counter()
    DBOS.launch()
    launch_s = time.perf_counter() - t0
    # warm-up (excluded): 10 workflows
    await asyncio.gather(*[(await DBOS.start_workflow_async(etl, -i - 1)).get_result() for i in range(10)])

    async def one(i: int) -> float:
        s = time.perf_counter()
        h = await DBOS.start_workflow_async(etl, i)
        r = await h.get_result()
        assert r["ok"]
        return time.perf_counter() - s

    t0 = time.perf_counter()
    lats = await asyncio.gather(*[one(i) for i in range(args.n)])
    wall = time.perf_counter() - t0

    # introspection cost on the populated db
    t1 = time.perf_counter()
    wfs = await DBOS.list_workflows_async(name="etl")
    list_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    steps = await DBOS.list_workflow_steps_async(wfs[-1].workflow_id)
    steps_s = time.perf_counter() - t1
    DBOS.destroy()

    # analytic SQL straight on the system database (outputs are opaque pickles)
    c = sqlite3.connect(args.db)
    t1 = time.perf_counter()
    agg = c.execute(
        "select function_name, count(*), avg(completed_at_epoch_ms-started_at_epoch_ms) from operation_outputs group by function_name order by function_name"
    ).fetchall()
    sql_s = time.perf_counter() - t1
    c.close()
    st = db_stats(args.db)
    return {
        "n": args.n,
        "wal": args.wal,
        "launch_s": launch_s,
        "wall_s": wall,
        "wf_per_s": args.n / wall,
        "steps_per_s": 3 * args.n / wall,
        "lat_p50_ms": pct(lats, 50) * 1e3,
        "lat_p95_ms": pct(lats, 95) * 1e3,
        "lat_p99_ms": pct(lats, 99) * 1e3,
        "lat_max_ms": max(lats) * 1e3,
        "list_workflows_ms": list_s * 1e3,
        "list_workflows_count": len(wfs),
        "list_workflow_steps_ms": steps_s * 1e3,
        "list_workflow_steps_count": len(steps),
        "sql_agg_ms": sql_s * 1e3,
        "sql_agg": agg,
        "exec_counts": EXEC_COUNT,
        **st,
    }


async def w_seq(args) -> dict:
    DBOS.launch()
    await (await DBOS.start_workflow_async(seq_wf, 5)).get_result()  # warm-up
    t0 = time.perf_counter()
    h = await DBOS.start_workflow_async(seq_wf, args.steps)
    r = await h.get_result()
    wall = time.perf_counter() - t0
    assert r == sum(range(1, args.steps + 1))
    steps = await DBOS.list_workflow_steps_async(h.get_workflow_id())
    DBOS.destroy()
    return {
        "steps": args.steps,
        "wal": args.wal,
        "wall_s": wall,
        "ms_per_step": wall * 1e3 / args.steps,
        "recorded_steps": len(steps),
        **db_stats(args.db),
    }


async def w_fanout(args) -> dict:
    DBOS.launch()
    await (await DBOS.start_workflow_async(fanout_wf, 5)).get_result()  # warm-up
    t0 = time.perf_counter()
    h = await DBOS.start_workflow_async(fanout_wf, args.fan)
    r = await h.get_result()
    wall = time.perf_counter() - t0
    assert r == sum(range(1, args.fan + 1))
    steps = await DBOS.list_workflow_steps_async(h.get_workflow_id())
    DBOS.destroy()
    return {
        "fan": args.fan,
        "wal": args.wal,
        "wall_s": wall,
        "ms_per_step": wall * 1e3 / args.fan,
        "recorded_steps": len(steps),
        "distinct_function_ids": len({s["function_id"] for s in steps}),
        **db_stats(args.db),
    }


async def w_recovery_child(args) -> dict:
    t_launch0 = time.time()
    DBOS.launch()
    t_launched = time.time()
    if args.phase == "crash":
        with SetWorkflowID("recov-1"):
            h = await DBOS.start_workflow_async(recov_wf)
        await h.get_result()  # never returns: step 4 sleeps until we are killed
        return {}
    # phase == recover: DBOS.launch() found recov-1 PENDING and re-enqueued it.
    while True:
        st = await DBOS.get_workflow_status_async("recov-1")
        if st is not None and st.status == "SUCCESS":
            break
        await asyncio.sleep(0.002)
    t_done = time.time()
    res = await (await DBOS.retrieve_workflow_async("recov-1")).get_result()
    DBOS.destroy()
    return {
        "t_import0": T_IMPORT0,
        "t_import1": T_IMPORT1,
        "t_launch0": t_launch0,
        "t_launched": t_launched,
        "t_done": t_done,
        "result": res,
    }


def w_recovery_driver(args, rep: int) -> dict:
    rundir = args.rundir
    db = os.path.join(rundir, f"recovery_{rep}.sqlite")
    side = os.path.join(rundir, f"recovery_{rep}.side")
    for p in (db, db + "-wal", db + "-shm", db + "-journal", side):
        if os.path.exists(p):
            os.remove(p)
    env = dict(os.environ, WFB_SIDE_FILE=side, WFB_CRASH="1")
    base = [sys.executable, os.path.abspath(__file__), "recovery-child", "--db", db]
    if args.wal:
        base.append("--wal")
    p1 = subprocess.Popen(base + ["--phase", "crash"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # wait until step 4 has started, i.e. step 3's output row is committed
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(side) and "start 4 " in open(side).read():
            break
        time.sleep(0.005)
    else:
        p1.kill()
        raise RuntimeError("crash child never reached step 4:\n" + p1.stdout.read().decode())
    c = sqlite3.connect(db)
    ckpt = [r[0] for r in c.execute("select function_id from operation_outputs where workflow_uuid='recov-1' order by 1")]
    status_before = c.execute("select status from workflow_status where workflow_uuid='recov-1'").fetchone()[0]
    c.close()
    os.kill(p1.pid, signal.SIGKILL)  # kill exactly the process we started
    p1.wait()
    t_kill = time.time()

    env2 = dict(os.environ, WFB_SIDE_FILE=side, WFB_CRASH="0")
    t_restart = time.time()
    p2 = subprocess.run(base + ["--phase", "recover"], env=env2, capture_output=True, text=True, timeout=120)
    t_exit = time.time()
    res = None
    for line in p2.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    if res is None:
        raise RuntimeError("recover child failed:\n" + p2.stdout + p2.stderr)
    lines = [l.split() for l in open(side).read().splitlines()]
    starts = {k: 0 for k in range(1, 6)}
    for ev, k, pid, ts in lines:
        if ev == "start":
            starts[int(k)] += 1
    step4_restart = [float(ts) for ev, k, pid, ts in lines if ev == "start" and k == "4" and int(pid) != p1.pid][0]
    step5_done = [float(ts) for ev, k, pid, ts in lines if ev == "done" and k == "5"][0]
    return {
        "checkpointed_function_ids_at_kill": ckpt,
        "status_at_kill": status_before,
        "step_start_counts": starts,
        "steps_1_3_reexecuted": any(starts[k] != 1 for k in (1, 2, 3)),
        "result": res["result"],
        # from spawning the new process to the workflow being SUCCESS in the db
        "time_to_recover_s": res["t_done"] - t_restart,
        "spawn_to_import_done_s": res["t_import1"] - t_restart,
        "launch_s": res["t_launched"] - res["t_launch0"],
        "launched_to_step4_start_s": step4_restart - res["t_launched"],
        "launched_to_success_s": res["t_done"] - res["t_launched"],
        "step5_done_to_success_seen_s": res["t_done"] - step5_done,
        "recover_proc_total_s": t_exit - t_restart,
        "kill_to_restart_s": t_restart - t_kill,
    }


async def w_features(args) -> dict:
    notes: dict = {}
    DBOS.launch()
    h = await DBOS.start_workflow_async(etl, 7)
    r = await h.get_result()
    wid = h.get_workflow_id()
    wfs = await DBOS.list_workflows_async(name="etl")
    notes["list_workflows"] = {
        "n": len(wfs),
        "fields": sorted(k for k in vars(wfs[0]).keys()),
    }
    steps = await DBOS.list_workflow_steps_async(wid)
    notes["list_workflow_steps"] = {
        "n": len(steps),
        "fields": sorted(steps[0].keys()),
        "names": [s["function_name"] for s in steps],
    }
    # fork from step 3: steps 1-2 are copied, step 3 (load) re-runs
    before = dict(EXEC_COUNT)
    fh = await DBOS.fork_workflow_async(wid, 3)
    fr = await fh.get_result()
    fsteps = await DBOS.list_workflow_steps_async(fh.get_workflow_id())
    fst = await DBOS.get_workflow_status_async(fh.get_workflow_id())
    notes["fork_workflow"] = {
        "same_result": fr == r,
        "new_id_differs": fh.get_workflow_id() != wid,
        "forked_from": getattr(fst, "forked_from", None),
        "steps_in_fork": [s["function_name"] for s in fsteps],
        "executions_during_fork": {k: EXEC_COUNT.get(k, 0) - before.get(k, 0) for k in EXEC_COUNT},
    }
    # cancel mid-flight, then resume
    sh = await DBOS.start_workflow_async(slow_wf)
    await asyncio.sleep(0.75)  # ~2 of 5 steps done
    await DBOS.cancel_workflow_async(sh.get_workflow_id())
    await asyncio.sleep(0.5)
    st = await DBOS.get_workflow_status_async(sh.get_workflow_id())
    counts_at_cancel = {k: v for k, v in EXEC_COUNT.items() if k.startswith("slow")}
    t0 = time.perf_counter()
    rh = await DBOS.resume_workflow_async(sh.get_workflow_id())
    rr = await rh.get_result()
    resume_s = time.perf_counter() - t0
    st2 = await DBOS.get_workflow_status_async(sh.get_workflow_id())
    notes["cancel_resume"] = {
        "status_after_cancel": st.status,
        "slow_step_execs_at_cancel": counts_at_cancel,
        "status_after_resume": st2.status,
        "result": rr,
        "slow_step_execs_total": {k: v for k, v in EXEC_COUNT.items() if k.startswith("slow")},
        "resume_to_result_s": resume_s,
    }
    DBOS.destroy()
    return notes


def w_schema(db: str) -> dict:
    c = sqlite3.connect(db)
    out = {}
    for name, sql in c.execute("select name, sql from sqlite_master where type='table' order by name"):
        out[name] = {
            "columns": [f"{r[1]} {r[2]}{' PK' if r[5] else ''}{' NOT NULL' if r[3] else ''}" for r in c.execute(f"pragma table_info('{name}')")],
            "indexes": [r[0] for r in c.execute("select name from sqlite_master where type='index' and tbl_name=?", (name,))],
        }
    out["_pragmas"] = {p: c.execute(f"pragma {p}").fetchone()[0] for p in ("journal_mode", "synchronous", "page_size")}
    c.close()
    return out


# ---------------------------------------------------------------- driver
def child(mode: str, db: str, extra: list[str], wal: bool) -> dict:
    for p in (db, db + "-wal", db + "-shm", db + "-journal"):
        if os.path.exists(p):
            os.remove(p)
    cmd = [sys.executable, os.path.abspath(__file__), mode, "--db", db] + extra
    if wal:
        cmd.append("--wal")
    t0 = time.time()
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            d = json.loads(line[7:])
            d["process_wall_s"] = time.time() - t0
            d["loadavg1_before"] = load
            return d
    raise RuntimeError(f"{mode} failed rc={p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


SPREAD_KEYS = {
    "throughput": ["wf_per_s", "lat_p50_ms", "lat_p95_ms", "lat_p99_ms"],
    "seq": ["ms_per_step"],
    "fanout": ["wall_s"],
    "recovery": ["time_to_recover_s", "launched_to_step4_start_s"],
}


def spread(R: dict) -> dict:
    out = {}
    for w, keys in SPREAD_KEYS.items():
        for k in keys:
            xs = [r[k] for r in R[w]]
            out[f"{w}.{k}"] = {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}
    return out


def driver(args) -> None:
    os.makedirs(args.rundir, exist_ok=True)
    res: dict = {
        "system": "dbos",
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
            "sqlite": sqlite3.sqlite_version,
        },
        "params": {"n": args.n, "steps": args.steps, "fan": args.fan, "reps": args.reps},
        "runs": {},
        "medians": {},
    }
    try:
        from importlib.metadata import version

        res["versions"] = {p: version(p) for p in ("dbos", "sqlalchemy")}
    except Exception as e:  # pragma: no cover
        res["versions"] = {"error": str(e)}

    variants = [False, True] if args.with_wal else [False]
    for wal in variants:
        tag = "wal" if wal else "default"
        R = {"throughput": [], "seq": [], "fanout": [], "recovery": []}
        for rep in range(1, args.reps + 1):
            R["throughput"].append(child("throughput", os.path.join(args.rundir, f"tp_{tag}_{rep}.sqlite"), ["--n", str(args.n)], wal))
            print(f"[{tag}] throughput rep{rep}: {R['throughput'][-1]['wf_per_s']:.1f} wf/s", flush=True)
            R["seq"].append(child("seq", os.path.join(args.rundir, f"seq_{tag}_{rep}.sqlite"), ["--steps", str(args.steps)], wal))
            print(f"[{tag}] seq rep{rep}: {R['seq'][-1]['ms_per_step']:.2f} ms/step", flush=True)
            R["fanout"].append(child("fanout", os.path.join(args.rundir, f"fan_{tag}_{rep}.sqlite"), ["--fan", str(args.fan)], wal))
            print(f"[{tag}] fanout rep{rep}: {R['fanout'][-1]['wall_s'] * 1e3:.1f} ms", flush=True)
            a = argparse.Namespace(**vars(args))
            a.wal = wal
            R["recovery"].append(w_recovery_driver(a, f"{tag}_{rep}"))
            print(f"[{tag}] recovery rep{rep}: {R['recovery'][-1]['time_to_recover_s']:.3f} s, starts={R['recovery'][-1]['step_start_counts']}", flush=True)
        res["runs"][tag] = R
        res.setdefault("spread", {})[tag] = spread(R)
        res["medians"][tag] = {
            "throughput_wf_per_s": med(R["throughput"], "wf_per_s"),
            "throughput_wall_s": med(R["throughput"], "wall_s"),
            "throughput_lat_p50_ms": med(R["throughput"], "lat_p50_ms"),
            "throughput_lat_p95_ms": med(R["throughput"], "lat_p95_ms"),
            "throughput_lat_p99_ms": med(R["throughput"], "lat_p99_ms"),
            "throughput_db_bytes": med(R["throughput"], "db_bytes"),
            "launch_s": med(R["throughput"], "launch_s"),
            "list_workflows_510_ms": med(R["throughput"], "list_workflows_ms"),
            "list_workflow_steps_ms": med(R["throughput"], "list_workflow_steps_ms"),
            "sql_agg_ms": med(R["throughput"], "sql_agg_ms"),
            "seq_ms_per_step": med(R["seq"], "ms_per_step"),
            "seq_wall_s": med(R["seq"], "wall_s"),
            "fanout_wall_ms": 1e3 * med(R["fanout"], "wall_s"),
            "recovery_time_to_recover_s": med(R["recovery"], "time_to_recover_s"),
            "recovery_spawn_to_import_done_s": med(R["recovery"], "spawn_to_import_done_s"),
            "recovery_launch_s": med(R["recovery"], "launch_s"),
            "recovery_launched_to_step4_start_s": med(R["recovery"], "launched_to_step4_start_s"),
            "recovery_steps_1_3_reexecuted_any": any(r["steps_1_3_reexecuted"] for r in R["recovery"]),
        }
    res["loadavg_end"] = os.getloadavg()
    res["features"] = child("features", os.path.join(args.rundir, "features.sqlite"), [], False)
    res["schema"] = w_schema(os.path.join(args.rundir, "features.sqlite"))
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2, default=str)
    print(json.dumps(res["medians"], indent=2))
    print("wrote", args.out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["throughput", "seq", "fanout", "recovery-child", "recovery", "features", "schema", "all"])
    ap.add_argument("--db", default="/tmp/peers/dbos/runs/x.sqlite")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--fan", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--phase", choices=["crash", "recover"], default="crash")
    ap.add_argument("--wal", action="store_true")
    ap.add_argument("--with-wal", action="store_true", help="also run the WAL variant")
    ap.add_argument("--rundir", default="/tmp/peers/dbos/runs")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    args = ap.parse_args()

    if args.mode == "all":
        driver(args)
        return
    if args.mode == "recovery":
        os.makedirs(args.rundir, exist_ok=True)
        print(json.dumps(w_recovery_driver(args, 0), indent=2))
        return
    if args.mode == "schema":
        print(json.dumps(w_schema(args.db), indent=2))
        return
    make_dbos(args.db, args.wal)
    fn = {"throughput": w_throughput, "seq": w_seq, "fanout": w_fanout, "recovery-child": w_recovery_child, "features": w_features}[args.mode]
    emit(asyncio.run(fn(args)))


if __name__ == "__main__":
    main()
