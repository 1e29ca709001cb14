"""Named questions over the analytic views, as DuckDB relations.

Every function takes a `Source` (the engine's `Store` or a read-only `Histories`): anything with
`sql(query, params)`. Values are always bound as parameters; the few identifiers that vary (which
view, which column) come from fixed tables here, never from the caller's text.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import duckdb

from wfkit._history._events import Event, EventType
from wfkit._history._history import History
from wfkit._history._properties import check_properties
from wfkit.errors import ArgumentError, ConfigurationError, StoreCorruptError, WorkflowNotFoundError

__all__ = [
    "Source",
    "compare",
    "failures",
    "load_history",
    "resolve_run",
    "run_activities",
    "run_summary",
    "runs",
    "slowest",
    "stats",
    "to_timestamp",
]


class Source(Protocol):
    """Where queries run: `Store` and `Histories` both qualify."""

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """Run a query with bound parameters."""
        ...


def _rows(source: Source, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return source.sql(query, list(params)).fetchall()


#### Finding runs ####


def resolve_run(source: Source, ident: str) -> str:
    """The run id that `ident` names: a run id, a workflow id (its latest run), or a unique run-id prefix of 6+ characters.

    Raises:
        WorkflowNotFoundError: nothing matches, or a prefix matches several runs.
    """
    rows = _rows(
        source,
        "SELECT run_id, run_id = ? AS exact FROM workflows WHERE run_id = ? OR workflow_id = ? ORDER BY exact DESC, start_time DESC, run_id LIMIT 1",
        (ident, ident, ident),
    )
    if rows:
        return str(rows[0][0])
    if len(ident) >= 6:
        rows = _rows(source, "SELECT run_id FROM workflows WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 2", (ident,))
        if len(rows) == 1:
            return str(rows[0][0])
        if rows:
            raise WorkflowNotFoundError(f"{ident!r} is the start of several run ids; give more of it")
    raise WorkflowNotFoundError(f"no run or workflow with id {ident!r}")


def load_history(source: Source, run_id: str) -> History:
    """The events of one stored run as a `History`."""
    rows = _rows(
        source,
        "SELECT event_id, epoch_us(event_time), event_type, attributes FROM events WHERE run_id = ? ORDER BY event_id",
        (run_id,),
    )
    if not rows:
        raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
    try:
        events = [Event(int(i), EventType(t), us / 1_000_000, _attributes(a)) for i, us, t, a in rows]
        workflow_id = str(events[0].attributes.get("workflow_id") or "")
        return History.from_events(events, workflow_id=workflow_id, run_id=run_id)
    except ValueError as exc:  # a damaged (or hand-made) file
        raise StoreCorruptError(f"run {run_id} cannot be read: {exc}") from None


def _attributes(text: str | None) -> dict[str, Any]:
    attrs = json.loads(text) if text else {}
    if not isinstance(attrs, dict):
        raise ValueError("event attributes are not a JSON object")
    return attrs


def run_summary(source: Source, run_id: str) -> dict[str, Any]:
    """The `runs` row of one run, as a dict."""
    rel = source.sql("SELECT * FROM runs WHERE run_id = ?", [run_id])
    rows = rel.fetchall()
    if not rows:
        raise WorkflowNotFoundError(f"no run with run id {run_id!r}")
    return dict(zip(rel.columns, rows[0], strict=True))


def run_activities(source: Source, run_id: str) -> list[dict[str, Any]]:
    """The `activities` rows of one run (every attempt), in order."""
    rel = source.sql(
        "SELECT * EXCLUDE (run_id, workflow_id, workflow_type, input) FROM activities WHERE run_id = ?"
        " ORDER BY coalesce(started_event_id, scheduled_event_id), attempt",
        [run_id],
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


_RUN_COLUMNS = (
    "workflow_id, run_id, workflow_type, status, start_time, duration_s, activity_count, activity_attempts, failed_attempts, event_count, parent_workflow_id"
)


def runs(
    source: Source,
    *,
    status: str | None = None,
    workflow_type: str | None = None,
    search_attributes: Mapping[str, Any] | None = None,
    limit: int | None = 50,
) -> duckdb.DuckDBPyRelation:
    """Runs, newest first, optionally of one status (case-insensitive), workflow type and search attribute values.

    A run matches `search_attributes` when each named attribute equals the value given (compared as
    text, so `{"rows": 3}` and `{"rows": "3"}` match alike) or, for a list attribute, contains it.
    """
    query = (
        f"SELECT {_RUN_COLUMNS}, search_attributes, memo FROM runs"
        " WHERE (CAST(? AS VARCHAR) IS NULL OR lower(status) = lower(?)) AND (CAST(? AS VARCHAR) IS NULL OR workflow_type = ?)"
    )
    params: list[Any] = [status, status, workflow_type, workflow_type]
    for name, value in check_properties(search_attributes, "search_attributes").items():
        path = '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        query += " AND (json_extract_string(search_attributes, ?) = ? OR list_contains(json_extract_string(search_attributes, ? || '[*]'), ?))"
        text = value if isinstance(value, str) else json.dumps(value)
        params += [path, text, path, text]
    query += " ORDER BY start_time DESC, run_id"
    if limit is not None:
        query += " LIMIT ?"
        params.append(_positive(limit, "limit"))
    return source.sql(query, params)


#### Questions ####

_STATS = {
    "activity": "SELECT * FROM activity_stats ORDER BY activity_type",
    "workflow": """
        SELECT
            workflow_type,
            count(*) AS runs,
            count(*) FILTER (WHERE status = 'Completed') AS completed,
            count(*) FILTER (WHERE status = 'Failed') AS failed,
            count(*) FILTER (WHERE status NOT IN ('Completed', 'Failed', 'Running')) AS other_closed,
            count(*) FILTER (WHERE status = 'Running') AS running,
            count(*) FILTER (WHERE status = 'Failed') / nullif(count(close_time), 0) AS failure_rate,
            quantile_cont(duration_s, 0.5) AS p50_s,
            quantile_cont(duration_s, 0.95) AS p95_s,
            quantile_cont(duration_s, 0.99) AS p99_s,
            max(duration_s) AS max_s,
            avg(activity_count) AS mean_activities,
            sum(event_count) AS events
        FROM runs GROUP BY workflow_type ORDER BY workflow_type
    """,
}


def stats(source: Source, by: str = "activity") -> duckdb.DuckDBPyRelation:
    """Per activity type (`activity_stats`), or per workflow type (`by="workflow"`)."""
    if by not in _STATS:
        raise ConfigurationError(f"stats(by=...) takes one of {sorted(_STATS)}, not {by!r}")
    return source.sql(_STATS[by])


# kind -> (view, columns, type column, which rows, tie-breaking order)
_SLOWEST = {
    "activities": (
        "activities",
        "workflow_id, run_id, activity_type, activity_id, attempt, status, duration_s, queue_wait_s, started_time",
        "activity_type",
        "status IN ('completed', 'failed', 'timed_out')",
        "run_id, activity_id, attempt",
    ),
    "runs": (
        "runs",
        "workflow_id, run_id, workflow_type, status, duration_s, start_time, activity_count, activity_attempts",
        "workflow_type",
        "duration_s IS NOT NULL",
        "run_id",
    ),
}


def slowest(
    source: Source,
    n: int = 10,
    *,
    kind: str = "activities",
    type: str | None = None,  # noqa: A002
    include_lost: bool = False,
) -> duckdb.DuckDBPyRelation:
    """The `n` slowest attempts that ended (`kind="activities"`; cancelled ones left out, and attempts lost with
    their engine unless `include_lost`) or closed runs (`kind="runs"`), optionally of one type."""
    if kind not in _SLOWEST:
        raise ConfigurationError(f"slowest(kind=...) takes one of {sorted(_SLOWEST)}, not {kind!r}")
    view, columns, type_column, which, ties = _SLOWEST[kind]
    if include_lost and kind == "activities":
        which = "status IN ('completed', 'failed', 'timed_out', 'lost')"
    return source.sql(
        f"SELECT {columns} FROM {view} WHERE {which} AND (CAST(? AS VARCHAR) IS NULL OR {type_column} = ?) ORDER BY duration_s DESC, {ties} LIMIT ?",
        [type, type, _positive(n, "n")],
    )


def failures(source: Source, since: Any = None, *, final_only: bool = False, include_lost: bool = False) -> duckdb.DuckDBPyRelation:
    """Failed activity attempts and failed or terminated runs, newest first, closed at or after `since`.

    `since` is a datetime (naive means local time), a date, a timedelta (that long ago), seconds
    since the epoch, an ISO 8601 string, or None (everything). `final_only` drops attempts that
    were retried; `include_lost` adds the attempts lost with their engine (status `lost`).
    """
    when = to_timestamp(since)
    statuses = "'failed', 'timed_out', 'lost'" if include_lost else "'failed', 'timed_out'"
    return source.sql(
        f"""
        SELECT closed_time AS time, 'activity' AS kind, workflow_id, workflow_type, run_id, activity_type AS name,
               activity_id, attempt, status, retried, failure_type, failure_message
        FROM activities
        WHERE status IN ({statuses}) AND (CAST(? AS TIMESTAMPTZ) IS NULL OR closed_time >= ?) AND (NOT ? OR final)
        UNION ALL
        SELECT close_time, 'workflow', workflow_id, workflow_type, run_id, workflow_type,
               NULL, NULL, status, false, coalesce(failure_type, status), coalesce(failure_message, reason)
        FROM runs
        WHERE status IN ('Failed', 'Terminated') AND (CAST(? AS TIMESTAMPTZ) IS NULL OR close_time >= ?)
        ORDER BY time DESC, run_id, activity_id NULLS FIRST, attempt
        """,
        [when, when, final_only, when, when],
    )


def compare(source: Source, run_a: str, run_b: str, *, duration_tolerance: float = 0.5, min_duration_change: float = 0.01) -> duckdb.DuckDBPyRelation:
    """Two runs side by side, one row per activity, matched by type and occurrence (the 2nd `extract` with the 2nd `extract`).

    `differences` lists what differs: `only_in_a` / `only_in_b`, `status`, `attempts`, `result`,
    `failure`, and `duration` when the times (scheduled to final close) differ by more than
    `duration_tolerance` of the longer one and by more than `min_duration_change` seconds.
    `result_diff` says briefly how the results differ (the changed keys of two objects, the lengths
    of two lists). When `run_b` is a fork, `in_b` says what became of each step there: `reused`
    (copied from the history it was forked from), `edited` (a what-if fork's replaced result) or
    `ran` (run again, or for the first time).
    """
    a = resolve_run(source, run_a)
    b = resolve_run(source, run_b)
    return source.sql(
        """
        WITH fork AS (
            SELECT CAST(attributes->>'$.forked_at_event' AS BIGINT) AS cut FROM events WHERE run_id = ? AND event_id = 1
        ),
        edited AS (
            SELECT DISTINCT CAST(attributes->>'$.activity_id' AS BIGINT) AS activity_id FROM events
            WHERE run_id = ? AND (attributes->'$.what_if') IS NOT NULL AND (attributes->>'$.activity_id') IS NOT NULL
        ),
        per AS (
            SELECT
                run_id,
                activity_id,
                min(scheduled_event_id) AS scheduled_event_id,
                any_value(activity_type) AS activity_type,
                coalesce(max(attempt), 0) AS attempts,
                arg_max(status, coalesce(closed_event_id, started_event_id, scheduled_event_id)) AS status,
                (epoch_us(max(closed_time)) - epoch_us(min(scheduled_time))) / 1000000 AS seconds,
                CAST(arg_max(result, coalesce(closed_event_id, 0)) AS VARCHAR) AS result,
                arg_max(failure_message, coalesce(closed_event_id, 0)) FILTER (WHERE final) AS failure
            FROM activities WHERE run_id = ? OR run_id = ?
            GROUP BY run_id, activity_id
        ),
        numbered AS (
            SELECT *, row_number() OVER (PARTITION BY run_id, activity_type ORDER BY activity_id) AS occurrence FROM per
        ),
        ra AS (SELECT * FROM numbered WHERE run_id = ?),
        rb AS (SELECT * FROM numbered WHERE run_id = ?),
        joined AS (
            SELECT
                coalesce(ra.activity_type, rb.activity_type) AS activity_type,
                coalesce(ra.occurrence, rb.occurrence) AS occurrence,
                ra.activity_id AS activity_id_a, rb.activity_id AS activity_id_b,
                ra.status AS status_a, rb.status AS status_b,
                ra.attempts AS attempts_a, rb.attempts AS attempts_b,
                ra.seconds AS seconds_a, rb.seconds AS seconds_b,
                ra.result AS result_a, rb.result AS result_b,
                ra.failure AS failure_a, rb.failure AS failure_b,
                CASE
                    WHEN rb.activity_id IS NULL THEN NULL
                    WHEN rb.activity_id IN (SELECT activity_id FROM edited) THEN 'edited'
                    WHEN rb.scheduled_event_id <= (SELECT cut FROM fork) THEN 'reused'
                    ELSE 'ran'
                END AS in_b
            FROM ra FULL JOIN rb ON ra.activity_type = rb.activity_type AND ra.occurrence = rb.occurrence
        )
        SELECT
            * EXCLUDE (in_b),
            in_b,
            CASE
                WHEN result_a IS NOT DISTINCT FROM result_b OR result_a IS NULL OR result_b IS NULL THEN NULL
                WHEN json_type(result_a) = 'OBJECT' AND json_type(result_b) = 'OBJECT' THEN array_to_string(list_transform(
                    list_filter(
                        json_keys(result_a) || list_filter(json_keys(result_b), lambda k: NOT list_contains(json_keys(result_a), k)),
                        lambda k: json_extract(result_a, ('$."' || k || '"')) IS DISTINCT FROM json_extract(result_b, ('$."' || k || '"'))
                    ),
                    lambda k: k || ': ' || coalesce(CAST(json_extract(result_a, ('$."' || k || '"')) AS VARCHAR), '(none)')
                        || ' -> ' || coalesce(CAST(json_extract(result_b, ('$."' || k || '"')) AS VARCHAR), '(none)')
                ), ', ')
                WHEN json_type(result_a) = 'ARRAY' AND json_type(result_b) = 'ARRAY' THEN
                    json_array_length(result_a) || ' items -> ' || json_array_length(result_b) || ' items'
                ELSE left(result_a, 40) || ' -> ' || left(result_b, 40)
            END AS result_diff,
            list_filter([
                CASE WHEN activity_id_b IS NULL THEN 'only_in_a' END,
                CASE WHEN activity_id_a IS NULL THEN 'only_in_b' END,
                CASE WHEN activity_id_a IS NOT NULL AND activity_id_b IS NOT NULL THEN CASE WHEN status_a <> status_b THEN 'status' END END,
                CASE WHEN activity_id_a IS NOT NULL AND activity_id_b IS NOT NULL THEN CASE WHEN attempts_a <> attempts_b THEN 'attempts' END END,
                CASE WHEN activity_id_a IS NOT NULL AND activity_id_b IS NOT NULL THEN CASE WHEN result_a IS DISTINCT FROM result_b THEN 'result' END END,
                CASE WHEN activity_id_a IS NOT NULL AND activity_id_b IS NOT NULL THEN CASE WHEN failure_a IS DISTINCT FROM failure_b THEN 'failure' END END,
                CASE WHEN abs(seconds_b - seconds_a) > greatest(? * greatest(seconds_a, seconds_b), ?) THEN 'duration' END
            ], lambda x: x IS NOT NULL) AS differences
        FROM joined
        ORDER BY coalesce(activity_id_a, activity_id_b), activity_id_b
        """,
        [b, b, a, b, a, b, float(duration_tolerance), float(min_duration_change)],
    )


#### Helpers ####


def to_timestamp(since: Any) -> datetime.datetime | None:
    """An aware datetime for `since` (see `failures`)."""
    if since is None:
        return None
    if isinstance(since, datetime.datetime):
        return since if since.tzinfo is not None else since.astimezone()
    if isinstance(since, datetime.date):
        return datetime.datetime.combine(since, datetime.time()).astimezone()
    if isinstance(since, datetime.timedelta):
        return datetime.datetime.now(datetime.timezone.utc) - since
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return datetime.datetime.fromtimestamp(since, tz=datetime.timezone.utc)
    if isinstance(since, str):
        try:
            return to_timestamp(datetime.datetime.fromisoformat(since))
        except ValueError:
            raise ConfigurationError(f"since={since!r} is not an ISO 8601 date or time") from None
    raise ArgumentError(f"since must be a datetime, date, timedelta, number of seconds or ISO string, not {type(since).__name__}")


def _positive(n: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigurationError(f"{name} must be a positive integer, not {n!r}")
    return n
