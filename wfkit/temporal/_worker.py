"""Run `@wfkit.workflow` and `@wfkit.activity` code on a Temporal cluster through temporalio.

Each wfkit workflow becomes a temporalio workflow class of the same name whose `run` calls the
wfkit function with a Temporal-backed runtime in the `external_runtime` context variable, so
`wfkit.sleep`, `wfkit.now`, activity calls and the rest find Temporal instead of a wfkit loop.
The commands the code issues are the ones wfkit records (activities, timers, children, patch
markers), in the same order, so a history pulled back from Temporal replays in `wfkit.Replayer`.

Values cross as wfkit's JSON (the wfkit converter encodes, Temporal stores `json/plain`), and
`wfkit.random()` is seeded from the run id, as the importer knows, so replays draw alike.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import datetime
import inspect
import random
import time
import types
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import temporalio.activity
import temporalio.client
import temporalio.common
import temporalio.exceptions
import temporalio.worker
import temporalio.workflow as tw

from wfkit._activity import ActivityInfo, _ActivityContext, _current
from wfkit._definitions import ActivityDefinition, RetryPolicy, WorkflowDefinition
from wfkit._history._failure import failure_from_exception
from wfkit._history._payload import JSON_ENCODING, JsonConverter, PayloadConverter
from wfkit._history._properties import check_properties
from wfkit._runtime._context import WorkflowInfo, _Runtime, external_runtime
from wfkit._runtime._signals import SignalMailbox
from wfkit.errors import ActivityError, ChildWorkflowError, ExternalWorkflowError, WfkitError
from wfkit.temporal._json import seed_for_run

__all__ = ["DEFAULT_START_TO_CLOSE", "TemporalMappingError", "start", "worker"]

#: An activity without any timeout in wfkit gets this start-to-close timeout on Temporal (which needs one).
DEFAULT_START_TO_CLOSE = datetime.timedelta(days=365)

#: wfkit functions with no counterpart in temporalio's workflow API.
UNMAPPABLE = {"side_effect": "wfkit.side_effect has no counterpart in Temporal's Python SDK; compute the value in an activity instead"}


class TemporalMappingError(WfkitError):
    """Raised by `wfkit.temporal.worker` (at start, not at run time) for code that cannot run on Temporal."""


def _plain(value: Any) -> dict[str, Any]:
    return {"encoding": JSON_ENCODING, "data": value}


def _seconds(value: float | None) -> datetime.timedelta | None:
    return None if not value else datetime.timedelta(seconds=value)


def _failure_of(error: BaseException) -> dict[str, Any]:
    """A temporalio failure error as the failure dict wfkit records."""
    failure: dict[str, Any]
    if isinstance(error, temporalio.exceptions.ApplicationError):
        failure = {"type": error.type or "ApplicationError", "message": error.message, "stack": "", "non_retryable": error.non_retryable}
    elif isinstance(error, temporalio.exceptions.TimeoutError):
        failure = {"type": "TimeoutError", "message": error.message, "stack": "", "non_retryable": False}
        failure["timeout_type"] = error.type.name.title().replace("_", "") if error.type is not None else None
    elif isinstance(error, temporalio.exceptions.CancelledError):
        failure = {"type": "Canceled", "message": error.message, "stack": "", "non_retryable": True}
    elif isinstance(error, temporalio.exceptions.TerminatedError):
        failure = {"type": "Terminated", "message": error.message, "stack": "", "non_retryable": True}
    else:
        failure = failure_from_exception(error)
    stack = getattr(getattr(error, "failure", None), "stack_trace", None)
    if stack:
        failure["stack"] = str(stack)
    return failure


def _application_error(failure: dict[str, Any], *, non_retryable: bool) -> temporalio.exceptions.ApplicationError:
    """A recorded wfkit failure (with its chain of causes) as the error temporalio turns into a Temporal failure."""
    error = temporalio.exceptions.ApplicationError(str(failure.get("message", "")), type=str(failure.get("type") or "Error"), non_retryable=non_retryable)
    cause = failure.get("cause")
    if isinstance(cause, dict):
        error.__cause__ = _application_error(cause, non_retryable=bool(cause.get("non_retryable")))
    return error


def _search_attribute(name: str, value: Any) -> temporalio.common.SearchAttributeKey[Any]:
    """Temporal's typed key for a wfkit search attribute, by the type of its value (text is a Keyword)."""
    key = temporalio.common.SearchAttributeKey
    if isinstance(value, bool):
        return key.for_bool(name)
    if isinstance(value, int):
        return key.for_int(name)
    if isinstance(value, float):
        return key.for_float(name)
    if isinstance(value, list):
        return key.for_keyword_list(name)
    return key.for_keyword(name)


