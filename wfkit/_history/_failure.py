"""Exceptions as recorded failures: type, message, stack."""

from __future__ import annotations

import traceback
from typing import Any

from wfkit.errors import ApplicationError, WfkitError

__all__ = ["failure_from_exception"]


def failure_from_exception(exc: BaseException) -> dict[str, Any]:
    """Record an exception as `{"type", "message", "stack", "non_retryable"}` (plus a recorded cause)."""
    if isinstance(exc, ApplicationError):
        type_name = exc.type
    elif type(exc).__module__ in ("builtins", "wfkit.errors"):
        type_name = type(exc).__qualname__
    else:
        type_name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    failure: dict[str, Any] = {
        "type": type_name,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "non_retryable": bool(getattr(exc, "non_retryable", False)),
    }
    recorded = getattr(exc, "failure", None)
    if isinstance(exc, WfkitError) and isinstance(recorded, dict):
        failure["cause"] = recorded
    return failure
