"""A workflow run on its own deterministic event loop.

`WorkflowInstance` *is* an `asyncio.AbstractEventLoop` (as in Temporal's Python SDK): the
engine calls `activate(activation)`, the loop runs ready callbacks until every coroutine
is blocked, and the commands the code issued come back. Time is the activation's
timestamp; timers (`asyncio.sleep`, `wfkit.sleep`, `asyncio.wait_for` timeouts) become
`StartTimer` commands; there is no I/O, no wall clock and no threads here.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import datetime
import functools
import inspect
import logging
import random
import typing
import uuid
from asyncio import format_helpers
from collections.abc import Callable
from typing import Any

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
    FireTimer,
    Job,
    RecordMarker,
    RejectUpdate,
    RequestCancelActivity,
    RequestCancelExternal,
    RequestCancelWorkflow,
    ResolveActivity,
    ResolveChild,
    ResolveExternal,
    ScheduleActivity,
    ScheduleLocalActivity,
    SignalExternal,
    SignalWorkflow,
    StartChildWorkflow,
    StartTimer,
    StartWorkflow,
    UpsertMemo,
    UpsertSearchAttributes,
)
from wfkit._history._failure import failure_from_exception
from wfkit._history._local import read_local_activity
from wfkit._history._payload import JsonConverter, Payload, PayloadConverter
from wfkit._history._properties import check_properties
from wfkit._runtime import _sandbox
from wfkit._runtime._context import ActivityCode, WorkflowCode, WorkflowInfo, _Runtime
from wfkit._runtime._signals import SignalMailbox
from wfkit.errors import ActivityError, ChildWorkflowError, ExternalWorkflowError, NondeterministicCallError, PayloadError, QueryNotFoundError, WfkitError

__all__ = ["ContinueAsNewRequest", "WorkflowInstance"]

logger = logging.getLogger("wfkit.workflow")

_get_running_loop, _set_running_loop = asyncio.events._get_running_loop, asyncio.events._set_running_loop
_SANDBOXED, _get_ident = _sandbox.ACTIVE, _sandbox._get_ident


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).isoformat(timespec="milliseconds")


class ContinueAsNewRequest(BaseException):
    """Raised by `wfkit.continue_as_new`; a BaseException so `except Exception` cannot swallow it."""

    def __init__(self, args: tuple[Any, ...]) -> None:
        super().__init__()
        self.args_ = args


class _Handle(asyncio.Handle):
    """An `asyncio.Handle` built without asyncio's debug check (the workflow loop is never in debug mode).

    Every resolved activity, timer and task step goes through one, so its construction is on the
    hot path of each activation.
    """

    __slots__ = ()

    def __init__(self, callback: Callable[..., Any], args: tuple[Any, ...], loop: WorkflowInstance, context: contextvars.Context | None) -> None:
        self._context = contextvars.copy_context() if context is None else context
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


# _Handle fills asyncio.Handle's slots itself; on a Python whose Handle has other slots, use Handle as is.
_HANDLE = (
    _Handle
    if set(asyncio.Handle.__slots__) == {"_callback", "_args", "_cancelled", "_loop", "_source_traceback", "_repr", "__weakref__", "_context"}
    else asyncio.Handle
)


class _TimerHandle(asyncio.TimerHandle):
    def __init__(
        self, seq: int, when: float, callback: Callable[..., Any], args: tuple[Any, ...], loop: WorkflowInstance, context: contextvars.Context | None
    ) -> None:
        super().__init__(when, callback, args, loop, context=context)
        self.seq = seq


class _PendingCall:
    """An activity or child workflow awaiting its result."""

    __slots__ = ("future", "hint", "name", "source")

    def __init__(self, future: asyncio.Future[Any], hint: Any, name: str, source: str) -> None:
        self.future = future
        self.hint = hint
        self.name = name
        self.source = source
        """How `received` names what it delivers: "activity:<name>" or "child:<name>"."""


def _job_order(job: Job) -> int:
    """Jobs apply in this order within one activation: start, then signals, then the rest."""
    return 0 if isinstance(job, StartWorkflow) else 1 if isinstance(job, SignalWorkflow) else 2


def _param_hints(fn: Callable[..., Any]) -> list[Any]:
    """Type hints of a handler's positional parameters (Any where missing or unresolvable)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - a forward reference that does not resolve: decode without hints
        hints = {}
    return [hints.get(p.name, Any) for p in inspect.signature(fn).parameters.values()]


