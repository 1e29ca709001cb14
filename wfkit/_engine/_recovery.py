"""Recovery: open runs rebuilt from their own histories, at open and after a rolled-back commit.

Pending work comes from the events, not from a separate table: a run's `RunState` fed its
history knows which activities, timers and children are still open, so recovery re-arms
the timers, retries the attempts that were cut short and starts what never started.
"""

from __future__ import annotations

import logging
from typing import Any

from wfkit._engine._activator import Activator
from wfkit._engine._activities import ActivityRunner
from wfkit._engine._concurrency import ConcurrencyLimits
from wfkit._engine._external import ExternalRequests
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._timers import Timers
from wfkit._faults import fault
from wfkit._history._events import Event
from wfkit._history._state import admitted_updates
from wfkit._store._store import Store
from wfkit.errors import StoreCorruptError

__all__ = ["Recovery"]

logger = logging.getLogger("wfkit.engine")


class Recovery:
    """Loads open runs from the store into the ledger and sets their work going again."""

    def __init__(
        self,
        store: Store,
        ledger: RunLedger,
        timers: Timers,
        activities: ActivityRunner,
        activator: Activator,
        limits: ConcurrencyLimits,
        external: ExternalRequests,
    ) -> None:
        self._store = store
        self._external = external
        self._limits = limits
        self._ledger = ledger
        self._timers = timers
        self._activities = activities
        self._activator = activator

    def recover(self) -> None:
        """Resume every run the file holds as open."""
        rows = self._store.open_runs()
        histories = self._store.load_events_many(row["run_id"] for row in rows)
        loaded = []
        for row in rows:
            try:
                loaded.append(self._load(row, histories.get(row["run_id"], [])))
            except (ValueError, KeyError, TypeError) as exc:  # a gap, an event without its ids: a damaged or hand-made file
                raise StoreCorruptError(f"{self._store.path or 'memory'}: the history of open run {row['run_id']} cannot be resumed: {exc!r}") from None
        self._limits.restore(run for run in loaded if run is not None)
        for index, run in enumerate(loaded):
            if run is not None:
                self.resume(run, last_alive=self._store.previous_alive_at)
            if index == 0:
                fault("recovery")
        self._external.redeliver(run for run in loaded if run is not None)  # every target is loaded by now
        if rows:
            logger.info("resumed %d open run(s) from %s", len(rows), self._store.path or "memory")

    def resume(self, run: LiveRun, *, last_alive: float | None = None) -> None:
        """Pick up a run held in the ledger: rebuild its instance, re-arm its timers, restart its activities.

        `last_alive`: when the engine that last ran it was last known alive (attempts it was running end there).
        """
        if not self._activator.build_instance(run) and run.waiting_for_code:
            return
        for timer in run.state.timers.values():
            self._timers.arm(run, timer.seq, timer.fire_at)
        self._activities.resume(run, last_alive=last_alive)
        if run.state.unactivated or run.updates or run.local_results:
            self._ledger.mark_dirty(run)

    def roll_back(self, affected: dict[str, LiveRun], new_run_ids: set[str]) -> None:
        """A commit failed: forget these runs' in-memory state and reload the ones that exist on disk."""
        for run_id, run in affected.items():
            self._ledger.closing.pop(run_id, None)
            self._activities.abandon_run(run)
            self._ledger.remove(run)
            self._limits.forget(run_id)
        reload_ids = [rid for rid in affected if rid not in new_run_ids]
        try:
            rows = [self._store.get_run(rid) for rid in reload_ids]
            histories = self._store.load_events_many(reload_ids)
        except Exception:
            logger.exception("wfkit: cannot reload runs after a failed commit; reopen the engine")
            return
        reloaded_runs = []
        for row in rows:
            if row is not None and row["status"] == "Running":
                reloaded = self._load(row, histories.get(row["run_id"], []))
                if reloaded is not None:
                    self._limits.restore([reloaded])
                    self.resume(reloaded)
                    reloaded_runs.append(reloaded)
        self._external.redeliver(reloaded_runs)  # a delivery that was rolled back goes out again
        self._limits.admit_waiting()  # slots the rolled-back new runs held are free

    def _load(self, row: dict[str, Any], events: list[Event]) -> LiveRun | None:
        """Hold an open run from the store in the ledger, its state rebuilt from its history."""
        if not events:
            logger.error("run %s has no history; leaving it untouched", row["run_id"])
            return None
        attrs = events[0].attributes
        run = LiveRun(row["run_id"], row["workflow_id"], row["workflow_type"], row["task_queue"] or "default", int(attrs.get("random_seed") or 0))
        run.parent_run_id, run.parent_workflow_id, run.parent_child_id = row["parent_run_id"], row["parent_workflow_id"], attrs.get("parent_child_id")
        for event in events:
            run.state.apply(event)
        run.events = events
        run.updates = admitted_updates(events)
        self._ledger.add(run)
        return run
