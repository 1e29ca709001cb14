"""Reading a Temporal history source (a path, JSON text or bytes, gzip, a dict, a temporalio history)
and making the older dialect's spellings canonical, before `_load` converts the events."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

from wfkit.errors import HistoryFormatError
from wfkit.temporal._json import check_value, parse_json

__all__ = ["attributes_key", "camel_case", "canonical_event", "pascal_name", "read_source"]

#: Fields whose values are proto maps: their keys are user names (memo fields, search attribute
#: names, payload metadata, marker detail names, headers), never renamed from snake_case.
_MAP_FIELDS = frozenset({"fields", "indexedFields", "metadata", "details", "header", "nexusHeader"})

# Enum fields whose values the legacy dialect writes without their prefix (as temporalio's
# `WorkflowHistory.from_json` fixes them): (prefix, path below the event; "*" = every object).
_ENUM_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE", ("requestCancelExternalWorkflowExecutionFailedEventAttributes", "cause")),
    ("CONTINUE_AS_NEW_INITIATOR", ("*", "initiator")),
    ("PARENT_CLOSE_POLICY", ("startChildWorkflowExecutionInitiatedEventAttributes", "parentClosePolicy")),
    ("RETRY_STATE", ("*", "retryState")),
    ("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE", ("signalExternalWorkflowExecutionFailedEventAttributes", "cause")),
    ("START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE", ("startChildWorkflowExecutionFailedEventAttributes", "cause")),
    ("TASK_QUEUE_KIND", ("*", "taskQueue", "kind")),
    ("TIMEOUT_TYPE", ("*", "timeoutType")),
    ("WORKFLOW_ID_REUSE_POLICY", ("startChildWorkflowExecutionInitiatedEventAttributes", "workflowIdReusePolicy")),
    ("WORKFLOW_TASK_FAILED_CAUSE", ("workflowTaskFailedEventAttributes", "cause")),
)
_FAILURE_FIELDS: tuple[tuple[str, ...], ...] = (("*", "failure"), ("activityTaskStartedEventAttributes", "lastFailure"), ("*", "continuedFailure"))


def read_source(source: Any) -> tuple[Any, str | None]:
    """The parsed JSON of a history source, and a name for messages."""
    if isinstance(source, (dict, list)):
        _check_plain_json(source)
        return source, None
    if hasattr(source, "to_json_dict") and hasattr(source, "workflow_id"):  # temporalio WorkflowHistory
        return source.to_json_dict(), f"workflow {source.workflow_id}"
    if isinstance(source, bytes):
        if source[:2] == b"\x1f\x8b":
            source = _gunzip(source, None)
        return parse_json(source, None), None
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return parse_json(source, None), None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise HistoryFormatError(f"cannot read the file: {exc.strerror or exc}", file=name) from None
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, name)
        return parse_json(data, name), name
    raise TypeError(f"load_history() takes a path, JSON text or bytes, a dict or a temporalio WorkflowHistory, not {type(source).__name__}")


def _check_plain_json(doc: Any) -> None:
    """A parsed document must be what JSON can hold (no NaN or Infinity, no Python-only types), checked without recursion."""
    try:
        check_value(doc, "$", None, max_depth=1 << 62)  # no recursion: each event's depth is checked on its own
    except HistoryFormatError as exc:
        raise HistoryFormatError(f"the history is not plain JSON data: {exc.problem}", json_path=exc.json_path) from None


def _gunzip(data: bytes, name: str | None) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise HistoryFormatError(f"cannot decompress the gzip file: {exc}", file=name) from None


def pascal_name(event_type: str) -> str:
    """`EVENT_TYPE_TIMER_FIRED` (or `TimerFired`) -> `TimerFired`."""
    if event_type.startswith("EVENT_TYPE_"):
        return "".join(word.capitalize() for word in event_type[len("EVENT_TYPE_") :].split("_"))
    return event_type


def camel_case(name: str) -> str:
    """A proto field's JSON name from its proto name: `event_id` -> `eventId` (camelCase stays)."""
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def attributes_key(pascal: str) -> str:
    return pascal[:1].lower() + pascal[1:] + "EventAttributes"


def _fix_enum(prefix: str, parent: Any, keys: tuple[str, ...]) -> None:
    """Give a legacy enum value its prefix: `Normal` -> `TASK_QUEUE_KIND_NORMAL` (in place)."""
    if not isinstance(parent, dict) or not keys:
        return
    head, rest = keys[0], keys[1:]
    children = list(parent.values()) if head == "*" else [parent.get(head)]
    if head != "*" and not rest:
        value = parent.get(head)
        if isinstance(value, str) and value and not value.startswith(prefix):
            snake = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(value)).upper()
            parent[head] = f"{prefix}_{snake}"
        return
    for child in children:
        if isinstance(child, list):
            for item in child:
                _fix_enum(prefix, item, rest)
        else:
            _fix_enum(prefix, child, rest)


def _fix_failure(parent: Any, keys: tuple[str, ...], depth: int = 0) -> None:
    if not isinstance(parent, dict) or depth > 64:
        return
    head, rest = keys[0], keys[1:]
    children = list(parent.values()) if head == "*" else [parent.get(head)]
    for child in children:
        if not isinstance(child, dict):
            continue
        if rest:
            _fix_failure(child, rest, depth)
            continue
        _fix_enum("TIMEOUT_TYPE", child, ("timeoutFailureInfo", "timeoutType"))
        _fix_enum("RETRY_STATE", child, ("*", "retryState"))
        _fix_failure(child, ("cause",), depth + 1)


def _copy(event: dict[str, Any], snake: bool) -> dict[str, Any]:
    """A deep copy made without recursion; with `snake`, proto field names become camelCase (map keys stay)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any, bool]] = [(event, root, snake)]
    while stack:
        source, target, rename = stack.pop()
        if isinstance(source, dict):
            for key, value in source.items():
                name = camel_case(key) if rename else key
                if isinstance(value, dict):
                    target[name] = {}
                    stack.append((value, target[name], rename and name not in _MAP_FIELDS))
                elif isinstance(value, list):
                    target[name] = []
                    stack.append((value, target[name], rename))
                else:
                    target[name] = value
        else:
            for value in source:
                if isinstance(value, dict):
                    target.append({})
                    stack.append((value, target[-1], rename))
                elif isinstance(value, list):
                    target.append([])
                    stack.append((value, target[-1], rename))
                else:
                    target.append(value)
    return root


def canonical_event(event: dict[str, Any], *, snake: bool = False) -> dict[str, Any]:
    """A deep copy of a raw event with legacy enum spellings (and, with `snake`, snake_case field names) made canonical."""
    event = _copy(event, snake)
    for prefix, keys in _ENUM_FIELDS:
        _fix_enum(prefix, event, keys)
    for keys in _FAILURE_FIELDS:
        _fix_failure(event, keys)
    return event
