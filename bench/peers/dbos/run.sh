#!/usr/bin/env bash
# Sets up a fresh venv and runs the DBOS (SQLite) peer benchmark.
# Usage: bash run.sh            (scratch under /tmp/peers/dbos, results.json next to this file)
#
# Copied from the shared peer benchmark; the only change is that sizes and the output
# path can be set from the environment (the defaults are the original ones):
#   REPS=5 N=500 STEPS=200 FAN=100 WAL=1 OUT=$HERE/results.json bash run.sh
#   REPS=3 N=200 WAL=0 OUT=/tmp/dbos.json bash run.sh        # what bench/compare.py runs
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SCRATCH="${SCRATCH:-/tmp/peers/dbos}"
VENV="$SCRATCH/venv"
REPS="${REPS:-5}"
N="${N:-500}"
STEPS="${STEPS:-200}"
FAN="${FAN:-100}"
WAL="${WAL:-1}"
OUT="${OUT:-$HERE/results.json}"
mkdir -p "$SCRATCH/runs"
if [ ! -x "$VENV/bin/python" ]; then
  python3.11 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
"$VENV/bin/pip" install -q "dbos==3.4.0"
"$VENV/bin/python" -c "import dbos, sqlalchemy, sqlite3; from importlib.metadata import version; print('dbos', version('dbos'), 'sqlalchemy', sqlalchemy.__version__, 'sqlite', sqlite3.sqlite_version)"
# REPS reps of every workload, each in a fresh process + fresh SQLite file;
# default DBOS settings (rollback journal) and (WAL=1) a WAL variant.
WAL_ARGS=()
if [ "$WAL" = "1" ]; then WAL_ARGS=(--with-wal); fi
"$VENV/bin/python" "$HERE/bench_dbos.py" all --reps "$REPS" --n "$N" --steps "$STEPS" --fan "$FAN" \
  "${WAL_ARGS[@]}" --rundir "$SCRATCH/runs" --out "$OUT"
