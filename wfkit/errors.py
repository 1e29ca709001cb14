"""Errors raised by wfkit.

Every error derives from `WfkitError`:

* `WfkitError`
    * `NotInWorkflowError` — a workflow-only function was called outside a workflow.
    * `NondeterminismError` — replayed code issued a different command than the history recorded.
    * `PayloadError` — a value could not be encoded or decoded by the payload converter.
    * `HistoryFormatError` — a history file (Temporal JSON) is malformed; names the file and the JSON path.
    * `WorkflowAlreadyStartedError` — a workflow id is already in use by a running run.
    * `WorkflowNotFoundError` — no run has the given workflow or run id.
    * `ActivityError` — an activity failed for good (raised inside the workflow that called it).
    * `ChildWorkflowError` — a child workflow failed (raised inside its parent).
    * `WorkflowFailedError` — `handle.result()` of a run that failed, was cancelled or terminated.
    * `ApplicationError` — raised by user code to control retries (`non_retryable=True`).
    * `StoreError` — the history database cannot be used.
        * `StoreLockedError` — another process holds the DuckDB file open.
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
    "ChildWorkflowError",
    "EngineClosedError",
    "HistoryFormatError",
    "NondeterminismError",
    "NotAWfkitDatabaseError",
    "NotInWorkflowError",
    "PayloadError",
    "SchemaVersionError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "WfkitError",
    "WorkflowAlreadyStartedError",
    "WorkflowFailedError",
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
    """Raised when replayed workflow code issues a command that differs from the recorded history."""

    def __init__(self, run_id: str, event_id: int | None, expected: str, got: str) -> None:
        self.run_id = run_id
        self.event_id = event_id
        self.expected = expected
        self.got = got
        where = f"event {event_id}" if event_id is not None else "end of history"
        super().__init__(
            f"run {run_id}: nondeterminism at {where}: history recorded {expected}, "
            f"but the workflow code now issued {got}. Workflow code must issue the same commands "
            "in the same order on replay; guard changes with wfkit.patched()."
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.run_id, self.event_id, self.expected, self.got))


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


class WorkflowFailedError(_FailureCarrierError):
    """Raised by `handle.result()` when the run failed, was cancelled or was terminated."""


class StoreError(WfkitError):
    """The history database cannot be used."""


class StoreLockedError(StoreError):
    """Raised when another process holds the DuckDB file (DuckDB allows one writer process)."""


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
