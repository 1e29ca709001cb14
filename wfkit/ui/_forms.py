"""Form fields generated from a workflow's signature and type hints, with parsing and per-field errors."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import html
import inspect
import json
import types
import typing
from collections.abc import Callable
from typing import Any

import ipywidgets as w

__all__ = ["Field", "field_for"]

_MISSING = inspect.Parameter.empty


class Field:
    """One input: its widget, an error label beside it, and a parser that raises ValueError with a readable message."""

    def __init__(self, name: str, widget: w.Widget, parse: Callable[[], Any], hint: Any) -> None:
        self.name = name
        self.widget = widget
        self.hint = hint
        self._parse = parse
        self.error = w.HTML(value="", layout=w.Layout(margin="0 0 0 8px"))
        self.box = w.HBox([widget, self.error])

    def value(self) -> Any:
        """The parsed value; shows and raises the error if the input is invalid."""
        try:
            value = self._parse()
        except (ValueError, TypeError) as exc:
            self.error.value = f"<span style='color:#c62828'>{_escape(str(exc))}</span>"
            raise ValueError(f"{self.name}: {exc}") from None
        self.error.value = ""
        return value


def _escape(text: str) -> str:
    return html.escape(text)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def _scalar(text: str, hint: Any) -> Any:
    text = text.strip()
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if hint is bool:
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    if hint is datetime.date:
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if hint is datetime.datetime:
        try:
            return datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date and time (ISO 8601)") from None
    if hint is str or hint is Any:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"{text!r} is not valid JSON") from None


def field_for(name: str, hint: Any, default: Any = _MISSING) -> Field:
    """A form field for a parameter of type `hint` (str, int, float, bool, date, datetime, list, Enum, Literal, dataclass, JSON)."""
    # One flat dispatch over the supported hints (complexity ~24): each branch is two lines, and split
    # into functions the order of the checks (bool before int, Enum before str) would be harder to see.
    inner, optional = _unwrap_optional(hint)
    has_default = default is not _MISSING
    description = f"{name}{'' if has_default or optional else ' *'}"
    style = {"description_width": "140px"}
    layout = w.Layout(width="420px")
    origin = typing.get_origin(inner)

    if inner is bool:
        box = w.Checkbox(value=bool(default) if has_default else False, description=description, style=style, indent=False)
        return Field(name, box, lambda: bool(box.value), hint)
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        options = [(m.name, m) for m in inner]
        drop = w.Dropdown(options=options, value=default if has_default else options[0][1], description=description, style=style, layout=layout)
        return Field(name, drop, lambda: drop.value, hint)
    if origin is typing.Literal:
        choices = list(typing.get_args(inner))
        drop = w.Dropdown(options=choices, value=default if has_default else choices[0], description=description, style=style, layout=layout)
        return Field(name, drop, lambda: drop.value, hint)
    if inner is datetime.date:
        picker = w.DatePicker(value=default if has_default else None, description=description, style=style)

        def parse_date() -> Any:
            if picker.value is None:
                if optional or has_default:
                    return default if has_default else None
                raise ValueError("pick a date")
            return picker.value

        return Field(name, picker, parse_date, hint)
    if isinstance(inner, type) and dataclasses.is_dataclass(inner):
        hints = typing.get_type_hints(inner)
        subfields = [
            field_for(f.name, hints.get(f.name, Any), f.default if f.default is not dataclasses.MISSING else _MISSING) for f in dataclasses.fields(inner)
        ]
        group = w.VBox([w.HTML(f"<b>{_escape(description)}</b> ({_escape(inner.__name__)})"), *[f.box for f in subfields]])
        cls: Any = inner

        def parse_dataclass() -> Any:
            values, errors = {}, []
            for sub in subfields:
                try:
                    values[sub.name] = sub.value()
                except ValueError as exc:
                    errors.append(str(exc))
            if errors:
                raise ValueError("; ".join(errors))
            return cls(**values)

        return Field(name, group, parse_dataclass, hint)
    if origin in (list, tuple, set) or inner in (list, tuple, set):
        args = typing.get_args(inner)
        item = args[0] if args else Any
        initial = "\n".join(str(v) if not isinstance(v, (dict, list)) else json.dumps(v) for v in default) if has_default and default else ""
        area = w.Textarea(value=initial, description=description, placeholder="one item per line (or a JSON list)", rows=4, style=style, layout=layout)

        def parse_list() -> Any:
            text = area.value.strip()
            if not text:
                if has_default:
                    return default
                return None if optional else []
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a valid JSON list: {exc.msg}") from None
            else:
                items = [_scalar(line, item) for line in text.splitlines() if line.strip()]
            container = origin or inner
            return items if container is list else container(items)

        return Field(name, area, parse_list, hint)
    initial = "" if not has_default or default is None else (json.dumps(default) if isinstance(default, (dict, list)) else str(default))
    placeholder = {int: "a whole number", float: "a number", str: "text", datetime.datetime: "YYYY-MM-DDTHH:MM"}.get(inner, "JSON")
    text = w.Text(value=initial, description=description, placeholder=placeholder, style=style, layout=layout)

    def parse_text() -> Any:
        if not text.value.strip():
            if has_default:
                return default
            if optional:
                return None
            if inner is str:
                return ""
            raise ValueError("required")
        return _scalar(text.value, inner)

    return Field(name, text, parse_text, hint)
