"""Table definitions as data, with append-only migrations and a version row.

Never edit a migration that has shipped: add a new one at the end.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "WFKIT_TABLES"]

MIGRATIONS: tuple[str, ...] = (
    # 1: runs and their append-only histories.
    """
    CREATE TABLE workflows (
        run_id VARCHAR PRIMARY KEY,
        workflow_id VARCHAR NOT NULL,
        workflow_type VARCHAR NOT NULL,
        task_queue VARCHAR,
        status VARCHAR NOT NULL,
        input JSON,
        result JSON,
        failure JSON,
        start_time TIMESTAMPTZ NOT NULL,
        close_time TIMESTAMPTZ,
        parent_run_id VARCHAR,
        parent_workflow_id VARCHAR,
        continued_from_run_id VARCHAR,
        forked_from_run_id VARCHAR,
        history_length INTEGER
    );
    CREATE TABLE events (
        run_id VARCHAR NOT NULL,
        event_id INTEGER NOT NULL,
        event_time TIMESTAMPTZ NOT NULL,
        event_type VARCHAR NOT NULL,
        activity_id INTEGER,
        timer_id INTEGER,
        child_id INTEGER,
        activity_type VARCHAR,
        attempt INTEGER,
        attributes JSON,
        PRIMARY KEY (run_id, event_id)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: Tables whose presence marks a wfkit database.
WFKIT_TABLES = frozenset({"wfkit_schema", "workflows", "events"})
