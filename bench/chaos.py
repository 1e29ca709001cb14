#!/usr/bin/env python
"""Chaos benchmark: 500 SIGKILLs of a worker running a mixed ETL load, at random moments and at every
fault point, with the engine's invariants checked after every restart (tests/support/chaos.py).

Prints the tally: kills (by mode), recoveries, violations (must be 0), and what the load did.
Exits 1 if any invariant was violated.

Usage:
  python bench/chaos.py                      # 500 kills (~11 min on 2 cores)
  python bench/chaos.py --kills 120 --seed 7
  python bench/chaos.py --workdir /tmp/chaos --json tally.json   # keep the files, write the tally as JSON
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support.chaos

from tests.support import chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the database, side file and worker logs here")
    parser.add_argument("--json", type=Path, default=None, help="also write the tally as JSON")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wfkit-chaos-"))
    began = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"wfkit chaos: {args.kills} kills, modes {', '.join(chaos.MODES)}; files in {workdir}", flush=True)
    tally = chaos.run_chaos(workdir, args.kills, seed=args.seed, progress=lambda line: print(line, flush=True))
    print()
    print(tally.summary())
    for violation in tally.violations[:50]:
        print(f"- {violation[:2000]}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "started": began,
                    "seed": tally.seed,
                    "kills": dict(tally.kills),
                    "total_kills": tally.total_kills,
                    "recoveries": tally.recoveries,
                    "violations": tally.violations,
                    "lives": tally.lives,
                    "missed": dict(tally.missed),
                    "groups": tally.groups,
                    "seconds": round(tally.seconds, 1),
                    "stats": tally.stats,
                },
                indent=2,
            )
        )
    if args.workdir is None and not tally.violations:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
