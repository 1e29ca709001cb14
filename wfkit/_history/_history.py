"""A run's history as a value."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from wfkit._history._events import Event, EventType
from wfkit._html import escape, events_table_html

__all__ = ["History"]


@dataclass(frozen=True, slots=True)
class History:
    """The ordered, immutable events of one workflow run."""

    workflow_id: str
    run_id: str
    events: tuple[Event, ...]

    @classmethod
    def from_events(cls, events: Sequence[Event], *, workflow_id: str = "", run_id: str = "") -> History:
        """Build a history, checking that event ids run 1..n without gaps."""
        for expected, event in enumerate(events, start=1):
            if event.event_id != expected:
                raise ValueError(f"history of run {run_id or '?'} has a gap: event {expected} is missing (found {event.event_id})")
        return cls(workflow_id, run_id, tuple(events))

    @property
    def workflow_type(self) -> str | None:
        """The workflow type named by the first event, if it is a start event."""
        if self.events and self.events[0].event_type is EventType.WorkflowExecutionStarted:
            return str(self.events[0].attributes.get("workflow_type"))
        return None

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __getitem__(self, index: int) -> Event:
        return self.events[index]

    def to_dicts(self) -> list[dict[str, Any]]:
        """The events as plain dicts (one per event), for JSON or DataFrames."""
        return [
            {
                "run_id": self.run_id,
                "event_id": e.event_id,
                "event_time": datetime.datetime.fromtimestamp(e.event_time, tz=datetime.timezone.utc),
                "event_type": e.event_type.value,
                "attributes": e.attributes,
            }
            for e in self.events
        ]

    def to_json(self) -> str:
        """Serialise the history as wfkit JSON (read back with `History.from_json`)."""
        doc = {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "events": [{"event_id": e.event_id, "event_type": e.event_type.value, "event_time": e.event_time, "attributes": e.attributes} for e in self.events],
        }
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> History:
        """Parse wfkit JSON written by `to_json`."""
        doc = json.loads(text)
        events = [Event(int(e["event_id"]), EventType(e["event_type"]), float(e["event_time"]), e.get("attributes") or {}) for e in doc["events"]]
        return cls.from_events(events, workflow_id=doc.get("workflow_id", ""), run_id=doc.get("run_id", ""))

    @classmethod
    def coerce(cls, source: Any) -> History:
        """A `History` from a History, a sequence of `Event`s or event dicts, a DataFrame of the
        `events` table, or wfkit JSON text (`History.to_json`; read a file with `Path(p).read_text()`)."""
        if isinstance(source, History):
            return source
        if isinstance(source, str):
            return cls.from_json(source)
        if isinstance(source, os.PathLike):
            raise TypeError(f"pass the file's text, not its path: History.coerce(Path({os.fspath(source)!r}).read_text())")
        if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
            source = source.to_dict(orient="records")
        rows = list(source)
        if all(isinstance(row, Event) for row in rows):
            return cls.from_events(rows)
        events = []
        run_id = ""
        for row in rows:
            attrs = row.get("attributes") or {}
            if isinstance(attrs, str):
                attrs = json.loads(attrs)
            when = row["event_time"]
            seconds = when.timestamp() if hasattr(when, "timestamp") else float(when)
            events.append(Event(int(row["event_id"]), EventType(str(row["event_type"])), seconds, attrs))
            run_id = str(row.get("run_id") or run_id)
        events.sort(key=lambda e: e.event_id)
        workflow_id = str(events[0].attributes.get("workflow_id", "")) if events else ""
        return cls.from_events(events, workflow_id=workflow_id, run_id=run_id)

    def __repr__(self) -> str:
        return f"History(workflow_id={self.workflow_id!r}, run_id={self.run_id!r}, events={len(self.events)})"

    def _repr_html_(self) -> str:
        title = f"<b>{escape(self.workflow_type or '?')}</b> {escape(self.workflow_id)} <span class='wfkit-muted'>run {escape(self.run_id)}</span>"
        return f"<div>{title} · {len(self.events)} events</div>{events_table_html(self.events)}"
