"""Errors raised by wfkit.

Every error derives from `WfkitError`:

* `WfkitError`
    * `NotInWorkflowError` — a workflow-only function was called outside a workflow.
    * `NondeterminismError` — replayed code issued a different command than the history recorded.
    * `NondeterministicCallError` — workflow code called the clock, global randomness or did I/O directly.
    * `QueryNotFoundError` (also a `KeyError`) — `handle.query(name)` for a name the workflow has no handler for.
    * `ArgumentError` (also a `TypeError`) — a workflow or activity called with arguments its signature does not take.
    * `ForkPointError` — a fork asked to resume at an event it cannot resume at; names the nearest ones.
    * `DefinitionError` (also a `TypeError`) — `@wfkit.workflow` / `@wfkit.activity` used on something they cannot take.
    * `ConfigurationError` (also a `ValueError`) — an option out of range (a retry policy, a timeout).
    * `NotAwaitedError` (also an `AttributeError`) — `wfkit.Engine.open(...)` used without `await`.
    * `PayloadError` — a value could not be encoded or decoded by the payload converter.
    * `HistoryFormatError` — a history file (Temporal JSON) is malformed; names the file and the JSON path.
    * `WorkflowAlreadyStartedError` — a workflow id is already in use by a running run.
    * `WorkflowNotFoundError` — no run has the given workflow or run id.
    * `ActivityError` — an activity failed for good (raised inside the workflow that called it).
    * `ChildWorkflowError` — a child workflow failed (raised inside its parent).
    * `ExternalWorkflowError` — `wfkit.signal_external` / `cancel_external` found no open run to deliver to.
    * `WorkflowFailedError` — `handle.result()` of a run that failed, was cancelled or terminated.
    * `ApplicationError` — raised by user code to control retries (`non_retryable=True`).
    * `StoreError` — the history database cannot be used.
        * `StoreLockedError` — another process (or another engine in this process) holds the DuckDB file open.
            * `StoreFencedError` — a newer engine in this process took the file over; this one may not write.
        * `StoreCorruptError` — the file is not a readable DuckDB database.
        * `NotAWfkitDatabaseError` — the file is a DuckDB database without wfkit's tables.
        * `SchemaVersionError` — the file was written by a newer wfkit.
        * `StoreUnavailableError` — the database cannot be written now (disk full); retried automatically.
    * `EngineClosedError` — the engine was used after `close()`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActivityError",
    "ApplicationError",
    "ArgumentError",
    "ForkPointError",
    "ChildWorkflowError",
    "ConfigurationError",
    "DefinitionError",
    "EngineClosedError",
    "ExternalWorkflowError",
    "HistoryFormatError",
    "NondeterminismError",
    "NondeterministicCallError",
    "NotAWfkitDatabaseError",
    "NotAwaitedError",
    "NotInWorkflowError",
    "PayloadError",
    "QueryNotFoundError",
    "SchemaVersionError",
    "StoreCorruptError",
    "StoreError",
    "StoreFencedError",
    "StoreLockedError",
    "StoreUnavailableError",
    "WfkitError",
    "WorkflowAlreadyStartedError",
    "WorkflowFailedError",
    "WorkflowUpdateFailedError",
    "WorkflowNotFoundError",
]


class WfkitError(Exception):
    """Root of every error wfkit raises."""


class NotInWorkflowError(WfkitError):
    """Raised when a workflow-only function (`wfkit.sleep`, `wfkit.now`, ...) runs outside a workflow."""

    def __init__(self, function: str) -> None:
        self.function = function
        super().__init__(f"wfkit.{function}() can only be called inside a @wfkit.workflow function")

    def __reduce__(self) -> Any:
        return (type(self), (self.function,))


class NondeterminismError(WfkitError):
    """Raised when replayed workflow code issues a command that differs from the recorded history.

    `hint` is the likely cause the message names (calls seen in the workflow's code that give
    another value on replay, or a code change to guard with `wfkit.patched()`).
    """

    def __init__(self, run_id: str, event_id: int | None, expected: str, got: str, hint: str | None = None) -> None:
        self.run_id = run_id
        self.event_id = event_id
        self.expected = expected
        self.got = got
        self.hint = hint
        where = f"event {event_id}" if event_id is not None else "end of history"
        hint = hint or "Workflow code must issue the same commands in the same order on replay; guard code changes with wfkit.patched()"
        super().__init__(f"run {run_id}: nondeterminism at {where}: history recorded {expected}, but the workflow code now issued {got}. {hint}.")

    def __reduce__(self) -> Any:
        return (type(self), (self.run_id, self.event_id, self.expected, self.got, self.hint))


class NondeterministicCallError(WfkitError):
    """Raised in workflow code that reads the clock, uses global randomness or does I/O directly.

    Such a call gives another value when the run is replayed, so the engine fails the run's
    workflow task (the run waits, blocked, until fixed code is registered) instead of recording
    what the call led to. `call` is what was called ("time.time()", "open('data.csv', 'r')"),
    `replacement` what to do instead, `where` the workflow code's file and line. Opt out per
    workflow with `@wfkit.workflow(allow_nondeterministic_calls=True)`.
    """

    def __init__(self, call: str, replacement: str, *, workflow: str = "", workflow_id: str = "", where: str = "") -> None:
        self.call = call
        self.replacement = replacement
        self.workflow = workflow
        self.workflow_id = workflow_id
        self.where = where
        self.event_id: int | None = None
        """The `WorkflowTaskStarted` event of the task it failed, when known (the replay debugger sets it)."""
        instead = f"use {replacement} instead" if replacement.startswith("wfkit.") else replacement
        super().__init__(
            f"workflow {workflow} ({workflow_id}) called {call} at {where}: {instead} "
            "(workflow code must do the same on replay; @wfkit.workflow(allow_nondeterministic_calls=True) turns this check off)"
        )

    def __reduce__(self) -> Any:
        return (_rebuild_call_error, (self.call, self.replacement, self.workflow, self.workflow_id, self.where))


def _rebuild_call_error(call: str, replacement: str, workflow: str, workflow_id: str, where: str) -> NondeterministicCallError:
    return NondeterministicCallError(call, replacement, workflow=workflow, workflow_id=workflow_id, where=where)


class QueryNotFoundError(WfkitError, KeyError):
    """Raised by `handle.query(name)` when the workflow registered no query handler `name`."""

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0]) if self.args else ""


class ArgumentError(WfkitError, TypeError):
    """Raised when a workflow or activity is called (or started) with arguments its signature does not take."""


class ForkPointError(ArgumentError):
    """Raised when a fork cannot resume at the event asked for (it is inside a workflow task, or between a
    signal sent to another workflow and its delivery); `before` and `after` are the nearest events it can
    resume at (None where there is none)."""

    def __init__(self, message: str, before: int | None, after: int | None) -> None:
        super().__init__(message)
        self.before = before
        self.after = after


class DefinitionError(WfkitError, TypeError):
    """Raised when `@wfkit.workflow` or `@wfkit.activity` is given something it cannot declare."""


class ConfigurationError(WfkitError, ValueError):
    """Raised for an option out of range: a retry policy, an activity timeout."""


class NotAwaitedError(WfkitError, AttributeError):
    """Raised when the opener `wfkit.Engine.open(...)` returns is used as an engine: it must be awaited."""


class PayloadError(WfkitError):
    """Raised when a value cannot be converted to or from a payload."""


class HistoryFormatError(WfkitError):
    """Raised when a history (for example a Temporal JSON export) cannot be read.

    `file` names the source (None for in-memory input) and `json_path` the place of the
    problem, as `$.events[4].activityTaskScheduledEventAttributes.activityType`.
    """

    def __init__(self, problem: str, *, file: str | None = None, json_path: str = "$") -> None:
        self.problem = problem
        self.file = file
        self.json_path = json_path
        super().__init__(f"{file or '<history>'}: at {json_path}: {problem}")

    def __reduce__(self) -> Any:
        return (_rebuild_history_format_error, (self.problem, self.file, self.json_path))


def _rebuild_history_format_error(problem: str, file: str | None, json_path: str) -> HistoryFormatError:
    return HistoryFormatError(problem, file=file, json_path=json_path)


class WorkflowAlreadyStartedError(WfkitError):
    """Raised by `Engine.start` when the workflow id belongs to a run that is still open."""

    def __init__(self, workflow_id: str, run_id: str) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        super().__init__(f"workflow id {workflow_id!r} is already running (run {run_id}); pick another id or pass id_reuse_policy='terminate_if_running'")

    def __reduce__(self) -> Any:
        return (type(self), (self.workflow_id, self.run_id))


class WorkflowNotFoundError(WfkitError):
    """Raised when no run matches a workflow id or run id."""


class ApplicationError(WfkitError):
    """Raise from an activity or workflow to fail with a chosen type; `non_retryable` stops retries."""

    def __init__(self, message: str, *, type: str | None = None, non_retryable: bool = False) -> None:  # noqa: A002
        super().__init__(message)
        self.message = message
        self.type = type or "ApplicationError"
        self.non_retryable = non_retryable

    def __reduce__(self) -> Any:
        return (_rebuild_application_error, (self.message, self.type, self.non_retryable))


def _rebuild_application_error(message: str, type_: str, non_retryable: bool) -> ApplicationError:
    return ApplicationError(message, type=type_, non_retryable=non_retryable)


class _FailureCarrierError(WfkitError):
    """Base for errors that carry a recorded failure (type, message, stack)."""

    def __init__(self, message: str, failure: dict[str, Any]) -> None:
        super().__init__(message)
        self.failure = failure

    @property
    def cause_type(self) -> str:
        """The type name of the original exception."""
        return str(self.failure.get("type", ""))

    @property
    def cause_message(self) -> str:
        """The message of the original exception."""
        return str(self.failure.get("message", ""))

    def __reduce__(self) -> Any:
        return (type(self), (self.args[0], self.failure))


class ActivityError(_FailureCarrierError):
    """Raised inside a workflow when an activity it awaited failed for good (retries exhausted)."""


class ChildWorkflowError(_FailureCarrierError):
    """Raised inside a workflow when a child workflow it awaited failed or was cancelled."""


class ExternalWorkflowError(_FailureCarrierError):
    """Raised inside a workflow by `wfkit.signal_external` / `wfkit.cancel_external` when the target has no open run.

    History records it as `SignalExternalWorkflowExecutionFailed` (or `RequestCancelExternalWorkflowExecutionFailed`);
    `cause_type` is the cause Temporal names, `ExternalWorkflowExecutionNotFound`.
    """


class WorkflowFailedError(_FailureCarrierError):
    """Raised by `handle.result()` when the run failed, was cancelled or was terminated."""


class WorkflowUpdateFailedError(_FailureCarrierError):
    """Raised by `handle.update()`: the update was rejected (no handler, or its validator raised) or its handler raised.

    `rejected` tells the two apart: a rejected update left nothing in the history.
    """

    def __init__(self, message: str, failure: dict[str, Any], *, rejected: bool = False) -> None:
        super().__init__(message, failure)
        self.rejected = rejected


class StoreError(WfkitError):
    """The history database cannot be used."""


class StoreLockedError(StoreError):
    """Raised when the DuckDB file is held by another process (DuckDB allows one writer process), or by a live engine of this process."""


class StoreFencedError(StoreLockedError):
    """Raised when an engine writes to a file that a newer engine in the same process has opened since.

    Each engine that opens a file takes a new owner epoch; a write with a stale epoch is refused
    before anything is written, so two engines can never append to the same history.
    """


class StoreCorruptError(StoreError):
    """Raised when a file is not a readable DuckDB database."""


class NotAWfkitDatabaseError(StoreError):
    """Raised when a DuckDB file has tables but not wfkit's."""


class SchemaVersionError(StoreError):
    """Raised when the file's schema was written by a newer wfkit."""


class StoreUnavailableError(StoreError):
    """Raised by `start`, `signal` and friends while the database cannot be written (for example a full disk)."""


class EngineClosedError(WfkitError):
    """Raised when an engine is used after `close()`."""
