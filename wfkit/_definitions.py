"""`@wfkit.workflow`, `@wfkit.activity`, retry policies and the registry that finds code by name."""

from __future__ import annotations

import dataclasses
import inspect
import threading
import typing
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from wfkit._runtime._context import _Runtime
from wfkit.errors import ArgumentError, ConfigurationError, DefinitionError

__all__ = [
    "ActivityDefinition",
    "Registry",
    "RetryPolicy",
    "WorkflowDefinition",
    "activity",
    "default_registry",
    "workflow",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed activity attempt is retried.

    The delay before attempt n+1 is `initial_interval * backoff_coefficient ** (n-1)`,
    capped at `maximum_interval`.
    """

    max_attempts: int = 3
    """Attempts in all, the first included; 0 means no limit."""
    initial_interval: float = 1.0
    """Seconds before the first retry."""
    backoff_coefficient: float = 2.0
    """Factor applied to the delay after each retry."""
    maximum_interval: float = 100.0
    """Largest delay between attempts, in seconds."""
    non_retryable_error_types: tuple[str, ...] = ()
    """Exception type names (`ValueError` or `mymod.MyError`) that are never retried."""

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ConfigurationError(f"RetryPolicy.max_attempts must be >= 0, got {self.max_attempts}")
        if self.initial_interval < 0 or self.maximum_interval < 0:
            raise ConfigurationError(
                f"RetryPolicy intervals must be >= 0, got initial_interval={self.initial_interval}, maximum_interval={self.maximum_interval}"
            )
        if self.backoff_coefficient < 1:
            raise ConfigurationError(f"RetryPolicy.backoff_coefficient must be >= 1, got {self.backoff_coefficient}")
        object.__setattr__(self, "non_retryable_error_types", tuple(self.non_retryable_error_types))

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.initial_interval * self.backoff_coefficient ** (attempt - 1), self.maximum_interval))

    def to_dict(self) -> dict[str, Any]:
        """As stored in history."""
        return {**dataclasses.asdict(self), "non_retryable_error_types": list(self.non_retryable_error_types)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryPolicy:
        """Read back from history."""
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}})


def _signature_hints(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: decode without hints
        hints = {}
    return inspect.signature(fn), hints


@dataclass(eq=False)
class _Definition(Generic[P, R]):
    fn: Callable[P, R]
    name: str
    signature: inspect.Signature = field(init=False, repr=False)
    hints: dict[str, Any] = field(init=False, repr=False)
    _plain_arity: int = field(init=False, repr=False)
    _param_hints: list[Any] = field(init=False, repr=False)
    _return_hint: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.signature, self.hints = _signature_hints(self.fn)
        self.__doc__ = self.fn.__doc__
        self.__wrapped__ = self.fn
        params = self.signature.parameters.values()
        self._plain_arity = len(self.signature.parameters) if all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) else -1
        self._param_hints = [self.hints.get(p.name, Any) for p in params]
        hint = self.hints.get("return", Any)
        # Read for every result the workflow receives, so worked out once.
        self._return_hint = typing.get_args(hint)[-1] if typing.get_origin(hint) in (Awaitable, typing.Coroutine) else hint

    @property
    def return_hint(self) -> Any:
        """The return annotation (Any when missing; `T` for an annotation of `Awaitable[T]` or `Coroutine[..., T]`)."""
        return self._return_hint

    def param_hints(self) -> list[Any]:
        """Type hints of the positional parameters, in order."""
        return self._param_hints

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Check the call against the signature and return positional arguments."""
        if not kwargs and len(args) == self._plain_arity:
            return args  # the common case, without inspect's cost on the hot path
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ArgumentError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        if bound.kwargs:
            raise ArgumentError(f"{self.name}(): keyword-only parameters are not supported ({', '.join(bound.kwargs)})")
        return tuple(bound.args)


@dataclass(eq=False)
class ActivityDefinition(_Definition[P, R]):
    """A registered activity. Calling it inside a workflow schedules it; outside, it just runs."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    start_to_close: float | None = None
    schedule_to_close: float | None = None
    heartbeat_timeout: float | None = None
    task_queue: str | None = None

    @property
    def is_async(self) -> bool:
        """True for `async def` activities (run on the engine loop, not in a thread)."""
        return inspect.iscoroutinefunction(self.fn)

    def options(self, **overrides: Any) -> dict[str, Any]:
        """The scheduling options recorded with `ActivityTaskScheduled` (a fresh dict each call)."""
        if not overrides:
            # The common call: compute once per definition; the runtime copies it into each command.
            cached = self.__dict__.get("_cached_options")
            if cached is None:
                cached = self.__dict__["_cached_options"] = self._options({})
            return cached.copy()
        return self._options(overrides)

    def _options(self, overrides: dict[str, Any]) -> dict[str, Any]:
        retry = overrides.get("retry") or self.retry
        opts = {
            "task_queue": overrides.get("task_queue", self.task_queue),
            "retry_policy": retry.to_dict(),
            "start_to_close": overrides.get("start_to_close", self.start_to_close),
            "schedule_to_close": overrides.get("schedule_to_close", self.schedule_to_close),
            "heartbeat_timeout": overrides.get("heartbeat_timeout", self.heartbeat_timeout),
        }
        return opts

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        runtime = _Runtime.maybe_current()
        if runtime is None:
            return self.fn(*args, **kwargs)
        # Every activity call of every workflow: the plain call skips bind() and options()'s checks.
        positional = args if not kwargs and len(args) == self._plain_arity else self.bind(args, kwargs)
        options = self.__dict__.get("_cached_options")
        return runtime.workflow_execute_activity(self, positional, options.copy() if options is not None else self.options())  # type: ignore[return-value]


@dataclass(eq=False)
class WorkflowDefinition(_Definition[P, R]):
    """A registered workflow. Awaiting it inside another workflow starts a child run."""

    task_queue: str = "default"
    allow_nondeterministic_calls: bool = False
    """Let the workflow's code read the clock, draw global randomness and do I/O (not checked; replay may diverge)."""
    max_concurrent: int | None = None
    """At most this many runs of the workflow execute at once in an engine; the others wait, in start order."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        runtime = _Runtime.maybe_current()
        if runtime is None:
            return self.fn(*args, **kwargs)
        positional = self.bind(args, kwargs)
        return runtime.workflow_execute_child(self, positional, None)  # type: ignore[return-value]


class Registry:
    """Finds workflow and activity code by name. Re-registering a name replaces it (notebook cells re-run)."""

    def __init__(self) -> None:
        self._workflows: dict[str, WorkflowDefinition[Any, Any]] = {}
        self._activities: dict[str, ActivityDefinition[Any, Any]] = {}
        self._listeners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add_workflow(self, definition: WorkflowDefinition[Any, Any]) -> None:
        """Register (or replace) a workflow and tell listening engines."""
        with self._lock:
            self._workflows[definition.name] = definition
            listeners = list(self._listeners)
        for listener in listeners:
            listener.on_workflow_registered(definition)

    def add_activity(self, definition: ActivityDefinition[Any, Any]) -> None:
        """Register (or replace) an activity."""
        with self._lock:
            self._activities[definition.name] = definition

    def workflow(self, name: str) -> WorkflowDefinition[Any, Any] | None:
        """The workflow registered under `name`, if any."""
        return self._workflows.get(name)

    def activity(self, name: str) -> ActivityDefinition[Any, Any] | None:
        """The activity registered under `name`, if any."""
        return self._activities.get(name)

    def workflows(self) -> dict[str, WorkflowDefinition[Any, Any]]:
        """All registered workflows by name."""
        return dict(self._workflows)

    def subscribe(self, listener: Any) -> None:
        """Call `listener.on_workflow_registered(definition)` on every (re-)registration."""
        self._listeners.add(listener)


default_registry = Registry()
"""The registry the decorators use unless given another."""


class _ActivityDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, T]], /) -> ActivityDefinition[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __call__(self, fn: Callable[P, T], /) -> ActivityDefinition[P, Any]: ...


# A plain-def activity is typed as returning Any: inside a workflow the call must be awaited,
# outside it returns the value directly, and no single static type says both.
@overload
def activity(fn: Callable[P, Coroutine[Any, Any, T]], /) -> ActivityDefinition[P, Coroutine[Any, Any, T]]: ...
@overload
def activity(fn: Callable[P, T], /) -> ActivityDefinition[P, Any]: ...
@overload
def activity(
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    start_to_close: float | None = None,
    schedule_to_close: float | None = None,
    heartbeat_timeout: float | None = None,
    task_queue: str | None = None,
    registry: Registry | None = None,
) -> _ActivityDecorator: ...
def activity(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    start_to_close: float | None = None,
    schedule_to_close: float | None = None,
    heartbeat_timeout: float | None = None,
    task_queue: str | None = None,
    registry: Registry | None = None,
) -> Any:
    """Declare an activity: a step that does real work (I/O, computation) and may be retried.

    `async def` activities run on the engine's event loop; plain `def` activities run in a
    thread pool. Inside a workflow, calling the activity schedules it (await the call);
    outside a workflow it just runs the function. Timeouts are in seconds.

    Example:
        ```python
        @wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5), start_to_close=30)
        async def extract(source: str) -> list[dict]: ...
        ```
    """

    def decorate(func: Callable[P, R]) -> ActivityDefinition[P, R]:
        if isinstance(func, _Definition):
            raise DefinitionError(f"@wfkit.activity: {func.name} is already decorated")
        if not callable(func):
            raise DefinitionError(f"@wfkit.activity needs a function, got {type(func).__name__}")
        for label, value in (("start_to_close", start_to_close), ("schedule_to_close", schedule_to_close), ("heartbeat_timeout", heartbeat_timeout)):
            if value is not None and value <= 0:
                raise ConfigurationError(f"@wfkit.activity {func.__name__}: {label} must be > 0 seconds, got {value}")
        definition = ActivityDefinition(
            func,
            name or func.__name__,
            retry=retry or RetryPolicy(),
            start_to_close=start_to_close,
            schedule_to_close=schedule_to_close,
            heartbeat_timeout=heartbeat_timeout,
            task_queue=task_queue,
        )
        (registry or default_registry).add_activity(definition)
        return definition

    return decorate(fn) if fn is not None else decorate


@overload
def workflow(fn: Callable[P, R], /) -> WorkflowDefinition[P, R]: ...
@overload
def workflow(
    *,
    name: str | None = None,
    task_queue: str = "default",
    registry: Registry | None = None,
    allow_nondeterministic_calls: bool = False,
    max_concurrent: int | None = None,
) -> Callable[[Callable[P, R]], WorkflowDefinition[P, R]]: ...
def workflow(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    task_queue: str = "default",
    registry: Registry | None = None,
    allow_nondeterministic_calls: bool = False,
    max_concurrent: int | None = None,
) -> WorkflowDefinition[P, R] | Callable[[Callable[P, R]], WorkflowDefinition[P, R]]:
    """Declare a workflow: an `async def` whose every step is recorded and which resumes after a crash.

    Workflow code must be deterministic: use activities for I/O, `wfkit.now()`,
    `wfkit.random()` and `wfkit.uuid4()` instead of the clock and `random`, and
    `wfkit.sleep` / `asyncio.sleep` for waiting (both become durable timers).
    Calling `time.time()`, `datetime.now()`, `random.random()`, `uuid.uuid4()`, `os.urandom`,
    `open()` or the network from workflow code fails the workflow task with a
    `NondeterministicCallError`; `allow_nondeterministic_calls=True` turns that check off
    for this workflow.

    `max_concurrent=N` lets at most N runs of the workflow execute at once in an engine; runs
    started beyond that are recorded and wait, in start order, until a run closes (across
    restarts too). See also `Engine.start(..., concurrency_key=...)`.
    """

    def decorate(func: Callable[P, R]) -> WorkflowDefinition[P, R]:
        if not inspect.iscoroutinefunction(typing.cast(Any, func)):  # cast: keep mypy from narrowing `func`
            raise DefinitionError(f"@wfkit.workflow {getattr(func, '__name__', func)!r} must be an 'async def' function")
        if max_concurrent is not None and (not isinstance(max_concurrent, int) or isinstance(max_concurrent, bool) or max_concurrent < 1):
            raise DefinitionError(f"@wfkit.workflow {getattr(func, '__name__', func)!r}: max_concurrent must be a whole number >= 1, got {max_concurrent!r}")
        definition = WorkflowDefinition(
            func, name or func.__name__, task_queue=task_queue, allow_nondeterministic_calls=allow_nondeterministic_calls, max_concurrent=max_concurrent
        )
        (registry or default_registry).add_workflow(definition)
        return definition

    return decorate(fn) if fn is not None else decorate
