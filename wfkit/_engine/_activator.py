"""The activator: runs that have news get a workflow task; the commands their code returns become events.

A workflow task is `WorkflowTaskScheduled` + `WorkflowTaskStarted`, the activation (the jobs the
code has not seen yet) run on the activation thread, then `WorkflowTaskCompleted` and one event
per command, all in the same batch, so an activation is durable wholly or not at all.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from wfkit._definitions import Registry, WorkflowDefinition
from wfkit._engine._activation import ActivationThread, _Activation
from wfkit._engine._activities import ActivityRunner
from wfkit._engine._external import ExternalRequests
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._lifecycle import RunLifecycle
from wfkit._engine._timers import Timers
from wfkit._engine._writer import Writer
from wfkit._history._commands import (
    AcceptUpdate,
    Activation,
    CancelTimer,
    CancelWorkflow,
    Command,
    CompleteUpdate,
    CompleteWorkflow,
    ContinueAsNew,
    DoUpdate,
    FailWorkflow,
    Job,
    RecordMarker,
    RejectUpdate,
    RequestCancelActivity,
    RequestCancelExternal,
    ScheduleActivity,
    SignalExternal,
    StartChildWorkflow,
    StartTimer,
    UpsertMemo,
    UpsertSearchAttributes,
)
from wfkit._history._events import Event, EventType
from wfkit._history._failure import failure_from_exception
from wfkit._history._payload import PayloadConverter
from wfkit._history._state import command_to_event, event_to_job
from wfkit._runtime._driver import instance_for_history, replay_into
from wfkit._runtime._instance import WorkflowInstance
from wfkit.errors import NondeterminismError, NondeterministicCallError

__all__ = ["Activator"]

logger = logging.getLogger("wfkit.engine")
E = EventType


class Activator:
    """Activates dirty runs in batches and turns what their code decided into events and effects."""

    def __init__(
        self,
        *,
        ledger: RunLedger,
        writer: Writer,
        timers: Timers,
        activities: ActivityRunner,
        lifecycle: RunLifecycle,
        external: ExternalRequests,
        registry: Registry,
        converter: PayloadConverter,
        deadlock_timeout: float,
    ) -> None:
        self._ledger = ledger
        self._writer = writer
        self._timers = timers
        self._activities = activities
        self._lifecycle = lifecycle
        self._external = external
        self._registry = registry
        self._converter = converter
        self.thread = ActivationThread(deadlock_timeout)

    async def activate_dirty(self) -> None:
        """Activate every dirty run: their workflow code runs on the activation thread, in one batch."""
        while True:
            runs = self._ledger.take_dirty()
            if not runs:
                return
            tasks = []
            for run in runs:
                if not self._ledger.is_live(run) or run.state.closed:
                    continue
                try:
                    task = self._prepare(run)
                except Exception as exc:  # noqa: BLE001 - a bug here must cost one run, never the engine
                    self._fail(run, exc)
                    continue
                if task is not None:
                    tasks.append(task)
            if tasks:
                await self.thread.run(tasks)
                for task in tasks:
                    self._finish(task)

    #### Instances ####

    def new_instance(self, definition: WorkflowDefinition[Any, Any], events: Sequence[Event]) -> WorkflowInstance:
        """An instance of `definition` for a run known only by its history (not replayed yet)."""
        return instance_for_history(definition, events, converter=self._converter)

    def build_instance(self, run: LiveRun) -> bool:
        """Give the run an instance of its current code, replayed up to now; False if it cannot run."""
        definition = self._registry.workflow(run.workflow_type)
        if definition is None:
            if not run.waiting_for_code:
                logger.warning("run %s (%s): workflow %r is not registered; waiting for its code", run.run_id, run.workflow_id, run.workflow_type)
            run.waiting_for_code = True
            return False
        instance = run.new_instance(definition, self._converter)
        try:
            replay_into(instance, run.events, run.run_id)
        except (NondeterminismError, NondeterministicCallError) as exc:
            self._block(run, exc)
            return False
        run.instance = instance
        self._activities.local.start(run, instance.take_local_requests())  # called before a restart, never recorded: run them
        return True

    def _block(self, run: LiveRun, exc: NondeterminismError | NondeterministicCallError, *, task_started: bool = False) -> None:
        """Fail a workflow task the run's code cannot complete; the run waits for fixed code (`on_workflow_registered`)."""
        run.blocked = str(exc)
        run.instance = None
        if not task_started:
            self._writer.record(run, E.WorkflowTaskScheduled, {})
            self._writer.record(run, E.WorkflowTaskStarted, {})
        cause = "NondeterministicCall" if isinstance(exc, NondeterministicCallError) else "Nondeterminism"
        self._writer.record(run, E.WorkflowTaskFailed, {"cause": cause, "failure": failure_from_exception(exc)})
        logger.error("%s", exc)
        warnings.warn(f"wfkit: {exc}", RuntimeWarning, stacklevel=2)

    #### One workflow task ####

    def _prepare(self, run: LiveRun) -> _Activation | None:
        if not (run.state.unactivated or run.updates or run.local_results) or run.blocked or run.waiting_for_code:
            return None
        if run.instance is None and not self.build_instance(run):
            return None
        assert run.instance is not None
        jobs: list[Job] = [job for job in map(event_to_job, run.state.unactivated) if job is not None]
        jobs += run.updates  # after the recorded jobs, where replay finds them (their acceptance follows the task)
        run.updates = []
        local_results, run.local_results = run.local_results, []
        scheduled = self._writer.record(run, E.WorkflowTaskScheduled, {})
        started = self._writer.record(run, E.WorkflowTaskStarted, {"scheduled_event_id": scheduled.event_id})
        activation = Activation(started.event_time, jobs, local_results=local_results)
        return _Activation(run, run.instance, activation, scheduled.event_id, started.event_id)

    def _finish(self, task: _Activation) -> None:
        run: LiveRun = task.run
        if not self._ledger.is_live(run) or run.state.closed or run.instance is not task.instance:
            run.local_results = task.activation.local_results + run.local_results  # a replaced instance gets them next
            return
        try:
            if task.stuck is not None or isinstance(task.error, NondeterministicCallError):
                run.local_results = task.activation.local_results + run.local_results  # owed to the task that succeeds
            if task.stuck is not None:
                self._block_stuck(run, task.stuck)
                self._reject_updates(run, task, run.blocked or "the workflow task failed")
                return
            if isinstance(task.error, NondeterministicCallError):
                self._block(run, task.error, task_started=True)
                self._reject_updates(run, task, str(task.error))
                return
            commands = task.commands if task.error is None else [FailWorkflow(failure_from_exception(task.error))]
            if task.error is not None:
                logger.error("run %s: workflow task crashed: %s", run.run_id, task.error)
            self._writer.record(run, E.WorkflowTaskCompleted, {"scheduled_event_id": task.scheduled_id, "started_event_id": task.started_id})
            for command in commands:
                if run.state.closed:
                    break
                self._apply(run, command)
            if not run.state.closed:
                self._activities.local.start(run, task.instance.take_local_requests())
        except Exception as exc:  # noqa: BLE001 - a bug here must cost one run, never the engine
            self._fail(run, exc)

    def _fail(self, run: LiveRun, exc: Exception) -> None:
        logger.exception("run %s: activation failed", run.run_id)
        if self._ledger.is_live(run) and not run.state.closed:
            self._lifecycle.close(run, E.WorkflowExecutionFailed, {"failure": failure_from_exception(exc)})

    def _block_stuck(self, run: LiveRun, where: str) -> None:
        """The workflow's code blocked its activation thread: fail the workflow task and leave the run for fixed code."""
        message = f"workflow {run.workflow_type} ({run.workflow_id}) blocked for more than {self.thread.timeout:g}s at {where}"
        message += "; workflow code must not block (use await wfkit.sleep, and do I/O in activities). Re-define the workflow to retry."
        run.blocked = message
        run.instance = None
        failure = {"type": "DeadlockDetected", "message": message, "stack": where, "non_retryable": False}
        self._writer.record(run, E.WorkflowTaskFailed, {"cause": "DeadlockDetected", "failure": failure})
        logger.error("%s", message)
        warnings.warn(f"wfkit: {message}", RuntimeWarning, stacklevel=2)

    def _apply(self, run: LiveRun, command: Command) -> None:
        event_type, attrs = command_to_event(command)
        match command:
            case ScheduleActivity(seq=seq):
                self._writer.record(run, event_type, attrs)
                self._activities.schedule(run, seq)
            case RequestCancelActivity(seq=seq):
                act = run.state.activities.get(seq)
                self._writer.record(run, event_type, attrs)
                if act is not None:
                    canceled = {"activity_id": seq, "activity_type": act.activity_type, "scheduled_event_id": act.scheduled_event_id}
                    self._writer.record(run, E.ActivityTaskCanceled, canceled)
                    self._activities.cancel(run, seq)
            case StartTimer(seq=seq, duration=duration):
                event = self._writer.record(run, event_type, attrs)
                self._writer.after_commit(run, lambda: self._timers.arm(run, seq, event.event_time + duration))
            case CancelTimer(seq=seq):
                self._writer.record(run, event_type, attrs)
                self._timers.cancel(run, seq)
            case StartChildWorkflow():
                initiated = self._writer.record(run, event_type, attrs)
                self._lifecycle.start_child(run, command, initiated)
            case SignalExternal() | RequestCancelExternal():
                self._external.initiated(run, self._writer.record(run, event_type, attrs))
            case RecordMarker() | UpsertSearchAttributes() | UpsertMemo():
                self._writer.record(run, event_type, attrs)
            case CompleteWorkflow() | FailWorkflow() | CancelWorkflow() | ContinueAsNew():
                self._lifecycle.close(run, event_type, attrs)
            case AcceptUpdate():
                self._writer.record(run, event_type, attrs)
            case CompleteUpdate(update_id=update_id, result=result, failure=failure):
                self._writer.record(run, event_type, attrs)
                outcome = ("failed", failure) if failure is not None else ("completed", result)
                self._writer.after_commit(run, lambda: self._ledger.resolve_update(run.run_id, update_id, outcome))
            case RejectUpdate(update_id=update_id, failure=failure):  # nothing recorded, as in Temporal
                self._ledger.resolve_update(run.run_id, update_id, ("rejected", failure))

    def _reject_updates(self, run: LiveRun, task: _Activation, reason: str) -> None:
        """The task that carried these update requests failed: their callers get the error instead of waiting."""
        for job in task.activation.jobs:
            if isinstance(job, DoUpdate):
                failure = {"type": "WorkflowTaskFailed", "message": reason}
                self._ledger.resolve_update(run.run_id, job.update_id, ("rejected", failure))

    def close(self) -> None:
        self.thread.close()
