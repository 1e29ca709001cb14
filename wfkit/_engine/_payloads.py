"""The engine's payload converter: tables and big JSON values out of line, in the history file.

`DataConverter` wraps the converter the engine was given. Tabular values (see
`wfkit._store._payloads`) and JSON payloads above `inline_bytes` become small reference
payloads; their bytes wait in `PayloadStaging` until the writer commits them in the same
transaction as the batch that holds the referencing event (or an earlier one). Decoding a
reference reads the staged bytes, or the stored ones.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from wfkit._history._payload import MAX_PAYLOAD_BYTES, JsonConverter, JsonPayload, LazyPayload, Payload, PayloadConverter
from wfkit._store._payloads import BLOB_ENCODING, TABLE_ENCODING, StagedPayload, decode_blob, decode_table, encode_json_blob, encode_table, is_table
from wfkit.errors import PayloadError

__all__ = ["DataConverter", "PayloadStaging"]


class PayloadStaging:
    """Payload bytes encoded but not yet durable, by hash. Thread-safe: workflow code encodes on its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, StagedPayload] = {}

    def add(self, staged: StagedPayload) -> None:
        with self._lock:
            self._pending.setdefault(staged.ref, staged)

    def get(self, ref: str) -> StagedPayload | None:
        with self._lock:
            return self._pending.get(ref)

    def take(self) -> list[StagedPayload]:
        """Everything staged so far, for the next commit (kept until `committed` says it is durable)."""
        with self._lock:
            return list(self._pending.values())

    def committed(self, payloads: Sequence[StagedPayload]) -> None:
        """These payloads are durable: forget their bytes."""
        with self._lock:
            for staged in payloads:
                if self._pending.get(staged.ref) is staged:
                    del self._pending[staged.ref]

    def __len__(self) -> int:
        return len(self._pending)


class DataConverter:
    """A `PayloadConverter` that stores tables as Arrow and big JSON values as blobs, by reference.

    Args:
        inner: the converter for everything else (JSON by default, with no size limit of its own).
        staging: where encoded bytes wait for the writer.
        read: reads a stored payload's bytes by hash (None when not stored).
        inline_bytes: JSON payloads larger than this move out of line.
        lazy: decode references as `LazyPayload` handles that read on first use (for workflow code,
            so replay and recovery read no table the code does not touch); False reads at once
            (for activities and results).
    """

    def __init__(
        self,
        inner: PayloadConverter | None,
        staging: PayloadStaging,
        read: Callable[[str], bytes | None],
        *,
        inline_bytes: int = MAX_PAYLOAD_BYTES,
        lazy: bool = True,
    ) -> None:
        self.lazy = lazy
        self.inner: PayloadConverter = inner if inner is not None else JsonConverter(max_bytes=sys.maxsize)
        self.staging = staging
        self._read = read
        self.inline_bytes = inline_bytes

    def eager(self) -> DataConverter:
        """The same converter, decoding references at once (same staging, same store)."""
        return DataConverter(self.inner, self.staging, self._read, inline_bytes=self.inline_bytes, lazy=False)

    def to_payload(self, value: Any) -> Payload:
        """Encode `value`: a table as a `wfkit/table` reference, JSON above `inline_bytes` as a `wfkit/json-blob` reference."""
        if isinstance(value, LazyPayload):
            return value.payload  # passed on unread: the same reference
        if is_table(value):
            try:
                payload, staged = encode_table(value)
            except Exception as exc:  # noqa: BLE001 - pyarrow refuses some values (mixed-type object columns, ...)
                raise PayloadError(f"cannot store a {type(value).__name__} as an Arrow table: {exc}") from None
            self.staging.add(staged)
            return payload
        payload = self.inner.to_payload(value)
        if isinstance(payload, JsonPayload) and len(payload.text) > self.inline_bytes:
            ref, staged = encode_json_blob(payload.text)
            self.staging.add(staged)
            return ref
        return payload

    def from_payload(self, payload: Payload, hint: Any = Any) -> Any:
        """Decode a payload; references are read from the staged bytes or the store."""
        encoding = payload.get("encoding")
        if self.lazy and encoding in (TABLE_ENCODING, BLOB_ENCODING):
            return LazyPayload(payload, lambda: self.eager().from_payload(payload, hint))
        if encoding == TABLE_ENCODING:
            return decode_table(payload, self._bytes(payload), hint)
        if encoding == BLOB_ENCODING:
            return self.inner.from_payload({"encoding": "json/plain", "data": decode_blob(self._bytes(payload))}, hint)
        return self.inner.from_payload(payload, hint)

    def _bytes(self, payload: Payload) -> bytes:
        ref = str(payload.get("ref"))
        staged = self.staging.get(ref)
        if staged is not None:
            return staged.data
        data = self._read(ref)
        if data is None:
            raise PayloadError(f"payload {ref[:12]} is not stored in this file (its run was purged, or the history was copied without it)")
        return data