def typed_search_attributes(values: Mapping[str, Any]) -> temporalio.common.TypedSearchAttributes:
    """wfkit's `{name: value}` search attributes as temporalio's typed ones (they must be registered on the cluster)."""
    checked = check_properties(values, "search_attributes")
    return temporalio.common.TypedSearchAttributes([temporalio.common.SearchAttributePair(_search_attribute(k, v), v) for k, v in checked.items()])


def _external_error(what: str, workflow_id: str, error: BaseException) -> ExternalWorkflowError:
    """Temporal's failure of a signal or cancel to another workflow as the error the embedded engine raises."""
    failure = _failure_of(error)
    failure["type"] = "ExternalWorkflowExecutionNotFound"
    failure["message"] = f"workflow {workflow_id!r} is not open"  # as the embedded engine says it (Temporal's words: failure["temporal_message"])
    failure["temporal_message"] = str(getattr(error, "message", "") or error)
    return ExternalWorkflowError(f"{what} failed: {failure['message']}", failure)


class _TemporalRuntime(_Runtime):
    """wfkit's in-workflow API over temporalio's, for one run."""

    def __init__(self, definition: WorkflowDefinition[Any, Any], converter: PayloadConverter) -> None:
        self.definition = definition
        self.converter = converter
        info = tw.info()
        self.info = WorkflowInfo(
            info.workflow_id,
            info.run_id,
            definition.name,
            info.task_queue,
            info.parent.workflow_id if info.parent else None,
            info.continued_run_id,
            search_attributes={pair.key.name: pair.value for pair in info.typed_search_attributes},
            memo=dict(tw.memo()),
        )
        self._random = random.Random(seed_for_run(info.run_id))
        self._seq: dict[str, int] = collections.defaultdict(int)
        self._signals = SignalMailbox()
        self._queries: dict[str, Callable[..., Any]] = {}
        self._updates: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
        self._first_step_taken = False
        """The workflow function ran up to its first await: the update handlers it sets there are set."""

    #### Entry points (the temporalio workflow class calls these) ####

    async def run(self, args: tuple[Any, ...]) -> Any:
        hints = self.definition.param_hints()
        values = [self.converter.from_payload(_plain(a), hints[i] if i < len(hints) else Any) for i, a in enumerate(args)]
        token = external_runtime.set(self)
        asyncio.get_running_loop().call_soon(self._took_first_step)  # runs once the function first yields
        try:
            result = await self.definition.fn(*values)
        except (temporalio.exceptions.FailureError, tw.NondeterminismError, tw.ReadOnlyContextError):
            raise
        except Exception as exc:  # noqa: BLE001 - as in wfkit, any exception fails the run (temporalio would instead retry the task forever).
            error = _application_error(failure_from_exception(exc), non_retryable=True)
            raise error.with_traceback(exc.__traceback__) from error.__cause__
        finally:
            external_runtime.reset(token)
        return self.converter.to_payload(result)["data"]

    def on_signal(self, name: str, args: Sequence[temporalio.common.RawValue]) -> None:
        value = tw.payload_converter().from_payload(args[0].payload) if args else None
        self._signals.deliver(name, value)

    def on_query(self, name: str, args: Sequence[temporalio.common.RawValue]) -> Any:
        handler = self._queries.get(name)
        if handler is None:
            known = ", ".join(sorted(self._queries)) or "none"
            raise KeyError(f"workflow {self.info.workflow_id} has no query handler {name!r} (registered: {known})")
        values = [tw.payload_converter().from_payload(a.payload) for a in args]
        token = external_runtime.set(self)
        try:
            return self.converter.to_payload(handler(*values))["data"]
        finally:
            external_runtime.reset(token)

    def _took_first_step(self) -> None:
        self._first_step_taken = True

    def _update_entry(self, name: str) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
        entry = self._updates.get(name)
        if entry is None:
            known = ", ".join(sorted(self._updates)) or "none"
            raise temporalio.exceptions.ApplicationError(f"workflow {self.info.workflow_id} has no update handler {name!r} (registered: {known})")
        return entry

    def on_validate_update(self, name: str, args: Sequence[temporalio.common.RawValue]) -> None:
        if name not in self._updates and not self._first_step_taken:
            return  # the update came with the start: the handler is set once the function runs (on_update waits)
        _handler, validator = self._update_entry(name)
        if validator is not None:
            validator(*[tw.payload_converter().from_payload(a.payload) for a in args])

    async def on_update(self, name: str, args: Sequence[temporalio.common.RawValue]) -> Any:
        deferred = name not in self._updates  # on_validate_update let it through unvalidated
        await tw.wait_condition(lambda: name in self._updates or self._first_step_taken)
        handler, validator = self._update_entry(name)
        values = [tw.payload_converter().from_payload(a.payload) for a in args]
        token = external_runtime.set(self)
        try:
            if validator is not None and deferred:
                validator(*values)
            result = handler(*values)
            if inspect.isawaitable(result):
                result = await result
        except temporalio.exceptions.TemporalError:
            raise
        except Exception as exc:  # noqa: BLE001 - becomes the update's failure, as in the embedded engine
            raise _application_error(failure_from_exception(exc), non_retryable=True) from None
        finally:
            external_runtime.reset(token)
        return self.converter.to_payload(result)["data"]

    def _next_seq(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind]

    def _encode(self, args: tuple[Any, ...]) -> list[Any]:
        return [self.converter.to_payload(a)["data"] for a in args]

    #### Runtime methods (the in-workflow API), alphabetical ####

    def workflow_continue_as_new(self, args: tuple[Any, ...]) -> None:
        tw.continue_as_new(args=self._encode(args))

    async def workflow_execute_activity(self, definition: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        encoded = self._encode(args)
        self._next_seq("activity")
        start_to_close, schedule_to_close = _timeouts(options)
        try:
            result = await tw.execute_activity(
                definition.name,
                args=encoded,
                start_to_close_timeout=start_to_close,
                schedule_to_close_timeout=schedule_to_close,
                heartbeat_timeout=_seconds(options.get("heartbeat_timeout")),
                retry_policy=_retry_policy(options),
            )
        except temporalio.exceptions.ActivityError as exc:
            raise _activity_error("activity", definition.name, exc) from None
        return self.converter.from_payload(_plain(result), definition.return_hint)

    async def workflow_execute_local_activity(self, definition: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        encoded = self._encode(args)
        self._next_seq("activity")  # one sequence with activities, in wfkit's runtime as in temporalio's
        start_to_close, schedule_to_close = _timeouts(options)
        try:
            result = await tw.execute_local_activity(
                definition.name,
                args=encoded,
                start_to_close_timeout=start_to_close,
                schedule_to_close_timeout=schedule_to_close,
                retry_policy=_retry_policy(options),
            )
        except temporalio.exceptions.ActivityError as exc:
            raise _activity_error("local activity", definition.name, exc) from None
        return self.converter.from_payload(_plain(result), definition.return_hint)

    async def workflow_execute_child(self, definition: Any, args: tuple[Any, ...], workflow_id: str | None) -> Any:
        encoded = self._encode(args)
        seq = self._next_seq("child")
        child_id = workflow_id or f"{self.info.workflow_id}/{definition.name}-{seq}"
        try:
            result = await tw.execute_child_workflow(definition.name, args=encoded, id=child_id)
        except temporalio.exceptions.ChildWorkflowError as exc:
            failure = _failure_of(exc.cause) if exc.cause is not None else _failure_of(exc)
            raise ChildWorkflowError(f"child workflow {definition.name} failed: {failure.get('type', '')}: {failure.get('message', '')}", failure) from None
        return self.converter.from_payload(_plain(result), definition.return_hint)

    async def workflow_cancel_external(self, workflow_id: str, run_id: str | None) -> None:
        try:
            await tw.get_external_workflow_handle(workflow_id, run_id=run_id).cancel()
        except temporalio.exceptions.FailureError as exc:
            raise _external_error(f"cancel of workflow {workflow_id!r}", workflow_id, exc) from None

    async def workflow_signal_external(self, workflow_id: str, run_id: str | None, name: str, args: tuple[Any, ...]) -> None:
        encoded = self._encode(args)
        try:
            await tw.get_external_workflow_handle(workflow_id, run_id=run_id).signal(name, *encoded)
        except temporalio.exceptions.FailureError as exc:
            raise _external_error(f"signal {name!r} to workflow {workflow_id!r}", workflow_id, exc) from None

    def workflow_info(self) -> WorkflowInfo:
        return self.info

    def workflow_now(self) -> datetime.datetime:
        return tw.now()

    def workflow_patched(self, patch_id: str) -> bool:
        return tw.patched(patch_id)

    def workflow_random(self) -> random.Random:
        return self._random

    def workflow_set_query_handler(self, name: str, handler: Callable[..., Any]) -> None:
        self._queries[name] = handler

    def workflow_set_update_handler(self, name: str, handler: Callable[..., Any], validator: Callable[..., Any] | None) -> None:
        self._updates[name] = (handler, validator)

    def workflow_upsert(self, kind: str, values: dict[str, Any]) -> None:
        checked = check_properties(values, kind)
        if kind == "search_attributes":
            tw.upsert_search_attributes([_search_attribute(name, value).value_set(value) for name, value in checked.items()])
            self.info.search_attributes.update(checked)
        else:
            tw.upsert_memo(checked)
            self.info.memo.update(checked)

    def workflow_side_effect(self, fn: Callable[[], Any], hint: Any) -> Any:
        raise temporalio.exceptions.ApplicationError(UNMAPPABLE["side_effect"], type="TemporalMappingError", non_retryable=True)

    async def workflow_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def workflow_uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self._random.getrandbits(128), version=4)

    async def workflow_wait_signal(self, name: str, timeout: float | None) -> Any:
        return await self._signals.receive(name, timeout, asyncio.get_running_loop())

    async def workflow_wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        try:
            await tw.wait_condition(fn, timeout=timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"condition not met within {timeout:g}s") from None


class _WfkitWorkflowBase:
    """What every generated workflow class shares: signals and queries go to the wfkit runtime."""

    _definition: WorkflowDefinition[Any, Any]
    _converter: PayloadConverter

    def __init__(self) -> None:
        self._runtime = _TemporalRuntime(self._definition, self._converter)

    @tw.signal(dynamic=True)
    def signal(self, name: str, args: Sequence[temporalio.common.RawValue]) -> None:
        self._runtime.on_signal(name, args)

    @tw.query(dynamic=True)
    def query(self, name: str, args: Sequence[temporalio.common.RawValue]) -> Any:
        return self._runtime.on_query(name, args)

    @tw.update(dynamic=True)
    async def update(self, name: str, args: Sequence[temporalio.common.RawValue]) -> Any:
        return await self._runtime.on_update(name, args)

    @update.validator
    def validate_update(self, name: str, args: Sequence[temporalio.common.RawValue]) -> None:
        self._runtime.on_validate_update(name, args)


def _workflow_class(definition: WorkflowDefinition[Any, Any], converter: PayloadConverter) -> type:
    """A temporalio workflow class (named as the wfkit workflow) that runs the wfkit function."""
    class_name = f"WfkitWorkflow_{definition.name}"

    async def run(self: _WfkitWorkflowBase, *args: Any) -> Any:
        return await self._runtime.run(args)

    # temporalio wants the run method on the class itself and refuses "<locals>" in its name.
    run.__qualname__ = f"{class_name}.run"
    namespace = {
        "__module__": __name__,
        "__qualname__": class_name,
        "_definition": definition,
        "_converter": converter,
        "run": tw.run(run),
        "signal": _WfkitWorkflowBase.signal,
        "query": _WfkitWorkflowBase.query,
        "update": _WfkitWorkflowBase.update,
        "validate_update": _WfkitWorkflowBase.validate_update,
    }
    cls = type(class_name, (_WfkitWorkflowBase,), namespace)
    return tw.defn(name=definition.name, sandboxed=False)(cls)


class _ForwardingContext(_ActivityContext):
    """wfkit's activity context whose `heartbeat()` also heartbeats to Temporal."""

    def __init__(self, info: ActivityInfo, forward: Callable[[Any], None]) -> None:
        self._forward: Callable[[Any], None] | None = None
        super().__init__(info, time.monotonic)  # Temporal's server watches heartbeat timeouts, not this clock
        self._forward = forward

    @property  # type: ignore[override]
    def details(self) -> Any:
        return self.__dict__.get("_details")

    @details.setter
    def details(self, value: Any) -> None:
        self.__dict__["_details"] = value
        if self._forward is not None:
            self._forward(value)


def _activity_function(definition: ActivityDefinition[Any, Any], converter: PayloadConverter) -> Callable[..., Any]:
    """A temporalio activity (named as the wfkit activity) that runs the wfkit function."""

    async def run(*args: Any) -> Any:
        info = temporalio.activity.info()
        hints = definition.param_hints()
        values = [converter.from_payload(_plain(a), hints[i] if i < len(hints) else Any) for i, a in enumerate(args)]
        loop = asyncio.get_running_loop()
        activity_context = contextvars.copy_context()

        def forward(details: Any) -> None:
            payload = converter.to_payload(details)["data"]
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                temporalio.activity.heartbeat(payload)
            else:
                loop.call_soon_threadsafe(activity_context.run, temporalio.activity.heartbeat, payload)

        seq = int(info.activity_id) if info.activity_id.isdigit() else 0
        previous = info.heartbeat_details[0] if info.heartbeat_details else None
        run_id = info.workflow_run_id or ""
        wf_info = ActivityInfo(definition.name, seq, info.attempt, info.workflow_id or "", run_id, f"{run_id}:{info.activity_id}", previous)
        token = _current.set(_ForwardingContext(wf_info, forward))
        try:
            if definition.is_async:
                result = await definition.fn(*values)
            else:
                result = await loop.run_in_executor(None, contextvars.copy_context().run, definition.fn, *values)
        except Exception as exc:  # noqa: BLE001 - user code's failure becomes the attempt's recorded failure
            failure = failure_from_exception(exc)
            policy = info.retry_policy
            listed = set(policy.non_retryable_error_types or ()) if policy is not None else set()
            short = str(failure["type"]).rsplit(".", 1)[-1]
            non_retryable = bool(failure["non_retryable"]) or short in listed or failure["type"] in listed
            error = _application_error(failure, non_retryable=non_retryable)
            raise error.with_traceback(exc.__traceback__) from error.__cause__
        finally:
            _current.reset(token)
        return converter.to_payload(result)["data"]

    run.__name__ = run.__qualname__ = definition.name
    return temporalio.activity.defn(name=definition.name)(run)


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _timeouts(options: dict[str, Any]) -> tuple[datetime.timedelta | None, datetime.timedelta | None]:
    """An activity's (start_to_close, schedule_to_close) for temporalio, which needs one of them."""
    start_to_close = _seconds(options.get("start_to_close"))
    schedule_to_close = _seconds(options.get("schedule_to_close"))
    if start_to_close is None and schedule_to_close is None:
        start_to_close = DEFAULT_START_TO_CLOSE
    return start_to_close, schedule_to_close


def _retry_policy(options: dict[str, Any]) -> temporalio.common.RetryPolicy:
    """wfkit's recorded retry policy as temporalio's."""
    policy = RetryPolicy.from_dict(options.get("retry_policy") or {})
    return temporalio.common.RetryPolicy(
        initial_interval=datetime.timedelta(seconds=policy.initial_interval),
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=datetime.timedelta(seconds=max(policy.maximum_interval, policy.initial_interval)),
        maximum_attempts=policy.max_attempts,
        non_retryable_error_types=list(policy.non_retryable_error_types) or None,
    )


def _activity_error(kind: str, name: str, exc: temporalio.exceptions.ActivityError) -> ActivityError:
    """temporalio's activity error as the `ActivityError` wfkit code catches."""
    failure = _failure_of(exc.cause) if exc.cause is not None else _failure_of(exc)
    outcome = "timed out" if isinstance(exc.cause, temporalio.exceptions.TimeoutError) else "failed"
    return ActivityError(f"{kind} {name} {outcome}: {failure.get('type', '')}: {failure.get('message', '')}", failure)


def check_mappable(
    workflows: Iterable[Any], activities: Iterable[Any], *, check_references: bool = True
) -> tuple[list[WorkflowDefinition[Any, Any]], list[ActivityDefinition[Any, Any]]]:
    """Validate what a worker is given; raise `TemporalMappingError` for what cannot run on Temporal."""
    wfs, acts = list(workflows), list(activities)
    for item in wfs:
        if not isinstance(item, WorkflowDefinition):
            raise TemporalMappingError(f"workflows= takes @wfkit.workflow functions, got {item!r}")
    for item in acts:
        if not isinstance(item, ActivityDefinition):
            raise TemporalMappingError(f"activities= takes @wfkit.activity functions, got {item!r}")
    workflow_names = {w.name for w in wfs}
    activity_names = {a.name for a in acts}
    for definition in wfs:
        code = getattr(definition.fn, "__code__", None)
        if code is None:
            continue
        used = _names_used(code)
        for name, why in UNMAPPABLE.items():
            if name in used:
                raise TemporalMappingError(f"workflow {definition.name} uses {name}: {why}")
        if not check_references:
            continue
        globals_ = getattr(definition.fn, "__globals__", {})
        for name in sorted(used):
            target = globals_.get(name)
            if isinstance(target, ActivityDefinition) and target.name not in activity_names:
                raise TemporalMappingError(
                    f"workflow {definition.name} calls activity {target.name}, which is not in activities=[...]; "
                    "pass it (or check_references=False if another worker on this task queue runs it)"
                )
            if isinstance(target, WorkflowDefinition) and target.name not in workflow_names:
                raise TemporalMappingError(
                    f"workflow {definition.name} starts child workflow {target.name}, which is not in workflows=[...]; "
                    "pass it (or check_references=False if another worker on this task queue runs it)"
                )
    return wfs, acts


def worker(
    client: temporalio.client.Client,
    task_queue: str,
    *,
    workflows: Iterable[WorkflowDefinition[Any, Any]] = (),
    activities: Iterable[ActivityDefinition[Any, Any]] = (),
    converter: PayloadConverter | None = None,
    check_references: bool = True,
    **options: Any,
) -> temporalio.worker.Worker:
    """A temporalio `Worker` that runs wfkit workflows and activities on `task_queue`.

    Use it as temporalio's: `async with wfkit.temporal.worker(...):` or `await w.run()`.
    Activities run on the workflow's task queue (wfkit's per-activity task queues are local
    concurrency lanes; limit concurrency with temporalio's worker options instead); an activity
    with no timeout gets `DEFAULT_START_TO_CLOSE`. `options` go to `temporalio.worker.Worker`.

    Raises:
        TemporalMappingError: a workflow uses API with no Temporal counterpart (`wfkit.side_effect`),
            or calls an activity or child workflow not given here (unless `check_references=False`).
    """
    wfs, acts = check_mappable(workflows, activities, check_references=check_references)
    conv = converter or JsonConverter()
    return temporalio.worker.Worker(
        client,
        task_queue=task_queue,
        workflows=[_workflow_class(w, conv) for w in wfs],
        activities=[_activity_function(a, conv) for a in acts],
        **options,
    )


async def start(
    client: temporalio.client.Client,
    workflow: WorkflowDefinition[Any, Any],
    *args: Any,
    id: str,  # noqa: A002 - as in temporalio and Engine.start
    task_queue: str,
    converter: PayloadConverter | None = None,
    start_signal: tuple[str, Any] | None = None,
    **options: Any,
) -> temporalio.client.WorkflowHandle[Any, Any]:
    """Start a wfkit workflow on Temporal (as `engine.start` does locally); returns temporalio's handle.

    `start_signal=(name, payload)` is Temporal's signal-with-start, as in `engine.start`.

    The handle's `result()` returns the result as JSON data (decode it with the wfkit converter
    for richer types); `signal(name, value)` feeds `wfkit.wait_signal(name)`; `query(name)`
    calls a handler set with `wfkit.set_query_handler`. `options` go to `client.start_workflow`.
    """
    if not isinstance(workflow, WorkflowDefinition):
        raise TypeError(f"start() needs a @wfkit.workflow function, got {type(workflow).__name__}")
    conv = converter or JsonConverter()
    positional = workflow.bind(args, {})
    payloads = [conv.to_payload(a)["data"] for a in positional]
    if start_signal is not None:
        options = {**options, "start_signal": start_signal[0], "start_signal_args": [conv.to_payload(start_signal[1])["data"]]}
    if isinstance(options.get("search_attributes"), Mapping):  # wfkit's plain dict, as engine.start takes it
        options["search_attributes"] = typed_search_attributes(options["search_attributes"])
    if options.get("memo") is not None:
        options["memo"] = check_properties(options["memo"], "memo")
    return await client.start_workflow(workflow.name, args=payloads, id=id, task_queue=task_queue, **options)
