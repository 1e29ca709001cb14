"""Search attributes and memo: the small, queryable facts about a run (`engine.start(search_attributes=, memo=)`)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any

from wfkit._history._events import Event, EventType
from wfkit.errors import ArgumentError

__all__ = ["check_properties", "current_properties"]

_SCALARS = (str, int, float, bool, type(None))


def _value(value: Any, where: str) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()  # Temporal's Datetime search attributes are ISO text too
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, _SCALARS) for v in value):
        return list(value)  # a keyword list
    raise ArgumentError(f"{where}: a search attribute is a str, number, bool, date/datetime or a list of those, got {type(value).__name__}")


def check_properties(values: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """`values` as stored: search attributes (`what="search_attributes"`) are scalars; memo values any JSON.

    Raises:
        ArgumentError: a key is not a non-empty string, or a value cannot be stored, naming it.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ArgumentError(f"{what} must be a dict of name -> value, got {type(values).__name__}")
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise ArgumentError(f"{what}: names must be non-empty strings, got {key!r}")
        where = f"{what}[{key!r}]"
        if what == "search_attributes":
            checked[key] = _value(value, where)
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"{where}: a memo value must be JSON (str, number, bool, None, list, dict): {exc}") from None
        checked[key] = value
    return checked


def current_properties(events: Iterable[Event]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run's search attributes and memo now: its start's, merged with each upsert in order (None removes a name)."""
    search_attributes: dict[str, Any] = {}
    memo: dict[str, Any] = {}
    for event in events:
        a = event.attributes
        if event.event_type is EventType.WorkflowExecutionStarted:
            search_attributes.update(a.get("search_attributes") or {})
            memo.update(a.get("memo") or {})
        elif event.event_type is EventType.UpsertWorkflowSearchAttributes:
            search_attributes.update(a.get("search_attributes") or {})
        elif event.event_type is EventType.WorkflowPropertiesModified:
            memo.update(a.get("memo") or {})
    return _without_nulls(search_attributes), _without_nulls(memo)


def _without_nulls(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