@functools.lru_cache(maxsize=4096)
def _source(kind: str, name: str) -> str:
    return f"{kind}:{name}"


class WorkflowInstance(asyncio.AbstractEventLoop, _Runtime):
    """One workflow run's deterministic loop. `activate` never raises for workflow-code errors."""

    def __init__(
        self,
        definition: WorkflowCode,
        info: WorkflowInfo,
        *,
        seed: int,
        converter: PayloadConverter | None = None,
    ) -> None:
        self.definition = definition
        self.info = info
        self.converter: PayloadConverter = converter or JsonConverter()
        self._random = random.Random(seed)
        self._time = 0.0
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._commands: list[Command] = []
        self._seq: dict[str, int] = collections.defaultdict(int)
        self._activities: dict[int, _PendingCall] = {}
        self._local: dict[int, tuple[_PendingCall, ScheduleLocalActivity]] = {}
        """Local activities awaiting their outcome, by seq (shared with activities, as in Temporal's SDKs)."""
        self._local_requested: list[ScheduleLocalActivity] = []
        """Local activities called since the engine last took them (`take_local_requests`)."""
        self._local_results: list[dict[str, Any]] = []
        """This activation's local activity markers not matched to a call yet."""
        self._children: dict[int, _PendingCall] = {}
        self._externals: dict[int, _PendingCall] = {}
        """Signals and cancel requests sent to other workflows, awaiting delivery."""
        self._timers: dict[int, _TimerHandle] = {}
        self._signals = SignalMailbox()
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        """`wait_condition` predicates, checked whenever the workflow has nothing else ready to run."""
        self._query_handlers: dict[str, Callable[..., Any]] = {}
        self._update_handlers: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
        self._patches: dict[str, bool] = {}
        self._markers: list[dict[str, Any]] = []
        self._replaying = False
        self._main: asyncio.Task[Any] | None = None
        self._closed_command: Command | None = None
        self._cancel_requested = False
        self._closed = False
        self._sandboxed = not getattr(definition, "allow_nondeterministic_calls", False)
        self._violation: NondeterministicCallError | None = None
        self.received: list[tuple[str, Any]] = []
        """Values the workflow received so far, as (source, value): activity results, signals, children."""

    #### Engine-facing API ####

    @property
    def done(self) -> bool:
        """True once the workflow returned, failed, was cancelled or continued as new."""
        return self._closed_command is not None

    @property
    def main_task(self) -> asyncio.Task[Any] | None:
        """The task running the workflow function."""
        return self._main

    def activate(self, activation: Activation) -> list[Command]:
        """Apply the activation's jobs, run until every coroutine is blocked, return the commands issued.

        Raises:
            NondeterministicCallError: the workflow code called the clock, global randomness or did
                I/O directly (see `wfkit._runtime._sandbox`); the workflow task failed, and this
                instance must be dropped (the code saw an exception the replayed run will not).
        """
        # Every workflow task of every run (and every replayed one) comes through here: keep it lean.
        if not self._sandboxed:
            return self._activate(activation)
        ident = _get_ident()
        outer = _SANDBOXED.get(ident)
        _SANDBOXED[ident] = self
        try:
            commands = self._activate(activation)
        finally:
            if outer is None:
                del _SANDBOXED[ident]
            else:
                _SANDBOXED[ident] = outer
        if self._violation is not None:
            raise self._violation
        return commands

    def _activate(self, activation: Activation) -> list[Command]:
        self._time = activation.timestamp
        self._replaying = activation.replaying
        self._markers = activation.recorded_markers  # read, never changed
        self._commands = []
        if activation.local_results:
            self._local_results = list(activation.local_results)
            self._resolve_local_activities()  # before the jobs, where the engine delivered them live
        jobs = activation.jobs
        if len(jobs) > 1:
            jobs = sorted(jobs, key=_job_order)
        for job in jobs:
            if self._closed_command is not None:
                break
            if isinstance(job, ResolveActivity):  # the common job first
                self._apply_resolve_activity(job)
            elif isinstance(job, FireTimer):
                self._apply_fire_timer(job.seq)
            elif isinstance(job, StartWorkflow):
                self._apply_start_workflow(job.args)
            elif isinstance(job, SignalWorkflow):
                self._apply_signal_workflow(job.name, job.payload)
            elif isinstance(job, ResolveChild):
                self._apply_resolve_child(job)
            elif isinstance(job, RequestCancelWorkflow):
                self._apply_request_cancel_workflow()
            elif isinstance(job, ResolveExternal):
                self._apply_resolve_external(job)
            elif isinstance(job, DoUpdate):
                self._run_until_blocked()  # a handler set by code the earlier jobs woke (update-with-start) is there now
                self._apply_do_update(job)
        self._run_until_blocked()
        # A recorded marker of a local activity the code called in this very task (Temporal runs short
        # ones within the task that calls them): resolve it, and let the code go on, as Temporal's SDKs do.
        while self._local_results and self._resolve_local_activities():
            self._run_until_blocked()
        self._local_results = []
        commands, self._commands = self._commands, []
        return commands

    def take_local_requests(self) -> list[ScheduleLocalActivity]:
        """The local activities called and not resolved yet that the engine has not taken: it runs them now."""
        requested, self._local_requested = self._local_requested, []
        return [request for request in requested if request.seq in self._local]

    def query(self, name: str, args: tuple[Any, ...]) -> Any:
        """Answer a query from the current state; the handler must not issue commands."""
        handler = self._query_handlers.get(name)
        if handler is None:
            known = ", ".join(sorted(self._query_handlers)) or "none"
            raise QueryNotFoundError(f"workflow {self.info.workflow_id} has no query handler {name!r} (registered: {known})")
        return self._call_read_only(handler, list(args), f"query handler {name!r}")

    def _call_read_only(self, fn: Callable[..., Any], args: list[Any], what: str) -> Any:
        """Call a query handler or update validator: on this loop, and refused if it issues a command."""
        before = len(self._commands)
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        try:
            result = fn(*args)
        finally:
            asyncio.events._set_running_loop(previous)
        if len(self._commands) != before:
            del self._commands[before:]
            raise WfkitError(f"{what} tried to change the workflow (it must only read state)")
        return result

    def pending_work(self) -> list[tuple[str, int | str, str]]:
        """What the workflow waits for, as (kind, id, description): activities, timers, children, signals."""
        work: list[tuple[str, int | str, str]] = []
        work += [("activity", seq, p.name) for seq, p in self._activities.items() if not p.future.done()]
        work += [("local activity", seq, p.name) for seq, (p, _) in self._local.items() if not p.future.done()]
        work += [("timer", seq, f"fires at {_iso(h.when())}") for seq, h in self._timers.items() if not h.cancelled()]
        work += [("child", seq, p.name) for seq, p in self._children.items() if not p.future.done()]
        work += [("external", seq, p.name) for seq, p in self._externals.items() if not p.future.done()]
        work += [("signal", name, f"waiting for signal {name!r}") for name, waiters in self._signals.waiters.items() if any(not w.done() for w in waiters)]
        return work

    def sandbox_violation(self, call: str, replacement: str, where: str) -> NondeterministicCallError:
        """The error for a nondeterministic call the workflow code made; the first one fails this activation."""
        error = NondeterministicCallError(call, replacement, workflow=self.definition.name, workflow_id=self.info.workflow_id, where=where)
        if self._violation is None:
            self._violation = error
        return error

    def describe_awaited(self, future: object) -> str | None:
        """What a future the workflow awaits stands for ("activity extract #2", "timer #1", ...), if it is one of ours."""
        for seq, pending in self._activities.items():
            if pending.future is future:
                return f"activity {pending.name} #{seq}"
        for seq, pending in self._children.items():
            if pending.future is future:
                return f"child workflow {pending.name} #{seq}"
        for seq, pending in self._externals.items():
            if pending.future is future:
                return f"{pending.name} #{seq}"
        for seq, (pending, _) in self._local.items():
            if pending.future is future:
                return f"local activity {pending.name} #{seq}"
        for seq, handle in self._timers.items():
            if future in handle._args:
                return f"timer #{seq} (fires at {_iso(handle.when())})"
        for name, waiters in self._signals.waiters.items():
            if future in waiters:
                return f"signal {name!r}"
        return None

    #### Activation functions, alphabetical ####

    def check_update(self, name: str, args: list[Payload]) -> dict[str, Any] | None:
        """Why an update would be rejected now (no handler; its validator raised), as a failure; None if it would pass.

        The engine asks before delivering an update, so a rejection leaves no trace in history; the
        workflow task that delivers an update checks again (its state may have moved on meanwhile).
        """
        try:
            self._validated_args(name, args)
        except Exception as exc:  # noqa: BLE001 - the validator's error is the caller's rejection
            return failure_from_exception(exc)
        return None

    def _validated_args(self, name: str, args: list[Payload]) -> list[Any]:
        entry = self._update_handlers.get(name)
        if entry is None:
            known = ", ".join(sorted(self._update_handlers)) or "none"
            raise WfkitError(f"workflow {self.info.workflow_id} has no update handler {name!r} (registered: {known})")
        handler, validator = entry
        hints = _param_hints(handler)
        values = [self._decode(p, hints[i] if i < len(hints) else Any) for i, p in enumerate(args)]
        if validator is not None and not self._replaying:  # as Temporal: validators do not run on replay
            self._call_read_only(validator, values, f"update validator {name!r}")
        return values

    def _apply_do_update(self, job: DoUpdate) -> None:
        try:
            values = self._validated_args(job.name, job.args)
        except Exception as exc:  # noqa: BLE001 - the validator's error is the caller's rejection
            self._command(RejectUpdate(job.update_id, failure_from_exception(exc)))
            return
        handler = self._update_handlers[job.name][0]
        self._command(AcceptUpdate(job.update_id, job.name, job.args))
        self.received.append((f"update:{job.name}", values))
        self.create_task(self._run_update(job.update_id, handler, values), name=f"update {job.name} ({job.update_id})")

    async def _run_update(self, update_id: str, handler: Callable[..., Any], values: list[Any]) -> None:
        try:
            result = handler(*values)
            if inspect.isawaitable(result):
                result = await result
            payload = self.converter.to_payload(result)
        except Exception as exc:  # noqa: BLE001 - the handler's error is the update's failure, not the workflow's
            self._command(CompleteUpdate(update_id, failure=failure_from_exception(exc)))
            return
        self._command(CompleteUpdate(update_id, result=payload))

    def _apply_fire_timer(self, seq: int) -> None:
        handle = self._timers.pop(seq, None)
        if handle is not None and not handle.cancelled():
            self._ready.append(handle)

    def _apply_request_cancel_workflow(self) -> None:
        self._cancel_requested = True
        if self._main is not None and not self._main.done():
            self._main.cancel()

    def _apply_resolve_activity(self, job: ResolveActivity) -> None:
        pending = self._activities.pop(job.seq, None)
        if pending is None or pending.future.done():
            return
        if job.outcome == "completed":
            self._resolve(pending, job.result)
        else:
            failure = job.failure or {}
            message = f"activity {pending.name} {job.outcome.replace('_', ' ')}: {failure.get('type', '')}: {failure.get('message', '')}"
            pending.future.set_exception(ActivityError(message, failure))

    def _resolve_local_activities(self) -> bool:
        """Resolve the calls waiting for one of `_local_results`' markers; True if any was."""
        progressed = False
        for attrs in list(self._local_results):
            marker = read_local_activity(attrs)
            if marker is None:
                continue
            seq = marker.seq if marker.seq in self._local else None
            if marker.seq is None and marker.activity_type is not None:
                # An SDK's marker without a sequence number (Java): the earliest call of that type.
                seq = next((s for s, (_, request) in sorted(self._local.items()) if request.activity_type == marker.activity_type), None)
            if seq is None:
                continue
            self._local_results.remove(attrs)
            pending, request = self._local.pop(seq)
            details = {k: v for k, v in attrs.items() if k != "marker_name"}
            if "activity_type" in details:  # the code's own call, so that replay notices another activity at this point
                details["activity_type"] = request.activity_type
            self._command(RecordMarker(str(attrs["marker_name"]), details))  # the SDK's own marker name, on replay
            progressed = True
            if pending.future.done():
                continue
            if marker.failure is None:
                self._resolve(pending, marker.result)
            else:
                failure = marker.failure
                message = f"local activity {pending.name} failed: {failure.get('type', '')}: {failure.get('message', '')}"
                pending.future.set_exception(ActivityError(message, failure))
        return progressed

    def _apply_resolve_child(self, job: ResolveChild) -> None:
        pending = self._children.pop(job.seq, None)
        if pending is None or pending.future.done():
            return
        if job.outcome == "completed":
            self._resolve(pending, job.result)
        else:
            failure = job.failure or {}
            message = f"child workflow {pending.name} {job.outcome}: {failure.get('type', '')}: {failure.get('message', '')}"
            pending.future.set_exception(ChildWorkflowError(message, failure))

    def _apply_resolve_external(self, job: ResolveExternal) -> None:
        pending = self._externals.pop(job.seq, None)
        if pending is None or pending.future.done():
            return
        if job.outcome == "completed":
            pending.future.set_result(None)
        else:
            failure = job.failure or {}
            pending.future.set_exception(ExternalWorkflowError(f"{pending.name} failed: {failure.get('message', '')}", failure))

    def _apply_signal_workflow(self, name: str, payload: Payload | None) -> None:
        value = None if payload is None else self._decode(payload, Any)
        self.received.append((f"signal:{name}", value))
        self._signals.deliver(name, value)

    def _apply_start_workflow(self, args: list[Payload]) -> None:
        hints = self.definition.param_hints()
        try:
            values = [self._decode(p, hints[i] if i < len(hints) else Any) for i, p in enumerate(args)]
        except PayloadError as exc:
            self._close(FailWorkflow(failure_from_exception(exc)))
            return
        self._main = self.create_task(self.definition.fn(*values), name=f"workflow {self.definition.name}")
        self._main.add_done_callback(self._on_main_done)

    #### Runtime methods (the in-workflow API), alphabetical ####

    def workflow_continue_as_new(self, args: tuple[Any, ...]) -> None:
        raise ContinueAsNewRequest(args)

    async def workflow_execute_activity(self, definition: ActivityCode, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        name = definition.name
        payloads = self._encode_args(args, "activity", name)
        self._seq["activity"] = seq = self._seq["activity"] + 1
        future: asyncio.Future[Any] = asyncio.Future(loop=self)
        self._activities[seq] = _PendingCall(future, definition.return_hint, name, _source("activity", name))
        if self._closed_command is None:  # what _command checks
            self._commands.append(ScheduleActivity(seq, name, payloads, options))
        try:
            return await future
        except asyncio.CancelledError:
            if self._activities.pop(seq, None) is not None:
                self._command(RequestCancelActivity(seq))
            raise

    async def workflow_execute_local_activity(self, definition: ActivityCode, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        name = definition.name
        payloads = self._encode_args(args, "local activity", name)
        seq = self._next_seq("activity")  # one sequence with activities, as Temporal's SDKs number them
        future: asyncio.Future[Any] = asyncio.Future(loop=self)
        request = ScheduleLocalActivity(seq, name, payloads, options)
        self._local[seq] = (_PendingCall(future, definition.return_hint, name, _source("local_activity", name)), request)
        if self._closed_command is None:
            self._local_requested.append(request)
        try:
            return await future
        except asyncio.CancelledError:
            self._local.pop(seq, None)  # its outcome, when the engine has it, resolves nothing and is not recorded
            raise

    async def workflow_execute_child(self, definition: WorkflowCode, args: tuple[Any, ...], workflow_id: str | None) -> Any:
        payloads = self._encode_args(args, "child workflow", definition.name)
        seq = self._next_seq("child")
        child_id = workflow_id or f"{self.info.workflow_id}/{definition.name}-{seq}"
        future: asyncio.Future[Any] = self.create_future()
        self._children[seq] = _PendingCall(future, definition.return_hint, definition.name, _source("child", definition.name))
        self._command(StartChildWorkflow(seq, definition.name, child_id, payloads, definition.task_queue))
        return await future

    async def workflow_cancel_external(self, workflow_id: str, run_id: str | None) -> None:
        seq = self._next_seq("external")
        await self._external(seq, RequestCancelExternal(seq, workflow_id, run_id), f"cancel of workflow {workflow_id!r}")

    async def workflow_signal_external(self, workflow_id: str, run_id: str | None, name: str, args: tuple[Any, ...]) -> None:
        payloads = self._encode_args(args, "signal", repr(name))
        seq = self._next_seq("external")
        await self._external(seq, SignalExternal(seq, workflow_id, run_id, name, payloads), f"signal {name!r} to workflow {workflow_id!r}")

    async def _external(self, seq: int, command: Command, name: str) -> None:
        """Issue a signal or cancel request to another workflow and wait until it is delivered (or fails)."""
        future: asyncio.Future[None] = self.create_future()
        self._externals[seq] = _PendingCall(future, None, name, _source("external", name))
        self._command(command)
        try:
            await future
        except asyncio.CancelledError:
            self._externals.pop(seq, None)  # the request is on its way regardless: only the wait is cancelled
            raise

    def workflow_info(self) -> WorkflowInfo:
        return self.info

    def workflow_now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self._time, tz=datetime.timezone.utc)

    def workflow_patched(self, patch_id: str) -> bool:
        if patch_id in self._patches:
            return self._patches[patch_id]
        # Live code takes the new branch; replay takes it only if the original run did.
        present = not self._replaying or any(m.get("marker_name") == "patch" and m.get("patch_id") == patch_id for m in self._markers)
        if present:
            self._command(RecordMarker("patch", {"patch_id": patch_id}))
        self._patches[patch_id] = present
        return present

    def workflow_random(self) -> random.Random:
        return self._random

    def workflow_set_query_handler(self, name: str, handler: Callable[..., Any]) -> None:
        self._query_handlers[name] = handler

    def workflow_upsert(self, kind: str, values: dict[str, Any]) -> None:
        checked = check_properties(values, kind)
        if kind == "search_attributes":
            self.info.search_attributes.update(checked)
            self._command(UpsertSearchAttributes(checked))
        else:
            self.info.memo.update(checked)
            self._command(UpsertMemo(checked))

    def workflow_set_update_handler(self, name: str, handler: Callable[..., Any], validator: Callable[..., Any] | None) -> None:
        self._update_handlers[name] = (handler, validator)

    def workflow_side_effect(self, fn: Callable[[], Any], hint: Any) -> Any:
        seq = self._next_seq("side_effect")
        if self._replaying:
            for marker in self._markers:
                if marker.get("marker_name") == "side_effect" and marker.get("seq") == seq:
                    payload = marker["value"]
                    break
            else:
                payload = self.converter.to_payload(self._run_side_effect(fn))
        else:
            payload = self.converter.to_payload(self._run_side_effect(fn))
        self._command(RecordMarker("side_effect", {"seq": seq, "value": payload}))
        # Decode even when live, so the code sees the same value it will see on replay.
        return self._decode(payload, hint)

    async def workflow_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def workflow_uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self._random.getrandbits(128), version=4)

    async def workflow_wait_signal(self, name: str, timeout: float | None) -> Any:
        return await self._signals.receive(name, timeout, self)

    async def workflow_wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        if fn():
            return
        waiter: asyncio.Future[None] = self.create_future()
        self._conditions.append((fn, waiter))
        try:
            if timeout is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, timeout)  # a durable timer, as every timeout here
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout:g}s") from None
        finally:
            self._conditions = [(f, w) for f, w in self._conditions if w is not waiter]

    #### Internals ####

    def _check_conditions(self) -> bool:
        """Wake the `wait_condition` waiters whose predicate now holds (in the order they waited); True if any woke.

        Predicates run only here, when nothing else is ready, so replay checks them at the same points.
        """
        woke = False
        for fn, waiter in list(self._conditions):
            if waiter.done():
                continue
            try:
                met = fn()
            except Exception as exc:  # noqa: BLE001 - the predicate's error goes to the workflow code that waits
                waiter.set_exception(exc)
                woke = True
                continue
            if met:
                waiter.set_result(None)
                woke = True
        return woke

    @staticmethod
    def _run_side_effect(fn: Callable[[], Any]) -> Any:
        # A side effect is recorded once and replayed from history: it may read the clock or draw randomness.
        guarded = _sandbox.suspend()
        try:
            return fn()
        finally:
            _sandbox.resume(guarded)

    def _close(self, command: Command) -> None:
        if self._closed_command is None:
            self._closed_command = command
            self._command(command)

    def _command(self, command: Command) -> None:
        if self._closed_command is not None and command is not self._closed_command:
            return
        self._commands.append(command)

    def _decode(self, payload: Payload, hint: Any) -> Any:
        return self.converter.from_payload(payload, hint)

    def _encode_args(self, args: tuple[Any, ...], kind: str, name: str) -> list[Payload]:
        """The payloads of a call's arguments; a `PayloadError` names the call ("<kind> <name>") and the argument."""
        to_payload = self.converter.to_payload
        payloads = []
        for index, arg in enumerate(args, start=1):
            try:
                payloads.append(to_payload(arg))
            except PayloadError as exc:
                raise PayloadError(f"{kind} {name}: argument {index}: {exc}") from None
        return payloads

    def _next_seq(self, kind: str) -> int:
        self._seq[kind] = seq = self._seq[kind] + 1
        return seq

    def _on_main_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._close(CancelWorkflow("cancelled"))
            return
        exc = task.exception()
        if exc is None:
            try:
                self._close(CompleteWorkflow(self.converter.to_payload(task.result())))
            except PayloadError as err:
                self._close(FailWorkflow(failure_from_exception(PayloadError(f"workflow {self.definition.name} result: {err}"))))
        elif isinstance(exc, ContinueAsNewRequest):
            try:
                self._close(ContinueAsNew(self._encode_args(exc.args_, "continue_as_new of", self.definition.name)))
            except PayloadError as err:
                self._close(FailWorkflow(failure_from_exception(err)))
        elif isinstance(exc, asyncio.CancelledError) and self._cancel_requested:
            self._close(CancelWorkflow("cancelled"))
        else:
            self._close(FailWorkflow(failure_from_exception(exc)))

    def _resolve(self, pending: _PendingCall, payload: Payload | None) -> None:
        try:
            value = None if payload is None else self.converter.from_payload(payload, pending.hint)
        except PayloadError as exc:
            pending.future.set_exception(exc)
            return
        self.received.append((pending.source, value))
        pending.future.set_result(value)

    def _run_until_blocked(self) -> None:
        previous = _get_running_loop()
        _set_running_loop(self)
        ready = self._ready
        try:
            while True:
                while ready:
                    handle = ready.popleft()
                    if handle._cancelled:
                        continue
                    # What Handle._run does, without its extra call per callback.
                    try:
                        handle._context.run(handle._callback, *handle._args)  # type: ignore[attr-defined]
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:  # noqa: BLE001 - reported like asyncio reports a failing callback
                        self._callback_failed(handle, exc)
                if not self._conditions or not self._check_conditions():
                    break
        finally:
            _set_running_loop(previous)

    def _callback_failed(self, handle: asyncio.Handle, exc: BaseException) -> None:
        context: dict[str, Any] = {
            "message": f"Exception in callback {format_helpers._format_callback_source(handle._callback, handle._args)}",  # type: ignore[attr-defined]
            "exception": exc,
            "handle": handle,
        }
        if handle._source_traceback:  # type: ignore[attr-defined]
            context["source_traceback"] = handle._source_traceback  # type: ignore[attr-defined]
        self.call_exception_handler(context)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        assert isinstance(handle, _TimerHandle)
        if self._timers.pop(handle.seq, None) is not None:
            self._command(CancelTimer(handle.seq))

    #### asyncio.AbstractEventLoop: what asyncio needs, nothing more ####

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> asyncio.Handle:  # type: ignore[override]
        handle = _HANDLE(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> asyncio.TimerHandle:  # type: ignore[override]
        if delay < 0:
            delay = 0.0
        seq = self._next_seq("timer")
        handle = _TimerHandle(seq, self._time + delay, callback, args, self, context)
        self._timers[seq] = handle
        self._command(StartTimer(seq, float(delay)))
        return handle

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> asyncio.TimerHandle:  # type: ignore[override]
        # Only relative to time(): Python's asyncio.timeout() schedules through call_at.
        return self.call_later(when - self._time, callback, *args, context=context)

    def time(self) -> float:
        return self._time

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: str | None = None, context: contextvars.Context | None = None) -> asyncio.Task[Any]:
        # Numbered per run (asyncio's own "Task-N" counter is process-wide), so replays name tasks alike.
        name = name or f"task-{self._next_seq('task')}"
        if context is None:
            return asyncio.Task(coro, loop=self, name=name)
        # Task(context=...) is Python 3.11+; a Task copies the context it is created in.
        return context.run(asyncio.Task, coro, loop=self, name=name)

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return asyncio.events._get_running_loop() is self

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def get_exception_handler(self) -> None:
        return None

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        logger.debug("workflow %s: %s", self.info.workflow_id, context.get("message"))

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.default_exception_handler(context)

    def get_task_factory(self) -> None:
        return None

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> asyncio.Handle:  # type: ignore[override]
        raise RuntimeError("threads are not allowed in workflow code; do threaded work in an activity")

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        raise RuntimeError("run_in_executor is not allowed in workflow code; do blocking work in an activity")

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self.definition.name} {self.info.workflow_id}/{self.info.run_id}>"
