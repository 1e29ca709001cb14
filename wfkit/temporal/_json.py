"""Reading the pieces of Temporal's proto3 JSON: ids, times, durations, payloads, failures.

Every reader takes the JSON path of the value it reads, so a malformed history fails with a
`HistoryFormatError` that names the file and the exact place of the problem.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from typing import Any

from wfkit.errors import HistoryFormatError

__all__ = [
    "INVALID_JSON",
    "MAX_DEPTH",
    "Reader",
    "check_value",
    "encode_payload",
    "format_duration",
    "format_time",
    "parse_json",
    "seed_for_run",
]

_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"^(-?\d+)(?:\.(\d{1,9}))?s$")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

#: How deep a failure's chain of causes may go before the history is called malformed.
MAX_CAUSE_DEPTH = 64

#: How deep the JSON of one event (or of one decoded payload) may nest: deeper is refused, so no
#: walk over it (ours, `json`, DuckDB's) can hit a recursion limit.
MAX_DEPTH = 200

#: Event times wfkit can store (DuckDB TIMESTAMPTZ, Python datetimes): from 1970 to before year 9999.
#: The `encoding` of a `json/plain` (or `json/protobuf`) payload whose data is not JSON: kept as base64.
INVALID_JSON = "binary/invalid-json"

_LATEST_TIME = 253370764800.0  # 9999-01-01T00:00:00Z
_INT64 = 2**63
_INT32 = 2**31


def check_value(value: Any, path: str, file: str | None, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse what cannot be stored, without recursion: nesting deeper than `max_depth`, strings
    (or keys) with lone surrogates, floats that are not finite, values that are not JSON."""
    stack: list[tuple[Any, int, Any]] = [(value, 0, None)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            if not _storable_text(item):
                raise HistoryFormatError(f"a string holds a lone surrogate ({_short(item)}), which cannot be stored", file=file, json_path=_path(path, where))
        elif isinstance(item, dict):
            if depth >= max_depth:
                raise HistoryFormatError(f"nested more than {max_depth} levels deep", file=file, json_path=_path(path, where))
            for key, child in item.items():
                if not isinstance(key, str) or not _storable_text(key):
                    raise HistoryFormatError(f"invalid object key {key!r}", file=file, json_path=_path(path, where))
                if not isinstance(child, (int, str, bool)) or (isinstance(child, str) and not child.isascii()):
                    stack.append((child, depth + 1, (where, key)))
        elif isinstance(item, list):
            if depth >= max_depth:
                raise HistoryFormatError(f"nested more than {max_depth} levels deep", file=file, json_path=_path(path, where))
            for index in range(len(item) - 1, -1, -1):
                child = item[index]
                if not isinstance(child, (int, str, bool)) or (isinstance(child, str) and not child.isascii()):
                    stack.append((child, depth + 1, (where, index)))
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise HistoryFormatError("a number is too large (or not finite) to store", file=file, json_path=_path(path, where))
        elif item is not None and not isinstance(item, (int, bool)):
            raise HistoryFormatError(f"not JSON data: {type(item).__name__}", file=file, json_path=_path(path, where))


def _storable_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path(base: str, where: Any) -> str:
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    parts.reverse()
    if len(parts) > 12:  # a path into deep nesting: its start, and how much deeper it goes
        parts = [*parts[:10], f"...({len(parts) - 10} levels deeper)"]
    return base + "".join(parts)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _nesting(text: str | bytes, limit: int) -> bool:
    """True when the JSON text nests deeper than `limit` (counted without recursion, strings skipped)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b"", data)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def parse_json(text: str | bytes, file: str | None, what: str = "history") -> Any:
    """`json.loads` that refuses NaN/Infinity and turns every parse problem into `HistoryFormatError`.

    Text nested deeper than an event may be is refused before `json` reads it, so no recursion
    limit is ever reached (in `json`, or in the interpreter's own bookkeeping after one).
    """
    if _nesting(text, MAX_DEPTH + 8):
        raise HistoryFormatError(f"the {what} is nested too deeply to read (more than {MAX_DEPTH} levels)", file=file)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise HistoryFormatError(f"the {what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=file) from None
    except UnicodeDecodeError as exc:
        raise HistoryFormatError(f"the {what} is not UTF-8 text: {exc.reason} at byte {exc.start}", file=file) from None
    except ValueError as exc:
        raise HistoryFormatError(f"the {what} is not valid JSON: {exc}", file=file) from None
    except RecursionError:
        raise HistoryFormatError(f"the {what} is nested too deeply to read", file=file) from None


def seed_for_run(run_id: str) -> int:
    """The `wfkit.random()` seed of a run executed on Temporal: derived from its run id, so a replay finds it."""
    import hashlib

    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big") >> 1


def format_time(seconds: float, original: str | None = None) -> str:
    """RFC 3339 with a `Z`, as Temporal writes it."""
    if original is not None:
        return original
    moment = _EPOCH + datetime.timedelta(microseconds=round(seconds * 1_000_000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_duration(seconds: float | None) -> str:
    """A proto3 JSON duration: `"10s"`, `"0.500s"`."""
    if not seconds:
        return "0s"
    nanos = round(seconds * 1_000_000_000)
    whole, frac = divmod(nanos, 1_000_000_000)
    return f"{whole}s" if frac == 0 else f"{whole}.{frac:09d}".rstrip("0") + "s"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def encode_payload(payload: Any) -> dict[str, Any]:
    """A wfkit payload as a Temporal JSON payload (base64 `data` and `metadata`)."""
    if not isinstance(payload, dict):
        payload = {"encoding": "json/plain", "data": payload}
    metadata = dict(payload.get("metadata") or {})
    encoding = str(metadata.get("encoding", payload.get("encoding", "json/plain")))
    metadata["encoding"] = encoding
    meta_out = {k: (v["base64"] if isinstance(v, dict) and "base64" in v else _b64(str(v))) for k, v in metadata.items()}
    if payload.get("encoding") == "json/plain":
        if encoding == "binary/null":
            return {"metadata": meta_out}
        if encoding == "binary/plain":
            return {"metadata": meta_out, "data": str(payload.get("data") or "")}
        data = json.dumps(payload.get("data"), separators=(",", ":"), allow_nan=False).encode()
        return {"metadata": meta_out, "data": base64.b64encode(data).decode("ascii")}
    return {"metadata": meta_out, "data": str(payload.get("data") or "")}


class Reader:
    """Typed access to one history's JSON, raising `HistoryFormatError` with the file and JSON path."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.warnings: list[str] = []
        """What was read but kept as it is (a `json/plain` payload that is not JSON, ...), one line each."""

    def error(self, path: str, problem: str) -> HistoryFormatError:
        return HistoryFormatError(problem, file=self.file, json_path=path)

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, found {_kind(value)}")
        return value

    def child(self, parent: dict[str, Any], key: str, path: str, *, required: bool = False) -> dict[str, Any]:
        """The object under `key` ({} when absent and not required)."""
        if key not in parent or parent[key] is None:
            if required:
                raise self.error(path, f"missing {key!r}")
            return {}
        return self.obj(parent[key], f"{path}.{key}")

    def string(self, parent: dict[str, Any], key: str, path: str, *, required: bool = False, default: str = "") -> str:
        value = parent.get(key)
        if value is None:
            if required:
                raise self.error(path, f"missing {key!r}")
            return default
        if not isinstance(value, str):
            raise self.error(f"{path}.{key}", f"expected a string, found {_kind(value)}")
        return value

    def integer(self, parent: dict[str, Any], key: str, path: str, *, required: bool = False, default: int = 0) -> int:
        """An int32/int64 field: a JSON number or (int64) a decimal string."""
        value = parent.get(key)
        if value is None:
            if required:
                raise self.error(path, f"missing {key!r}")
            return default
        if isinstance(value, bool):
            raise self.error(f"{path}.{key}", "expected an integer, found a boolean")
        if isinstance(value, int):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip())):
            number = int(value)
        else:
            raise self.error(f"{path}.{key}", f"expected an integer, found {_kind(value)} {_short(value)}")
        if not -_INT64 <= number < _INT64:
            raise self.error(f"{path}.{key}", f"the integer {_short(value)} is out of range (a 64-bit integer)")
        return number

    def attempt(self, parent: dict[str, Any], key: str, path: str) -> int:
        """An attempt number (int32, from 1; absent or 0 means 1)."""
        value = self.integer(parent, key, path, default=1)
        if value < 0 or value >= _INT32:
            raise self.error(f"{path}.{key}", f"an attempt must be between 1 and {_INT32 - 1}, found {value}")
        return value or 1

    def number(self, parent: dict[str, Any], key: str, path: str, default: float) -> float:
        value = parent.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(f"{path}.{key}", f"expected a number, found {_kind(value)}")
        try:
            return float(value)
        except ValueError:
            raise self.error(f"{path}.{key}", f"expected a number, found {_short(value)}") from None

    def boolean(self, parent: dict[str, Any], key: str, path: str) -> bool:
        value = parent.get(key, False)
        if not isinstance(value, bool):
            raise self.error(f"{path}.{key}", f"expected true or false, found {_kind(value)}")
        return value

    def duration(self, parent: dict[str, Any], key: str, path: str) -> float | None:
        """A proto3 duration ("10s", "0.100s") in seconds; None when absent or zero (Temporal's "not set")."""
        value = parent.get(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.match(value.strip())):
            whole, frac = match.groups()
            if whole.startswith("-"):
                raise self.error(f"{path}.{key}", f"a duration cannot be negative ({_short(value)})")
            seconds = int(whole) + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)
        else:
            raise self.error(f"{path}.{key}", f'expected a duration such as "10s", found {_short(value)}')
        if seconds < 0:
            raise self.error(f"{path}.{key}", f"a duration cannot be negative ({_short(value)})")
        return seconds or None

    def time(self, parent: dict[str, Any], key: str, path: str) -> float:
        """An RFC 3339 timestamp in seconds since the epoch."""
        value = parent.get(key)
        if not isinstance(value, str):
            raise self.error(
                f"{path}.{key}" if key in parent else path, f"expected an RFC 3339 time, found {_kind(value)}" if key in parent else f"missing {key!r}"
            )
        match = _TIME.match(value.strip())
        if match is None:
            raise self.error(f"{path}.{key}", f"expected an RFC 3339 time such as 2026-11-27T17:00:20.733Z, found {_short(value)}")
        day, clock, frac, zone = match.groups()
        try:
            moment = datetime.datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone in ('Z', 'z') else zone}")
        except ValueError as exc:
            raise self.error(f"{path}.{key}", f"invalid time {_short(value)}: {exc}") from None
        seconds = (moment - _EPOCH).total_seconds() + (int(frac.ljust(9, "0")) / 1e9 if frac else 0.0)
        if not 0 <= seconds < _LATEST_TIME:
            raise self.error(f"{path}.{key}", f"the time {_short(value)} is out of range (wfkit stores times from 1970 to before 9999)")
        return seconds

    def base64(self, value: Any, path: str) -> bytes:
        if not isinstance(value, str):
            raise self.error(path, f"expected base64 text, found {_kind(value)}")
        text = value.strip()
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
        try:  # proto3 JSON also accepts URL-safe base64 and a missing padding
            return base64.b64decode((text + "=" * (-len(text) % 4)).translate(str.maketrans("-_", "+/")), validate=True)
        except (binascii.Error, ValueError):
            raise self.error(path, f"invalid base64 {_short(value)}") from None

    def payloads(self, parent: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        """The payloads of a `Payloads` field (`{"payloads": [...]}`), decoded."""
        holder = self.child(parent, key, path)
        items = holder.get("payloads")
        if items is None:
            return []
        where = f"{path}.{key}.payloads"
        if not isinstance(items, list):
            raise self.error(where, f"expected a list of payloads, found {_kind(items)}")
        return [self.payload(item, f"{where}[{i}]") for i, item in enumerate(items)]

    def first_payload(self, parent: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
        items = self.payloads(parent, key, path)
        return items[0] if items else None

    def payload(self, value: Any, path: str) -> dict[str, Any]:
        """One payload, decoded where its encoding is known, else kept as base64 with its encoding."""
        item = self.obj(value, path)
        raw_meta = self.child(item, "metadata", path)
        metadata: dict[str, Any] = {}
        for name, encoded in raw_meta.items():
            data = self.base64(encoded, f"{path}.metadata.{name}")
            try:
                metadata[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                metadata[name] = {"base64": encoded}
        raw_data = item.get("data")
        if raw_data is None:  # proto3 JSON: null is the default (no data)
            raw_data = ""
        data = self.base64(raw_data, f"{path}.data")
        encoding = metadata.get("encoding")
        extra = {k: v for k, v in metadata.items() if k != "encoding"}
        if encoding == "json/plain" or encoding == "json/protobuf":
            try:
                value = parse_json(data, self.file, "payload") if data else None
                check_value(value, f"{path}.data", self.file)
            except HistoryFormatError as exc:  # kept as raw bytes: the history is still good
                self.warnings.append(f"{path}.data: {exc.problem}; kept as raw bytes")
                return {"encoding": INVALID_JSON, "data": base64.b64encode(data).decode("ascii"), "metadata": metadata}
            out: dict[str, Any] = {"encoding": "json/plain", "data": value}
            if encoding != "json/plain" or extra:
                out["metadata"] = metadata
            return out
        if encoding == "binary/null":
            return {"encoding": "json/plain", "data": None, "metadata": metadata}
        if encoding == "binary/plain":
            return {"encoding": "json/plain", "data": base64.b64encode(data).decode("ascii"), "metadata": metadata}
        # Unknown (or encrypted, or binary protobuf): kept as it is, base64 and all.
        name = encoding if isinstance(encoding, str) and encoding else "binary/unknown"
        return {"encoding": name, "data": base64.b64encode(data).decode("ascii"), "metadata": metadata}

    def failure(self, value: Any, path: str, depth: int = 0) -> dict[str, Any]:
        """A Temporal `Failure` as wfkit records one: type, message, stack, non_retryable (and cause)."""
        item = self.obj(value, path)
        if depth > MAX_CAUSE_DEPTH:
            raise self.error(path, f"a failure's causes are nested more than {MAX_CAUSE_DEPTH} deep")
        app = self.child(item, "applicationFailureInfo", path)
        timeout = self.child(item, "timeoutFailureInfo", path)
        if app:
            type_name = self.string(app, "type", f"{path}.applicationFailureInfo") or "ApplicationError"
        elif "timeoutFailureInfo" in item:
            type_name = "TimeoutError"
        elif "canceledFailureInfo" in item:
            type_name = "Canceled"
        elif "terminatedFailureInfo" in item:
            type_name = "Terminated"
        elif "activityFailureInfo" in item:
            type_name = "ActivityError"
        elif "childWorkflowExecutionFailureInfo" in item:
            type_name = "ChildWorkflowError"
        elif "serverFailureInfo" in item:
            type_name = "ServerError"
        elif "resetWorkflowFailureInfo" in item:
            type_name = "ResetWorkflow"
        else:
            type_name = "Failure"
        failure: dict[str, Any] = {
            "type": type_name,
            "message": self.string(item, "message", path),
            "stack": self.string(item, "stackTrace", path),
            "non_retryable": self.boolean(app, "nonRetryable", f"{path}.applicationFailureInfo") if app else type_name in ("Canceled", "Terminated"),
        }
        if timeout:
            failure["timeout_type"] = enum_value(self.string(timeout, "timeoutType", f"{path}.timeoutFailureInfo"), "TIMEOUT_TYPE")
        source = self.string(item, "source", path)
        if source:
            failure["source"] = source
        if item.get("cause") is not None:
            failure["cause"] = self.failure(item["cause"], f"{path}.cause", depth + 1)
        return failure


def enum_value(value: str, prefix: str) -> str:
    """`RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED` (or `MaximumAttemptsReached`) -> `MaximumAttemptsReached`."""
    if value.startswith(prefix + "_"):
        return "".join(word.capitalize() for word in value[len(prefix) + 1 :].split("_"))
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) or value is None else _kind(value)
    return text if len(text) <= 60 else text[:57] + "..."
