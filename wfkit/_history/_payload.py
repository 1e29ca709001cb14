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

__all__ = [
    "JSON_ENCODING",
    "MAX_PAYLOAD_BYTES",
    "REF_ENCODINGS",
    "JsonConverter",
    "JsonPayload",
    "LazyPayload",
    "Payload",
    "PayloadConverter",
    "materialized",
    "payload_json",
]

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


#: Encodings of payloads stored out of line (by the engine, in the history file): the payload is a reference.
REF_ENCODINGS = frozenset({"wfkit/table", "wfkit/json-blob"})

_UNLOADED: Any = object()


class LazyPayload:
    """A value stored out of line (a table), handed to workflow code unread: it loads on first use.

    Attribute access, `len`, iteration, indexing, `==` and NumPy/Arrow conversion load the value
    (once) and act on it; `repr` shows the shape from the reference alone. Passing the handle to
    the next activity re-uses the reference without loading. Replaying without a payload store
    (a bare `Replayer`) gives handles that cannot load: they say so when used.
    """

    __slots__ = ("_loader", "_value", "payload")

    def __init__(self, payload: Payload, loader: Callable[[], Any] | None) -> None:
        self.payload = payload
        """The reference payload (`{"encoding": "wfkit/table", "ref": ..., "rows": ..., ...}`)."""
        self._loader = loader
        self._value = _UNLOADED

    @property
    def loaded(self) -> bool:
        """True once the value was read."""
        return self._value is not _UNLOADED

    def materialize(self) -> Any:
        """The value itself (read on the first call)."""
        if self._value is _UNLOADED:
            if self._loader is None:
                raise PayloadError(
                    f"this run's table {str(self.payload.get('ref', ''))[:12]} is stored in its history file; replay it with that file's engine to read it"
                )
            self._value = self._loader()
        return self._value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.materialize(), name)

    def __len__(self) -> int:
        return len(self.materialize())

    def __iter__(self) -> Any:
        return iter(self.materialize())

    def __getitem__(self, key: Any) -> Any:
        return self.materialize()[key]

    def __contains__(self, item: Any) -> bool:
        return item in self.materialize()

    def __eq__(self, other: object) -> Any:
        return self.materialize() == (other.materialize() if isinstance(other, LazyPayload) else other)

    __hash__ = None  # type: ignore[assignment]

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        return self.materialize().__array__(*args, **kwargs)

    def __arrow_c_stream__(self, *args: Any, **kwargs: Any) -> Any:
        return self.materialize().__arrow_c_stream__(*args, **kwargs)

    def __dataframe__(self, *args: Any, **kwargs: Any) -> Any:
        return self.materialize().__dataframe__(*args, **kwargs)

    def __repr__(self) -> str:
        p = self.payload
        if p.get("encoding") != "wfkit/table":
            return f"<lazy JSON value, {p.get('bytes', '?')} bytes{', loaded' if self.loaded else ''}>"
        columns = [str(c) for c in p.get("columns") or []]
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        return f"<lazy {p.get('kind', 'table')} table: {p.get('rows', '?')} rows x {len(columns)} columns [{shown}]{', loaded' if self.loaded else ''}>"


def materialized(value: Any) -> Any:
    """`value` itself, or what a `LazyPayload` holds (loaded now)."""
    return value.materialize() if isinstance(value, LazyPayload) else value


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
        if isinstance(value, LazyPayload):
            return value.payload  # a table passed on: the same reference
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
        if encoding in REF_ENCODINGS:
            return LazyPayload(payload, None)  # no payload store here (a bare replay): shape only
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
