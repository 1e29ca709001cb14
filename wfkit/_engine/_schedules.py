"""Schedules and backfills, the engine's side: create and control them, and carry out their firings.

A schedule is the built-in workflow `wfkit.schedule` (wfkit/_schedules/_workflows.py explains why a
workflow, and how it fires); this part starts it, talks to it through signals and a query, and runs
the two activities it calls: `fire` (apply the overlap policy, start the firing's run) and
`run_firing` (a backfill's: start or find the run, wait for it to close). A firing's run gets the
workflow id `<schedule id>-<scheduled time>` and records `schedule_id` and `scheduled_time` on its
`WorkflowExecutionStarted` (`wfkit.info().scheduled_time`); a retried firing finds the run it
already started by that id, so no firing ever starts twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from wfkit._activity import activity_info
from wfkit._definitions import Registry, WorkflowDefinition, default_registry
from wfkit._engine import _extensions
from wfkit._engine._clock import Clock
from wfkit._engine._handle import WorkflowHandle
from wfkit._engine._ledger import RunLedger
from wfkit._history._events import CLOSE_STATUS
from wfkit._history._payload import PayloadConverter
from wfkit._schedules._describe import ScheduleDescription, describe_state
from wfkit._schedules._spec import ScheduleSpec, iso, parse_instant, seconds
from wfkit._schedules._workflows import PROGRESS_QUERY, SIGNAL, STATE_QUERY, backfill_workflow, fire, run_firing, schedule_workflow
from wfkit.errors import ArgumentError, WfkitError, WorkflowNotFoundError

if TYPE_CHECKING:
    from wfkit._engine._lifecycle import RunLifecycle
    from wfkit._engine._operations import RunOperations
    from wfkit._engine._writer import Writer

__all__ = ["BUILTINS", "BackfillProgress", "BackfillReport", "Overlap", "ScheduleHandle", "Schedules"]

Overlap = Literal["skip", "buffer_one", "allow_all", "cancel_other", "terminate_other"]
OVERLAPS = ("skip", "buffer_one", "allow_all", "cancel_other", "terminate_other")
BUILTINS = (schedule_workflow, backfill_workflow, fire, run_firing)
PREFIX = "schedule/"
"""Workflow ids of schedulers: `schedule/<schedule id>`; of backfills: `schedule/<id>/backfill/<start>..<end>`."""
DEFAULT_CATCHUP = datetime.timedelta(days=1)

UTC = datetime.timezone.utc
StartFn = Callable[..., Awaitable[WorkflowHandle]]


@dataclass(frozen=True)
class BackfillProgress:
    """A running backfill: `ScheduleHandle.backfills()`."""

    workflow_id: str
    done: int
    """Firings whose runs have closed."""
    total: int


@dataclass
class BackfillReport:
    """How a backfill went: `engine.backfill(...)` returns it once the backfill is done (or at once with wait=False)."""

    schedule_id: str
    workflow_id: str
    """The backfill's own workflow id (its history records every firing)."""
    firings: int
    completed: int = 0
    failed: int = 0
    elapsed: float = 0.0
    done: bool = False
    note: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    """One per firing: scheduled_time, workflow_id, run_id, status."""

    def __str__(self) -> str:
        if not self.done:
            return f"backfill {self.workflow_id}: {self.firings} firings, running"
        text = f"backfill of {self.schedule_id}: {self.firings} firings, {self.completed} completed, {self.failed} failed in {self.elapsed:.1f}s"
        return f"{text} ({self.note})" if self.note else text


