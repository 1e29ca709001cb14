"""The `wfkit` command line: run workflows, look at their histories, query them, share them.

Commands that only read (ls, show, sql, stats, replay, report, export, schedule ls) open the
database read-only; while an engine in another process holds the file they read through that
engine's live-read socket (everything committed up to about a second ago). Commands that write
(run, import, purge, schedule create/pause/..., backfill) need the file to themselves.
Exit codes: 0 ok, 1 error (one line on stderr), 2 usage error.
"""

from __future__ import annotations

from wfkit.cli import _runs, _schedules  # noqa: F401 - importing them adds their commands to `main`
from wfkit.cli._main import main

__all__ = ["main"]
