"""When a schedule fires: a cron expression or a fixed interval, in a time zone, between two instants.

Pure and deterministic (the scheduler workflow computes its fire times with it on replay too).
Cron expressions are evaluated by `cronsim`, which follows cron's DST rules: a firing in the hour
skipped at spring-forward runs once, right after the change; a firing in the hour repeated at
fall-back runs once, at its first occurrence (expressions firing every minute or every few minutes
fire in both passes, as cron's do). Intervals are aligned to the Unix epoch plus an offset, so
`every=timedelta(hours=1)` fires on the hour whatever the time zone.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from wfkit.errors import ArgumentError

__all__ = ["ScheduleSpec", "iso", "parse_instant", "seconds"]

UTC = datetime.timezone.utc


@dataclass(frozen=True)
class ScheduleSpec:
    """When a schedule fires. All instants are Unix seconds; `every`, `offset` and `jitter` are seconds."""

    cron: str | None = None
    every: float | None = None
    offset: float = 0.0
    timezone: str = "UTC"
    start_at: float | None = None
    end_at: float | None = None
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise ArgumentError("a schedule needs exactly one of cron='0 2 * * *' or every=timedelta(...)")
        if self.every is not None and self.every <= 0:
            raise ArgumentError(f"every= must be a positive interval, got {self.every}s")
        if self.jitter < 0:
            raise ArgumentError(f"jitter= must not be negative, got {self.jitter}s")
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ArgumentError(f"end_at ({iso(self.end_at)}) must be after start_at ({iso(self.start_at)})")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ArgumentError(f"unknown time zone {self.timezone!r} (an IANA name such as 'Europe/Berlin')") from None
        if self.cron is not None:
            try:
                CronSim(self.cron, datetime.datetime.now(zone))
            except CronSimError as exc:
                raise ArgumentError(f"bad cron expression {self.cron!r}: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleSpec:
        """The spec `to_dict` wrote."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the form kept in the scheduler's history)."""
        return asdict(self)

    def next_after(self, instant: float) -> float | None:
        """The first fire time strictly after `instant` (and not before `start_at`); None past `end_at`."""
        for when in self._times_after(instant):
            return when
        return None

    def between(self, start: float, end: float) -> list[float]:
        """Every fire time `t` with start <= t < end."""
        times: list[float] = []
        for when in self._times_after(start - 1e-6):
            if when >= end:
                break
            times.append(when)
        return times

    def upcoming(self, instant: float, count: int) -> list[float]:
        """The next `count` fire times after `instant` (fewer if the schedule ends)."""
        times: list[float] = []
        for when in self._times_after(instant):
            if len(times) >= count:
                break
            times.append(when)
        return times

    def jitter_for(self, schedule_id: str, when: float) -> float:
        """The delay (0 <= d < jitter) of the firing at `when`: random, and the same on every replay."""
        return random.Random(f"{schedule_id}@{when}").uniform(0, self.jitter) if self.jitter else 0.0

    def describe(self) -> str:
        """'cron 0 2 * * * (Europe/Berlin)' or 'every 15m'."""
        what = f"cron {self.cron}" if self.cron is not None else f"every {_duration(self.every or 0)}"
        return f"{what} ({self.timezone})" if self.cron is not None else what

    def _times_after(self, instant: float) -> Iterator[float]:
        if self.start_at is not None:
            instant = max(instant, self.start_at - 1e-6)
        if self.every is not None:
            step = self.every
            k = (instant - self.offset) // step + 1
            while True:
                when = self.offset + k * step
                if self.end_at is not None and when > self.end_at:
                    return
                yield when
                k += 1
        zone = ZoneInfo(self.timezone)
        # cronsim moves from a whole minute; start at the instant's minute so nothing is skipped.
        begin = datetime.datetime.fromtimestamp(instant, zone).replace(second=0, microsecond=0)
        for local in CronSim(self.cron or "", begin):
            when = local.timestamp()
            if when <= instant:
                continue
            if self.end_at is not None and when > self.end_at:
                return
            yield when


def _duration(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value:g}s"


def seconds(value: datetime.timedelta | float | None, name: str) -> float | None:
    """A timedelta or a number of seconds as seconds; a clear error for anything else."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ArgumentError(f"{name}= must be a timedelta or a number of seconds, got {value!r}")


def parse_instant(value: datetime.datetime | datetime.date | str | float | None, name: str, zone: str = "UTC") -> float | None:
    """A datetime (naive ones are read in `zone`), a date (its midnight in `zone`), an ISO string or Unix seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ArgumentError(f"{name}= is not an ISO date or time: {value!r}") from None
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(zone))).timestamp()
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(), ZoneInfo(zone)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ArgumentError(f"{name}= must be a datetime, a date, an ISO string or Unix seconds, got {value!r}")


def iso(instant: float) -> str:
    """Unix seconds as an ISO UTC time: '2026-12-02T02:00:00Z'."""
    text = datetime.datetime.fromtimestamp(instant, UTC).isoformat()
    return text.replace("+00:00", "Z")