class ScheduleHandle:
    """A schedule in an engine: `engine.schedule(...)` and `engine.get_schedule(id)` return one."""

    def __init__(self, schedules: Schedules, schedule_id: str) -> None:
        self._schedules = schedules
        self.id = schedule_id
        """The schedule id."""
        self.workflow_id = PREFIX + schedule_id
        """The workflow id of its scheduler run (its history is the schedule's audit log)."""

    async def pause(self, note: str = "") -> None:
        """Take no more actions until `unpause` (firings due meanwhile are skipped, as in Temporal)."""
        await self._schedules.signal(self.id, {"op": "pause", "note": note})

    async def unpause(self, note: str = "") -> None:
        """Fire again from the next fire time on."""
        await self._schedules.signal(self.id, {"op": "unpause", "note": note})

    async def trigger_now(self) -> None:
        """Fire once now (the overlap policy applies); the run's scheduled time is now."""
        await self._schedules.signal(self.id, {"op": "trigger"})

    async def update(self, **changes: Any) -> None:
        """Change any of `engine.schedule`'s settings (cron, every, timezone, overlap, catchup_window, args, ...)."""
        await self._schedules.update(self.id, changes)

    async def delete(self) -> None:
        """Stop the schedule (a buffered firing still starts); its history and the runs it started stay."""
        scheduler = self._schedules.handle_of(self.id)
        await self._schedules.signal(self.id, {"op": "delete"})
        await scheduler.result()

    async def describe(self) -> ScheduleDescription:
        """Its settings, the next 5 fire times and the latest firings."""
        return self._schedules.description(await self._schedules.state(self.id))

    async def backfills(self) -> list[BackfillProgress]:
        """Its backfills that are running, with their progress."""
        return await self._schedules.backfills(self.id)

    def history(self) -> Any:
        """The scheduler's history (its latest run's)."""
        return self._schedules.history(self.workflow_id)

    def __repr__(self) -> str:
        return f"ScheduleHandle({self.id!r})"


