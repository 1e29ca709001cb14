"""Payloads and the default JSON converter.

A payload is a plain dict `{"encoding": ..., "data": ...}` so that it can be stored
inside DuckDB `JSON` columns and reached with SQL. The default converter writes
`json/plain`; dataclasses, datetimes, dates, `Decimal`, `bytes`, enums and
(where installed) pandas DataFrames and pyarrow Tables are handled explicitly and
rebuilt from the type hints of the receiving function. Pickle is never used.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import functools
import json
import types
import typing
import uuid
from collections.abc import Callable
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Protocol

from wfkit.errors import PayloadError

__all__ = ["JSON_ENCODING", "MAX_PAYLOAD_BYTES", "JsonConverter", "JsonPayload", "Payload", "PayloadConverter", "payload_json"]

JSON_ENCODING = "json/plain"

Payload = dict[str, Any]


class PayloadConverter(Protocol):
    """Turns values into payloads and back."""

    def to_payload(self, value: Any) -> Payload:
        """Encode one value."""
        ...

    def from_payload(self, payload: Payload, hint: Any = Any) -> Any:
        """Decode one value, rebuilding the type named by `hint` where possible."""
        ...


def _to_json_default(value: Any) -> Any:
    """`json` calls this for each object it cannot write itself; nested values come back through it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    module = type(value).__module__
    if module.startswith("pandas") and hasattr(value, "to_dict"):
        return value.to_dict(orient="records") if hasattr(value, "columns") else value.to_dict()
    if module.startswith(("pyarrow", "numpy")) and hasattr(value, "to_pylist" if module.startswith("pyarrow") else "tolist"):
        return value.to_pylist() if module.startswith("pyarrow") else value.tolist()
    raise TypeError(
        f"cannot store a value of type {type(value).__qualname__} as JSON; pass plain data (dict, list, str, numbers, dataclasses, datetime, Decimal, bytes)"
    )


# allow_nan=False: DuckDB's JSON type (and strict JSON) has no NaN or Infinity.
_ENCODER = json.JSONEncoder(default=_to_json_default, allow_nan=False, separators=(",", ":"))


def _encode(value: Any) -> str:
    try:
        return _ENCODER.encode(value)
    except ValueError as exc:
        raise PayloadError(f"cannot store NaN or Infinity as JSON ({exc}); use None or a string") from None
    except (TypeError, RecursionError) as exc:
        raise PayloadError(str(exc)) from None


