"""Workflow concurrency limits: how many runs of a workflow type, or of a named key, execute at once.

A run over a limit is recorded as started (its `WorkflowExecutionStarted` names its keys) but
gets no workflow task until a slot frees: it is *queued*. Queued runs start in the order they
were started, per key. Whether a run holds a slot is read from its history (a run that has had
a workflow task holds one), so the queue is rebuilt exactly after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from wfkit._definitions import Registry
from wfkit._engine._ledger import LiveRun
from wfkit._history._events import EventType
from wfkit.errors import ArgumentError

__all__ = ["ConcurrencyLimits"]

logger = logging.getLogger("wfkit.engine")

#: The key every run of a workflow with `max_concurrent` holds: `workflow:<type>`.
TYPE_KEY_PREFIX = "workflow:"


class ConcurrencyLimits:
    """Who holds a slot of each key and who waits, in start order; admits waiting runs as slots free."""

    def __init__(self, registry: Registry, limits: Mapping[str, int], admitted: Callable[[LiveRun], None]) -> None:
        self._registry = registry
        self._admitted = admitted
        self._holders: dict[str, set[str]] = {}
        self._waiting: list[LiveRun] = []
        self.limits: dict[str, int] = {}
        for key, limit in limits.items():
            self.set_limit(key, limit)

    def keys(self, workflow_type: str, concurrency_key: str | None = None) -> tuple[str, ...]:
        """The concurrency keys a new run takes (recorded in its start event): its type's, if the workflow has
        `max_concurrent`, and `concurrency_key`.

        Raises:
            ArgumentError: `concurrency_key` has no limit configured.
        """
        definition = self._registry.workflow(workflow_type)
        keys = [TYPE_KEY_PREFIX + workflow_type] if definition is not None and definition.max_concurrent is not None else []
        if concurrency_key is not None:
            if not isinstance(concurrency_key, str) or concurrency_key not in self.limits:
                configured = ", ".join(sorted(self.limits)) or "none"
                raise ArgumentError(
                    f"concurrency_key={concurrency_key!r} has no limit: set one with Engine.open(..., concurrency_limits={{{concurrency_key!r}: N}}) "
                    f"or engine.set_concurrency_limit({concurrency_key!r}, N) (configured: {configured})"
                )
            keys.append(concurrency_key)
        return tuple(keys)

    def set_limit(self, key: str, limit: int) -> None:
        """Set (or change) a named key's limit; runs waiting for it start if it grew."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ArgumentError(f"concurrency limit for {key!r} must be a whole number >= 1, got {limit!r}")
        self.limits[key] = limit
        self.admit_waiting()

    def limit_of(self, key: str) -> int | None:
        """The limit of a key now (None: unlimited, e.g. a workflow type whose code is not registered)."""
        if key.startswith(TYPE_KEY_PREFIX):
            definition = self._registry.workflow(key[len(TYPE_KEY_PREFIX) :])
            return definition.max_concurrent if definition is not None else None
        return self.limits.get(key)

    #### Runs coming and going ####

    def admit(self, run: LiveRun) -> bool:
        """A new run: take a slot of each of its keys, or queue it. True if it may run now."""
        if not run.concurrency_keys:
            return True
        if not self._waiting_ahead(run.concurrency_keys) and self._free(run.concurrency_keys):
            self._hold(run)
            return True
        run.queued = True
        self._waiting.append(run)
        return False

    def inherit(self, old: LiveRun, new: LiveRun) -> None:
        """Continue-as-new: the new run keeps the slots of the run it continues (it is the same execution)."""
        new.concurrency_keys = old.concurrency_keys
        for key in old.concurrency_keys:
            holders = self._holders.setdefault(key, set())
            holders.discard(old.run_id)
            holders.add(new.run_id)

    def release(self, run: LiveRun) -> None:
        """A run closed (or was rolled back): free its slots or its place in the queue, and admit who can go."""
        self.forget(run.run_id)
        self.admit_waiting()

    def forget(self, run_id: str) -> None:
        """Drop a run from the holders and the queue without admitting anyone (a rollback reloads it)."""
        for holders in self._holders.values():
            holders.discard(run_id)
        self._waiting = [r for r in self._waiting if r.run_id != run_id]

    def restore(self, runs: Iterable[LiveRun]) -> None:
        """Runs loaded from the store (at open, after a rollback): a run that has had a workflow task holds its
        slots (even over a limit lowered since); the others queue in start order."""
        waiting = []
        for run in runs:
            run.concurrency_keys = tuple(run.events[0].attributes.get("concurrency_keys") or ()) if run.events else ()
            if not run.concurrency_keys:
                continue
            if any(e.event_type is EventType.WorkflowTaskScheduled for e in run.events):
                self._hold(run)
            else:
                run.queued = True
                waiting.append(run)
        self._waiting = sorted([*self._waiting, *waiting], key=lambda r: r.events[0].event_time)
        self.admit_waiting()

    #### What the monitor shows ####

    def waiting_for(self, run: LiveRun) -> str | None:
        """The keys a queued run waits for, as 'warehouse (2 of 2 in use)'; None if it is not queued."""
        if not run.queued:
            return None
        full = [key for key in run.concurrency_keys if not self._free([key])] or list(run.concurrency_keys)
        return ", ".join(f"{key} ({len(self._holders.get(key, ()))} of {self.limit_of(key)} running)" for key in full)

    @property
    def queued_count(self) -> int:
        return len(self._waiting)

    #### Internals ####

    def _free(self, keys: Iterable[str]) -> bool:
        for key in keys:
            limit = self.limit_of(key)
            if limit is not None and len(self._holders.get(key, ())) >= limit:
                return False
        return True

    def _waiting_ahead(self, keys: Iterable[str]) -> bool:
        wanted = set(keys)
        return any(wanted.intersection(r.concurrency_keys) for r in self._waiting)

    def _hold(self, run: LiveRun) -> None:
        for key in run.concurrency_keys:
            self._holders.setdefault(key, set()).add(run.run_id)

    def admit_waiting(self) -> None:
        """Start the queued runs that have slots now (after a limit or the registered code changed)."""
        # In start order; a run that must wait blocks its keys for the runs behind it (first come, first
        # served per key), but not the runs waiting for other keys.
        blocked: set[str] = set()
        still: list[LiveRun] = []
        for run in self._waiting:
            if blocked.intersection(run.concurrency_keys) or not self._free(run.concurrency_keys):
                blocked.update(run.concurrency_keys)
                still.append(run)
                continue
            self._hold(run)
            run.queued = False
            self._admitted(run)
        self._waiting = still