class Schedules:
    """Creates and controls schedules and backfills, and carries out their activities."""

    def __init__(
        self,
        *,
        ledger: RunLedger,
        writer: Writer,
        lifecycle: RunLifecycle,
        operations: RunOperations,
        registry: Registry,
        converter: PayloadConverter,
        clock: Clock,
        start: StartFn,
    ) -> None:
        self._ledger = ledger
        self._writer = writer
        self._lifecycle = lifecycle
        self._operations = operations
        self._registry = registry
        self._converter = converter
        self._clock = clock
        self._start = start
        for definition in BUILTINS:
            if isinstance(definition, WorkflowDefinition):
                if registry.workflow(definition.name) is None:
                    registry.add_workflow(definition)
            elif registry.activity(definition.name) is None:
                registry.add_activity(definition)

    #### The API behind Engine.schedule / get_schedule / schedules / backfill ####

    async def create(self, workflow: WorkflowDefinition[Any, Any], args: list[Any], settings: dict[str, Any]) -> ScheduleHandle:
        """Start a scheduler run; if one with this id is open, update it to these settings instead."""
        schedule_id = settings.pop("id")
        if not isinstance(schedule_id, str) or not schedule_id or "/" in schedule_id:
            raise ArgumentError(f"a schedule needs an id without '/', e.g. id='nightly-etl' (got {schedule_id!r})")
        paused = bool(settings.pop("paused", False))
        state = self._settings(workflow, args, settings, base=None)
        if PREFIX + schedule_id in self._ledger.by_workflow_id:  # a re-run notebook cell: same schedule, maybe new settings
            await self.signal(schedule_id, {"op": "update", **state, "paused": paused})
            return ScheduleHandle(self, schedule_id)
        state |= {"id": schedule_id, "paused": paused, "note": "", "cursor": self._clock.now(), "running": [], "recent": [], "firings": 0}
        await self._start(schedule_workflow, state, id=PREFIX + schedule_id)
        return ScheduleHandle(self, schedule_id)

    def get(self, schedule_id: str) -> ScheduleHandle:
        """The handle of an open schedule."""
        self._scheduler(schedule_id)
        return ScheduleHandle(self, schedule_id)

    def all(self) -> list[ScheduleHandle]:
        """Every open schedule, by id."""
        ids = sorted(w[len(PREFIX) :] for w, run in self._ledger.by_workflow_id.items() if run.workflow_type == schedule_workflow.name)
        return [ScheduleHandle(self, i) for i in ids]

    async def update(self, schedule_id: str, changes: dict[str, Any]) -> None:
        """Apply `ScheduleHandle.update(**changes)`."""
        current = await self.state(schedule_id)
        unknown = set(changes) - {"workflow", "args", "cron", "every", "timezone", "overlap", "catchup_window", "jitter", "start_at", "end_at", "paused"}
        if unknown:
            raise ArgumentError(f"schedule {schedule_id}: cannot update {', '.join(sorted(unknown))}")
        workflow = self._definition(changes.pop("workflow", current["workflow"]))
        args = list(changes.pop("args", current["args"]))
        paused = changes.pop("paused", None)
        message = {"op": "update", **self._settings(workflow, args, changes, base=current)}
        if paused is not None:
            message["paused"] = bool(paused)
        await self.signal(schedule_id, message)

    async def backfill(
        self,
        schedule_id: str,
        start: Any,
        end: Any,
        *,
        overlap: str,
        max_concurrent: int,
        wait: bool,
        progress: bool | Callable[[int, int], None],
    ) -> BackfillReport:
        """Apply `Engine.backfill`."""
        state = await self.state(schedule_id)
        spec = ScheduleSpec.from_dict(state["spec"])
        begin, finish = parse_instant(start, "start", spec.timezone), parse_instant(end, "end", spec.timezone)
        if begin is None or finish is None or finish <= begin:
            raise ArgumentError(f"backfill of {schedule_id}: end ({end}) must be after start ({start})")
        if overlap not in ("allow_all", "buffer_all", "buffer_one", "skip"):
            raise ArgumentError(f"backfill overlap= must be 'allow_all' (max_concurrent at a time) or 'buffer_all' (one at a time), got {overlap!r}")
        if not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ArgumentError(f"max_concurrent= must be a positive int, got {max_concurrent!r}")
        times = ScheduleSpec.from_dict(state["spec"] | {"start_at": None, "end_at": None}).between(begin, finish)
        workflow_id = f"{PREFIX}{schedule_id}/backfill/{iso(begin)}..{iso(finish)}"
        report = BackfillReport(schedule_id, workflow_id, len(times))
        handle = self._resume_backfill(workflow_id)
        if handle is None:
            previous = self._writer.store.latest_run(workflow_id)
            if previous is not None and previous["status"] == "Completed":
                report.note = "already done: this range was backfilled before; nothing started again"
                return self._finish(report, WorkflowHandle(self._operations, workflow_id, previous["run_id"]), 0.0)
            request = {
                "schedule_id": schedule_id,
                "workflow": state["workflow"],
                "task_queue": state.get("task_queue"),
                "args": state["args"],
                "times": times,
                "max_concurrent": 1 if overlap != "allow_all" else max_concurrent,
                "prefix": f"{schedule_id}-backfill",
            }
            handle = await self._start(backfill_workflow, request, id=workflow_id)
        if not wait:
            return report
        started = time.perf_counter()
        bar = _extensions.hook("progress_bar")(f"backfill {schedule_id}", len(times)) if progress is True else None
        try:
            waiting = asyncio.ensure_future(handle.result())
            while not waiting.done():
                await asyncio.wait([waiting], timeout=0.25)
                done = await self._finished_firings(handle.run_id)
                if bar is not None:
                    bar.update(done)
                elif callable(progress):
                    progress(done, len(times))
        finally:
            if bar is not None:
                bar.close()
        return self._finish(report, handle, time.perf_counter() - started)

    #### Talking to a scheduler ####

    async def signal(self, schedule_id: str, message: dict[str, Any], *, wait: float = 5.0) -> None:
        """Send a control message to the schedule's scheduler run and wait (up to `wait` s) until it has applied it.

        A scheduler busy with a firing (cancel_other waiting for the other run to close) applies it later.
        """
        applied = (await self.state(schedule_id)).get("applied", 0)
        await self._operations.signal(self._scheduler(schedule_id).run_id, SIGNAL, message)
        if message["op"] == "delete":
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(WfkitError):  # between runs of a continue-as-new
                if (await self.state(schedule_id)).get("applied", 0) > applied:
                    return
            await asyncio.sleep(0.005)

    async def state(self, schedule_id: str) -> dict[str, Any]:
        """The scheduler's state (settings, cursor, recent firings)."""
        state: dict[str, Any] = await self._operations.query(self._scheduler(schedule_id).run_id, STATE_QUERY, ())
        return state

    def handle_of(self, schedule_id: str) -> WorkflowHandle:
        """A handle on the scheduler run."""
        run = self._scheduler(schedule_id)
        return WorkflowHandle(self._operations, run.workflow_id, run.run_id)

    def history(self, workflow_id: str) -> Any:
        """The latest run's history of a workflow id."""
        return self._operations.history(self._operations.resolve(workflow_id, None))

    def description(self, state: dict[str, Any]) -> ScheduleDescription:
        """A `ScheduleDescription` of a scheduler's state."""
        return describe_state(state, self._clock.now(), lambda workflow_id: workflow_id in self._ledger.by_workflow_id)

    #### The activities ####

    async def fire(self, request: dict[str, Any]) -> dict[str, Any]:
        """`wfkit.schedule.fire`: one firing under its overlap policy; says what it did."""
        workflow_id = request["workflow_id"]
        outcome: dict[str, Any] = {"scheduled_time": iso(request["scheduled_time"]), "workflow_id": workflow_id}
        if request.get("skip"):
            return outcome | {"action": "skipped", "reason": request["skip"], "workflow_id": None}
        already = self._started(workflow_id, retried=activity_info().attempt > 1)
        running = [w for w in request["running"] if w in self._ledger.by_workflow_id and w != workflow_id]
        if already is not None:  # this firing's attempt was retried after its run had started
            return outcome | {"action": "started", "run_id": already, "running": running}
        overlap = request["overlap"]
        if running and overlap != "allow_all":
            first = running[0]
            if overlap == "skip":
                return outcome | {"action": "skipped", "reason": f"{first} still running (overlap=skip)", "workflow_id": None, "running": running}
            if overlap == "buffer_one":
                if request["buffer_pending"]:
                    reason = f"{first} still running and a firing already waits for it (overlap=buffer_one)"
                    return outcome | {"action": "skipped", "reason": reason, "workflow_id": None, "running": running}
                return outcome | {"action": "buffered", "running": running}
            reason = f"schedule {request['schedule_id']}: replaced by the firing of {outcome['scheduled_time']} (overlap={overlap})"
            for other in running:
                live = self._ledger.by_workflow_id.get(other)
                if live is not None and overlap == "cancel_other":
                    await self._operations.cancel(live.run_id, reason)
                elif live is not None and overlap == "terminate_other":
                    await self._operations.terminate(live.run_id, reason)
            await self._closed(running)
        run_id = await self._start_firing(request)
        return outcome | {"action": "started", "run_id": run_id, "running": [w for w in running if w in self._ledger.by_workflow_id]}

    async def run_firing(self, request: dict[str, Any]) -> dict[str, Any]:
        """`wfkit.schedule.run`: start (or find) a backfilled firing's run and wait for it to close."""
        workflow_id = request["workflow_id"]
        run_id = self._started(workflow_id, retried=activity_info().attempt > 1) or await self._start_firing(request)
        status = await self._closed([workflow_id]) or self._stored_status(workflow_id)
        return {"scheduled_time": iso(request["scheduled_time"]), "workflow_id": workflow_id, "run_id": run_id, "status": status}

    #### Helpers ####

    def _scheduler(self, schedule_id: str) -> Any:
        run = self._ledger.by_workflow_id.get(PREFIX + schedule_id)
        if run is None:
            known = ", ".join(h.id for h in self.all()) or "none"
            raise WorkflowNotFoundError(f"no open schedule {schedule_id!r} in this engine (schedules: {known})")
        return run

    def _definition(self, workflow: WorkflowDefinition[Any, Any] | str) -> WorkflowDefinition[Any, Any]:
        name = workflow if isinstance(workflow, str) else workflow.name
        definition = self._registry.workflow(name) or default_registry.workflow(name)
        if definition is None:
            raise WorkflowNotFoundError(f"workflow {name!r} is not registered in this process (define it, or pass it to Engine.open)")
        return definition

    def _settings(self, workflow: WorkflowDefinition[Any, Any], args: list[Any], given: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
        """The state fields for these settings (over `base`'s, for an update), checked."""
        old = ScheduleSpec.from_dict(base["spec"]).to_dict() if base is not None else {}
        spec_fields: dict[str, Any] = {}
        if "cron" in given or "every" in given:
            spec_fields["cron"] = given.pop("cron", None)
            spec_fields["every"] = seconds(given.pop("every", None), "every")
        zone = given.pop("timezone", old.get("timezone", "UTC")) or "UTC"
        spec_fields["timezone"] = zone
        for name in ("start_at", "end_at"):
            if name in given:
                spec_fields[name] = parse_instant(given.pop(name), name, zone)
        if "jitter" in given:
            spec_fields["jitter"] = seconds(given.pop("jitter"), "jitter") or 0.0
        spec = ScheduleSpec.from_dict(old | spec_fields)
        overlap = given.pop("overlap", base["overlap"] if base is not None else "skip")
        if overlap not in OVERLAPS:
            raise ArgumentError(f"overlap= must be one of {', '.join(OVERLAPS)}; got {overlap!r}")
        catchup = seconds(given.pop("catchup_window", base["catchup_window"] if base is not None else DEFAULT_CATCHUP), "catchup_window")
        if catchup is None or catchup < 0:
            raise ArgumentError(f"catchup_window= must be a non-negative timedelta, got {catchup!r}")
        if given:
            raise ArgumentError(f"unknown schedule setting(s): {', '.join(sorted(given))}")
        bound = workflow.bind(tuple(args), {})
        return {
            "workflow": workflow.name,
            "task_queue": workflow.task_queue,
            "args": list(bound),
            "spec": spec.to_dict(),
            "overlap": overlap,
            "catchup_window": catchup,
        }

    def _started(self, workflow_id: str, *, retried: bool = True) -> str | None:
        """The run this firing already started: open, or (for a retried attempt, after a crash) in the file."""
        live = self._ledger.by_workflow_id.get(workflow_id)
        if live is not None:
            return live.run_id
        if not retried:  # a first attempt started nothing yet: spare the query
            return None
        previous = self._writer.store.latest_run(workflow_id)
        return str(previous["run_id"]) if previous is not None else None

    def _stored_status(self, workflow_id: str) -> str:
        latest = self._writer.store.latest_run(workflow_id)
        return str(latest["status"]) if latest is not None else "Unknown"

    async def _start_firing(self, request: dict[str, Any]) -> str:
        scheduled = (request["schedule_id"], iso(request["scheduled_time"]))
        definition = self._registry.workflow(request["workflow"]) or default_registry.workflow(request["workflow"])
        if definition is not None:
            args = definition.bind(tuple(request["args"]), {})
            run = self._lifecycle.start_requested(definition, args, self._converter, request["workflow_id"], None, "allow_duplicate", scheduled=scheduled)
        else:  # this process lacks the code (a CLI trigger): the run is recorded and waits for it, like any run
            payloads = [self._converter.to_payload(a) for a in request["args"]]
            run = self._lifecycle.start(request["workflow"], request["workflow_id"], payloads, request.get("task_queue") or "default", scheduled=scheduled)
        await self._writer.flush()
        return run.run_id

    async def _closed(self, workflow_ids: list[str]) -> str | None:
        """Wait until no run of these workflow ids is open (following continue-as-new); the last one's close status."""
        status = None
        for workflow_id in workflow_ids:
            while (live := self._ledger.by_workflow_id.get(workflow_id)) is not None:
                closing = await self._ledger.wait_closed(live.run_id)
                status = CLOSE_STATUS.get(closing.event_type)
        return status

    def _resume_backfill(self, workflow_id: str) -> WorkflowHandle | None:
        live = self._ledger.by_workflow_id.get(workflow_id)
        return None if live is None else WorkflowHandle(self._operations, workflow_id, live.run_id)

    async def _finished_firings(self, run_id: str) -> int:
        try:
            progress: dict[str, int] = await self._operations.query(run_id, PROGRESS_QUERY, ())
        except WfkitError:  # it closed meanwhile
            return 0
        return progress["done"]

    async def backfills(self, schedule_id: str) -> list[BackfillProgress]:
        """The schedule's backfills that are running, with their progress."""
        prefix = f"{PREFIX}{schedule_id}/backfill/"
        found = []
        for workflow_id, run in sorted(self._ledger.by_workflow_id.items()):
            if workflow_id.startswith(prefix) and run.workflow_type == backfill_workflow.name:
                with contextlib.suppress(WfkitError):  # not yet activated, or closing
                    progress = await self._operations.query(run.run_id, PROGRESS_QUERY, ())
                    found.append(BackfillProgress(workflow_id, progress["done"], progress["total"]))
        return found

    def _finish(self, report: BackfillReport, handle: WorkflowHandle, elapsed: float) -> BackfillReport:
        history = self._operations.history(handle.run_id)
        for event in history:
            if event.event_type.value == "ActivityTaskCompleted":
                outcome = self._converter.from_payload(event.attributes["result"], Any)
                if isinstance(outcome, dict) and "status" in outcome:
                    report.runs.append(outcome)
        report.runs.sort(key=lambda r: r["scheduled_time"])
        report.completed = sum(1 for r in report.runs if r["status"] == "Completed")
        report.failed = len(report.runs) - report.completed
        report.elapsed, report.done = elapsed, True
        return report
