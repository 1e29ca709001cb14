"""Named fault points for crash and recovery tests. Never active unless `WFKIT_FAULTS` is set.

`WFKIT_FAULTS="point[@n][:action],..."` makes the engine act when it reaches `point` for the
n-th time (default: the first). The action is `kill` (SIGKILL this process: a crash with no
cleanup, the default), `raise` (an OSError at that point) or `interrupt` (a KeyboardInterrupt
there, as the notebook's stop button delivers one). Points:

* `activity_completed`: an activity returned, before its completion is recorded.
* `after_commit`: a batch is durable, before its effects (starting activities, timers, waking handles).
* `after_payload_write`: inside a group commit's transaction, after its payload tables were written, before its events.
* `mid_commit`: inside a group commit's transaction, after the rows were written, before COMMIT.
* `recovery`: while `Engine.open` resumes the runs it found open, after the first one.
* `fork`: inside `Engine.fork`, after the copied history was queued, before it is committed.
* `mid_purge`: inside a purge batch's transaction, after its rows were deleted, before COMMIT.
* `external_delivery`: a signal or cancel request to another workflow is durable, before it is delivered.
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "FaultPlan", "fault"]

POINTS = ("activity_completed", "after_commit", "mid_commit", "after_payload_write", "recovery", "fork", "mid_purge", "external_delivery")


class FaultPlan:
    """The faults asked for by `WFKIT_FAULTS`, and how often each point was reached."""

    def __init__(self, spec: str) -> None:
        self._targets: dict[str, tuple[int, str]] = {}
        self._hits: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            where, _, action = item.partition(":")
            point, _, nth = where.partition("@")
            if point not in POINTS:
                raise ValueError(f"WFKIT_FAULTS: unknown fault point {point!r} (known: {', '.join(POINTS)})")
            if action not in ("", "kill", "raise", "interrupt"):
                raise ValueError(f"WFKIT_FAULTS: unknown action {action!r} for {point} (use kill, raise or interrupt)")
            self._targets[point] = (int(nth or 1), action or "kill")

    def reach(self, point: str) -> None:
        """Called by the engine at each fault point; acts if this is the chosen hit."""
        target = self._targets.get(point)
        if target is None:
            return
        self._hits[point] = self._hits.get(point, 0) + 1
        if self._hits[point] != target[0]:
            return
        if target[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if target[1] == "interrupt":
            raise KeyboardInterrupt(f"injected interrupt at {point}")
        raise OSError(f"injected fault at {point}")


_PLAN = FaultPlan(os.environ.get("WFKIT_FAULTS", ""))


def fault(point: str) -> None:
    """Reach a fault point (a no-op unless WFKIT_FAULTS names it)."""
    if _PLAN._targets:
        _PLAN.reach(point)
