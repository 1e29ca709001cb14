"""Durable timers and delayed callbacks, on the injectable clock.

A `TimerStarted` event is durable before its timer is armed, and a timer that fires records
`TimerFired`; after a restart, recovery re-arms every open timer at its recorded fire time.
"""

from __future__ import annotations

from collections.abc import Callable

from wfkit._engine._clock import Cancellable, Clock
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._writer import Writer
from wfkit._history._events import EventType

__all__ = ["Timers"]


class Timers:
    """The workflow timers armed now, keyed by (run id, timer seq)."""

    def __init__(self, clock: Clock, ledger: RunLedger, writer: Writer) -> None:
        self._clock = clock
        self._ledger = ledger
        self._writer = writer
        self._armed: dict[tuple[str, int], Cancellable] = {}

    def arm(self, run: LiveRun, seq: int, fire_at: float) -> None:
        """Fire the run's open timer `seq` at `fire_at` (wall-clock seconds)."""
        if not self._ledger.is_live(run) or seq not in run.state.timers:
            return

        def fire() -> None:
            self._armed.pop((run.run_id, seq), None)
            timer = run.state.timers.get(seq)
            if self._ledger.is_live(run) and timer is not None:
                self._writer.record(run, EventType.TimerFired, {"timer_id": seq, "started_event_id": timer.started_event_id})
                self._ledger.mark_dirty(run)

        self._armed[(run.run_id, seq)] = self._clock.call_at(fire_at, fire)

    def cancel(self, run: LiveRun, seq: int) -> None:
        handle = self._armed.pop((run.run_id, seq), None)
        if handle is not None:
            handle.cancel()

    def cancel_run(self, run: LiveRun) -> None:
        for seq in list(run.state.timers):
            self.cancel(run, seq)

    def call_at(self, run: LiveRun, when: float, callback: Callable[[], None]) -> None:
        """Run `callback` at `when` if the run is still live then (retry backoffs)."""

        def fire() -> None:
            if self._ledger.is_live(run):
                callback()

        self._clock.call_at(when, fire)

    def close(self) -> None:
        for handle in self._armed.values():
            handle.cancel()
        self._armed.clear()

    def __len__(self) -> int:
        return len(self._armed)