class JsonPayload(dict):  # type: ignore[type-arg]
    """A `json/plain` payload that remembers its JSON text, so it is serialised once and decoded
    with one `json.loads` (which also gives every reader a fresh copy)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(encoding=JSON_ENCODING, data=json.loads(text))
        self.text = text


def _float_text(value: float) -> str:
    if value != value or value in (_INFINITY, -_INFINITY):
        raise ValueError("not finite")
    return float.__repr__(value)


_INFINITY = float("inf")

_SCALAR_TEXT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,  # raises ValueError past the int-to-str digit limit, as json does
    str: encode_basestring_ascii,
    float: _float_text,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}
"""For exactly these types (not subclasses), the JSON text `_encode` would write (what `json` itself does for them).
Their values are immutable and `json` reads the text back to an equal value, so a payload keeps the value as is."""


def payload_json(payload: Any) -> str:
    """The JSON text of a payload (its remembered text when it has one)."""
    if isinstance(payload, JsonPayload):
        return f'{{"encoding":"{JSON_ENCODING}","data":{payload.text}}}'
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def _is_plain(hint: Any) -> bool:
    """True when decoding to `hint` needs nothing beyond what json.loads builds."""
    try:
        return _is_plain_cached(hint)
    except TypeError:  # an unhashable hint (Annotated metadata, ...): decide without the cache
        return _is_plain_cached.__wrapped__(hint)


@functools.lru_cache(maxsize=1024)
def _is_plain_cached(hint: Any) -> bool:
    if hint in (Any, None, type(None), bool, int, float, str, list, dict, object) or isinstance(hint, (str, typing.TypeVar)):
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return True
    if origin in (list, dict, typing.Union, types.UnionType):
        return all(_is_plain(arg) for arg in typing.get_args(hint))
    return False


def _from_jsonable(value: Any, hint: Any) -> Any:
    if hint is Any or hint is None or value is None or isinstance(hint, (str, typing.TypeVar)):
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            try:
                return _from_jsonable(value, arg)
            except (TypeError, ValueError, PayloadError):
                continue
        return value
    if origin is typing.Literal or origin is typing.Annotated:
        return value if origin is typing.Literal else _from_jsonable(value, typing.get_args(hint)[0])
    if origin in (list, set, frozenset, tuple) or hint in (list, set, frozenset, tuple):
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(_from_jsonable(v, a) for v, a in zip(value, args, strict=False))
        item = args[0] if args else Any
        items = [_from_jsonable(v, item) for v in value]
        container = origin or hint
        return items if container is list else container(items)
    if origin is dict or hint is dict:
        args = typing.get_args(hint)
        vhint = args[1] if len(args) == 2 else Any
        return {k: _from_jsonable(v, vhint) for k, v in value.items()}
    if not isinstance(hint, type):
        return value
    cls: Any = hint
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(cls)
        kwargs = {f.name: _from_jsonable(value[f.name], hints.get(f.name, Any)) for f in dataclasses.fields(cls) if f.name in value}
        return cls(**kwargs)
    if issubclass(hint, enum.Enum):
        return hint(value)
    if hint is datetime.datetime:
        return datetime.datetime.fromisoformat(value)
    if hint is datetime.date:
        return datetime.date.fromisoformat(value)
    if hint is datetime.time:
        return datetime.time.fromisoformat(value)
    if hint is datetime.timedelta:
        return datetime.timedelta(seconds=value)
    if hint is decimal.Decimal:
        return decimal.Decimal(value)
    if hint is uuid.UUID:
        return uuid.UUID(value)
    if hint is bytes:
        return base64.b64decode(value)
    if cls.__module__.startswith("pandas") and cls.__name__ == "DataFrame":
        return cls(value)
    if cls.__module__.startswith("pyarrow") and cls.__name__ == "Table":
        return cls.from_pylist(value)
    return value


#: Default largest payload, in bytes of JSON: histories are for orchestration data, not bulk data.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024


class JsonConverter:
    """The default converter: JSON, with explicit handling of common Python types. Never pickles.

    Payloads larger than `max_bytes` of JSON are refused: keep bulk data in files or tables and
    pass a reference (a path, a table name) between activities.
    """

    def __init__(self, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self.max_bytes = max_bytes

    def to_payload(self, value: Any) -> Payload:
        """Encode `value` as a `json/plain` payload; raise `PayloadError` naming the type if it can't be."""
        scalar_text = _SCALAR_TEXT.get(type(value))
        if scalar_text is not None:
            # Activity arguments and results are often plain numbers and strings: write them without
            # the encoder's machinery and keep the value itself instead of parsing the text back.
            try:
                text = scalar_text(value)
            except ValueError:
                pass  # NaN, infinity, an int too long to print: the general path says why
            else:
                if len(text) <= self.max_bytes:
                    payload = dict.__new__(JsonPayload)
                    payload["encoding"] = JSON_ENCODING
                    payload["data"] = value
                    payload.text = text
                    return payload
        text = _encode(value)
        if len(text) > self.max_bytes:
            raise PayloadError(
                f"a {type(value).__name__} of {len(text) / 1_048_576:.1f} MB is over the {self.max_bytes / 1_048_576:g} MB payload limit; "
                "store the data elsewhere (a file, a DuckDB or Parquet table) and pass its path or name instead"
            )
        return JsonPayload(text)

    def from_payload(self, payload: Payload, hint: Any = Any) -> Any:
        """Decode a payload into a fresh object (callers may mutate it); unknown encodings raise `PayloadError`."""
        encoding = payload.get("encoding")
        if encoding != JSON_ENCODING:
            raise PayloadError(f"cannot decode a payload with encoding {encoding!r} (expected {JSON_ENCODING})")
        # Always a fresh copy, so code that mutates what it received cannot change the recorded history
        # (a scalar of `_SCALAR_TEXT`'s types cannot be mutated: it is its own copy).
        data = payload.get("data")
        if type(data) in _SCALAR_TEXT:
            pass
        elif isinstance(payload, JsonPayload):
            data = json.loads(payload.text)
        elif isinstance(data, (list, dict)):
            data = json.loads(_ENCODER.encode(data))
        try:
            return data if _is_plain(hint) else _from_jsonable(data, hint)
        except (TypeError, ValueError, KeyError) as exc:
            raise PayloadError(f"cannot decode payload as {getattr(hint, '__name__', hint)}: {exc}") from None
