"""Table definitions as data, with append-only migrations and a version row.

Never edit a migration that has shipped: add a new one at the end.
"""

from __future__ import annotations

__all__ = ["ANALYTIC_VIEWS", "MIGRATIONS", "PAYLOADS_VIEW", "SCHEMA_VERSION", "VIEW_NAMES", "WFKIT_TABLES"]

# Analytic views, computed from `events` alone (plus `workflows.status` for runs whose history
# does not close them, such as Temporal runs still running elsewhere), so they are right for
# imported histories too. Durations are DOUBLE seconds computed from whole microseconds.
# Migration 2 holds this text for good: a later change to a view appends a new migration with
# the new definitions (CREATE OR REPLACE) and points ANALYTIC_VIEWS at it.
_VIEWS_V2 = """
CREATE OR REPLACE VIEW runs AS
WITH
started AS (
    SELECT run_id, event_time AS start_time, attributes AS a FROM events WHERE event_type = 'WorkflowExecutionStarted'
),
closing AS (
    SELECT run_id, event_type, event_time AS close_time, attributes AS a FROM events WHERE event_type IN (
        'WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionCanceled',
        'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew'
    )
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY event_id) = 1
),
counts AS (
    SELECT
        run_id,
        count(*) AS event_count,
        max(event_time) AS last_event_time,
        count(*) FILTER (WHERE event_type = 'WorkflowTaskStarted') AS workflow_tasks,
        count(*) FILTER (WHERE event_type = 'WorkflowTaskFailed') AS workflow_task_failures,
        count(*) FILTER (WHERE event_type = 'ActivityTaskScheduled') AS activity_count,
        count(*) FILTER (WHERE event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut')) AS failed_attempts,
        count(*) FILTER (WHERE event_type = 'TimerStarted') AS timer_count,
        count(*) FILTER (WHERE event_type = 'WorkflowExecutionSignaled') AS signal_count,
        count(*) FILTER (WHERE event_type = 'StartChildWorkflowExecutionInitiated') AS child_count
    FROM events GROUP BY run_id
),
attempts AS (
    SELECT run_id, sum(last_attempt) AS activity_attempts, count(*) FILTER (WHERE last_attempt > 1) AS retried_activities
    FROM (SELECT run_id, activity_id, max(attempt) AS last_attempt FROM events WHERE event_type = 'ActivityTaskStarted' GROUP BY ALL)
    GROUP BY run_id
)
SELECT
    s.run_id,
    s.a->>'$.workflow_id' AS workflow_id,
    s.a->>'$.workflow_type' AS workflow_type,
    s.a->>'$.task_queue' AS task_queue,
    CASE c.event_type
        WHEN 'WorkflowExecutionCompleted' THEN 'Completed'
        WHEN 'WorkflowExecutionFailed' THEN 'Failed'
        WHEN 'WorkflowExecutionCanceled' THEN 'Canceled'
        WHEN 'WorkflowExecutionTerminated' THEN 'Terminated'
        WHEN 'WorkflowExecutionContinuedAsNew' THEN 'ContinuedAsNew'
        ELSE coalesce(w.status, 'Running')
    END AS status,
    s.start_time,
    c.close_time,
    (epoch_us(c.close_time) - epoch_us(s.start_time)) / 1000000 AS duration_s,
    n.event_count,
    n.last_event_time,
    n.workflow_tasks,
    n.workflow_task_failures,
    n.activity_count,
    CAST(coalesce(t.activity_attempts, 0) AS BIGINT) AS activity_attempts,
    coalesce(t.retried_activities, 0) AS retried_activities,
    n.failed_attempts,
    n.timer_count,
    n.signal_count,
    n.child_count,
    s.a->'$.input' AS input,
    c.a->'$.result.data' AS result,
    c.a->>'$.failure.type' AS failure_type,
    c.a->>'$.failure.message' AS failure_message,
    c.a->>'$.reason' AS reason,
    s.a->>'$.parent_run_id' AS parent_run_id,
    s.a->>'$.parent_workflow_id' AS parent_workflow_id,
    s.a->>'$.continued_from_run_id' AS continued_from_run_id,
    c.a->>'$.new_run_id' AS continued_as_run_id,
    coalesce(s.a->>'$.forked_from_run_id', w.forked_from_run_id) AS forked_from_run_id
FROM started s
JOIN counts n USING (run_id)
LEFT JOIN attempts t USING (run_id)
LEFT JOIN closing c USING (run_id)
LEFT JOIN workflows w USING (run_id);

CREATE OR REPLACE VIEW activities AS
WITH
run_info AS (
    SELECT run_id, attributes->>'$.workflow_id' AS workflow_id, attributes->>'$.workflow_type' AS workflow_type,
           attributes->>'$.task_queue' AS run_task_queue
    FROM events WHERE event_type = 'WorkflowExecutionStarted'
),
run_closed AS (
    SELECT DISTINCT run_id FROM events WHERE event_type IN (
        'WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionCanceled',
        'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew'
    )
),
scheduled AS (
    SELECT run_id, activity_id, event_id AS scheduled_event_id, event_time AS scheduled_time, activity_type,
           attributes->>'$.task_queue' AS task_queue, attributes->'$.input' AS input
    FROM events WHERE event_type = 'ActivityTaskScheduled'
),
started AS (
    SELECT run_id, activity_id, attempt, event_id AS started_event_id, event_time AS started_time
    FROM events WHERE event_type = 'ActivityTaskStarted'
),
closed AS (
    SELECT run_id, activity_id, attempt, event_id AS closed_event_id, event_time AS closed_time, event_type AS close_type, attributes AS a
    FROM events WHERE event_type IN ('ActivityTaskCompleted', 'ActivityTaskFailed', 'ActivityTaskTimedOut')
),
canceled AS (
    SELECT run_id, activity_id, event_id AS cancel_event_id, event_time AS cancel_time
    FROM events WHERE event_type = 'ActivityTaskCanceled'
),
attempts AS (
    SELECT
        coalesce(s.run_id, c.run_id) AS run_id,
        coalesce(s.activity_id, c.activity_id) AS activity_id,
        coalesce(s.attempt, c.attempt) AS attempt,
        s.started_event_id, s.started_time, c.closed_event_id, c.closed_time, c.close_type, c.a
    FROM started s
    FULL JOIN closed c ON s.run_id = c.run_id AND s.activity_id = c.activity_id AND s.attempt = c.attempt
),
attempt_rows AS (
    SELECT a.*, x.cancel_event_id, x.cancel_time
    FROM attempts a
    LEFT JOIN canceled x ON a.closed_event_id IS NULL AND x.run_id = a.run_id AND x.activity_id = a.activity_id
    UNION ALL
    -- An activity with no open attempt to hold its state: not started yet, or cancelled between attempts.
    SELECT sc.run_id, sc.activity_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, x.cancel_event_id, x.cancel_time
    FROM scheduled sc
    LEFT JOIN canceled x ON x.run_id = sc.run_id AND x.activity_id = sc.activity_id
    WHERE NOT EXISTS (
        SELECT 1 FROM attempts a
        WHERE a.run_id = sc.run_id AND a.activity_id = sc.activity_id AND (x.cancel_event_id IS NULL OR a.closed_event_id IS NULL)
    )
),
shaped AS (
    SELECT
        r.*,
        sc.scheduled_event_id, sc.scheduled_time, sc.activity_type, sc.task_queue, sc.input,
        lag(r.closed_time) OVER w AS previous_closed_time,
        lag(CASE WHEN r.close_type <> 'ActivityTaskCompleted' THEN CAST(r.a->>'$.next_retry_delay' AS DOUBLE) END) OVER w AS previous_retry_delay
    FROM attempt_rows r
    LEFT JOIN scheduled sc ON sc.run_id = r.run_id AND sc.activity_id = r.activity_id
    WINDOW w AS (PARTITION BY r.run_id, r.activity_id ORDER BY r.attempt)
)
SELECT
    x.run_id,
    ri.workflow_id,
    ri.workflow_type,
    x.activity_id,
    x.activity_type,
    coalesce(x.task_queue, ri.run_task_queue) AS task_queue,
    x.attempt,
    CASE
        WHEN x.close_type = 'ActivityTaskCompleted' THEN 'completed'
        WHEN x.close_type = 'ActivityTaskFailed' THEN 'failed'
        WHEN x.close_type = 'ActivityTaskTimedOut' THEN 'timed_out'
        WHEN x.cancel_event_id IS NOT NULL THEN 'canceled'
        WHEN rc.run_id IS NOT NULL THEN 'abandoned'
        WHEN x.started_event_id IS NOT NULL THEN 'running'
        ELSE 'scheduled'
    END AS status,
    CASE
        WHEN x.close_type = 'ActivityTaskCompleted' OR x.cancel_event_id IS NOT NULL THEN true
        WHEN x.close_type IS NULL THEN false
        ELSE x.a->>'$.retry_state' IS DISTINCT FROM 'InProgress'
    END AS final,
    CASE WHEN x.close_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') THEN x.a->>'$.retry_state' = 'InProgress' ELSE false END AS retried,
    x.scheduled_event_id,
    x.started_event_id,
    coalesce(x.closed_event_id, x.cancel_event_id) AS closed_event_id,
    x.scheduled_time,
    x.started_time,
    coalesce(x.closed_time, x.cancel_time) AS closed_time,
    CASE WHEN x.started_time IS NOT NULL THEN greatest(epoch_us(x.started_time) - CASE
        WHEN x.previous_closed_time IS NULL THEN epoch_us(x.scheduled_time)
        ELSE epoch_us(x.previous_closed_time) + CAST(round(coalesce(x.previous_retry_delay, 0) * 1000000) AS BIGINT)
    END, 0) / 1000000 END AS queue_wait_s,
    (epoch_us(coalesce(x.closed_time, x.cancel_time)) - epoch_us(x.started_time)) / 1000000 AS duration_s,
    CASE WHEN x.close_type <> 'ActivityTaskCompleted' THEN x.a->>'$.retry_state' END AS retry_state,
    CASE WHEN x.close_type = 'ActivityTaskTimedOut' THEN x.a->>'$.timeout_type' END AS timeout_type,
    CASE WHEN x.close_type <> 'ActivityTaskCompleted' THEN x.a->>'$.failure.type' END AS failure_type,
    CASE WHEN x.close_type <> 'ActivityTaskCompleted' THEN x.a->>'$.failure.message' END AS failure_message,
    x.input,
    CASE WHEN x.close_type = 'ActivityTaskCompleted' THEN x.a->'$.result.data' END AS result
FROM shaped x
LEFT JOIN run_info ri ON ri.run_id = x.run_id
LEFT JOIN run_closed rc ON rc.run_id = x.run_id;

CREATE OR REPLACE VIEW timers AS
WITH
run_info AS (
    SELECT run_id, attributes->>'$.workflow_id' AS workflow_id, attributes->>'$.workflow_type' AS workflow_type
    FROM events WHERE event_type = 'WorkflowExecutionStarted'
),
run_closed AS (
    SELECT DISTINCT run_id FROM events WHERE event_type IN (
        'WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionCanceled',
        'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew'
    )
),
started AS (
    SELECT run_id, timer_id, event_id AS started_event_id, event_time AS started_time,
           CAST(attributes->>'$.duration' AS DOUBLE) AS duration_s
    FROM events WHERE event_type = 'TimerStarted'
),
closed AS (
    SELECT run_id, timer_id, event_id AS closed_event_id, event_time AS closed_time, event_type AS close_type
    FROM events WHERE event_type IN ('TimerFired', 'TimerCanceled')
)
SELECT
    s.run_id,
    ri.workflow_id,
    ri.workflow_type,
    s.timer_id,
    CASE c.close_type
        WHEN 'TimerFired' THEN 'fired'
        WHEN 'TimerCanceled' THEN 'canceled'
        ELSE CASE WHEN rc.run_id IS NULL THEN 'pending' ELSE 'abandoned' END
    END AS status,
    s.duration_s,
    s.started_event_id,
    c.closed_event_id,
    s.started_time,
    make_timestamptz(epoch_us(s.started_time) + CAST(round(s.duration_s * 1000000) AS BIGINT)) AS fire_time,
    c.closed_time,
    (epoch_us(c.closed_time) - epoch_us(s.started_time)) / 1000000 AS elapsed_s,
    CASE WHEN c.close_type = 'TimerFired'
        THEN (epoch_us(c.closed_time) - epoch_us(s.started_time) - CAST(round(s.duration_s * 1000000) AS BIGINT)) / 1000000
    END AS lateness_s
FROM started s
LEFT JOIN closed c ON c.run_id = s.run_id AND c.timer_id = s.timer_id
LEFT JOIN run_info ri ON ri.run_id = s.run_id
LEFT JOIN run_closed rc ON rc.run_id = s.run_id;

CREATE OR REPLACE VIEW signals AS
WITH
run_info AS (
    SELECT run_id, attributes->>'$.workflow_id' AS workflow_id, attributes->>'$.workflow_type' AS workflow_type
    FROM events WHERE event_type = 'WorkflowExecutionStarted'
),
received AS (
    SELECT run_id, event_id, event_time, attributes->>'$.signal_name' AS signal_name, attributes->'$.input.data' AS payload
    FROM events WHERE event_type = 'WorkflowExecutionSignaled'
),
tasks AS (
    SELECT run_id, event_id, event_time FROM events WHERE event_type = 'WorkflowTaskStarted'
)
SELECT
    r.run_id,
    ri.workflow_id,
    ri.workflow_type,
    r.event_id,
    r.signal_name,
    r.payload,
    r.event_time AS received_time,
    t.event_time AS delivered_time,
    (epoch_us(t.event_time) - epoch_us(r.event_time)) / 1000000 AS delivery_s
FROM received r
ASOF LEFT JOIN tasks t ON t.run_id = r.run_id AND r.event_id < t.event_id
LEFT JOIN run_info ri ON ri.run_id = r.run_id;

-- Straight from the events (not from `activities`): several times faster, and the tests hold the two to the same numbers.
CREATE OR REPLACE VIEW activity_stats AS
WITH
scheduled AS (
    SELECT run_id, activity_id, activity_type, event_time FROM events WHERE event_type = 'ActivityTaskScheduled'
),
started AS (
    SELECT run_id, activity_id, attempt, activity_type, event_time FROM events WHERE event_type = 'ActivityTaskStarted'
),
closed AS (
    SELECT
        run_id, activity_id, attempt, activity_type, event_type, event_time,
        CASE WHEN event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') THEN attributes->>'$.retry_state' = 'InProgress' ELSE false END AS retrying,
        CASE WHEN event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') THEN CAST(attributes->>'$.next_retry_delay' AS DOUBLE) END AS retry_delay
    FROM events WHERE event_type IN ('ActivityTaskCompleted', 'ActivityTaskFailed', 'ActivityTaskTimedOut', 'ActivityTaskCanceled')
),
ready AS (
    SELECT run_id, activity_id, 1 AS attempt, epoch_us(event_time) AS ready_us FROM scheduled
    UNION ALL
    SELECT run_id, activity_id, attempt + 1, epoch_us(event_time) + CAST(round(coalesce(retry_delay, 0) * 1000000) AS BIGINT) FROM closed WHERE retrying
),
timed AS (
    SELECT
        s.activity_type,
        CASE WHEN c.event_type <> 'ActivityTaskCanceled' THEN (epoch_us(c.event_time) - epoch_us(s.event_time)) / 1000000 END AS duration_s,
        CASE WHEN r.ready_us IS NOT NULL THEN greatest(epoch_us(s.event_time) - r.ready_us, 0) / 1000000 END AS queue_wait_s,
        c.event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') AS failed
    FROM started s
    LEFT JOIN closed c ON c.run_id = s.run_id AND c.activity_id = s.activity_id AND c.attempt = s.attempt AND c.event_type <> 'ActivityTaskCanceled'
    LEFT JOIN ready r ON r.run_id = s.run_id AND r.activity_id = s.activity_id AND r.attempt = s.attempt
),
by_attempt AS (
    SELECT
        activity_type,
        count(*) AS attempts,
        count(*) FILTER (WHERE failed) AS failed_attempts,
        count(duration_s) AS closed_attempts,
        avg(duration_s) AS mean_s,
        quantile_cont(duration_s, 0.5) AS p50_s,
        quantile_cont(duration_s, 0.95) AS p95_s,
        quantile_cont(duration_s, 0.99) AS p99_s,
        max(duration_s) AS max_s,
        quantile_cont(queue_wait_s, 0.5) AS p50_queue_wait_s,
        quantile_cont(queue_wait_s, 0.95) AS p95_queue_wait_s
    FROM timed GROUP BY activity_type
),
outcomes AS (
    SELECT
        activity_type,
        count(*) FILTER (WHERE event_type = 'ActivityTaskCompleted') AS completed,
        count(*) FILTER (WHERE event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') AND NOT retrying) AS failed,
        count(*) FILTER (WHERE NOT retrying) AS finished
    FROM closed GROUP BY activity_type
),
retried AS (
    SELECT activity_type, count(DISTINCT (run_id, activity_id)) AS retried FROM started WHERE attempt > 1 GROUP BY activity_type
),
counted AS (
    SELECT activity_type, count(*) AS activities FROM scheduled GROUP BY activity_type
)
SELECT
    activity_type,
    n.activities,
    coalesce(t.attempts, 0) AS attempts,
    coalesce(o.completed, 0) AS completed,
    coalesce(o.failed, 0) AS failed,
    o.failed / nullif(o.finished, 0) AS failure_rate,
    coalesce(r.retried, 0) / n.activities AS retry_rate,
    t.failed_attempts / nullif(t.closed_attempts, 0) AS attempt_failure_rate,
    t.mean_s, t.p50_s, t.p95_s, t.p99_s, t.max_s, t.p50_queue_wait_s, t.p95_queue_wait_s
FROM counted n
LEFT JOIN by_attempt t USING (activity_type)
LEFT JOIN outcomes o USING (activity_type)
LEFT JOIN retried r USING (activity_type);
"""

_LOST = "event_type = 'ActivityTaskTimedOut' AND attributes->>'$.timeout_type' IN ('EngineRestart', 'EngineShutdown')"
_LAST_ALIVE = "make_timestamptz(CAST(round(CAST(attributes->>'$.last_alive_time' AS DOUBLE) * 1000000) AS BIGINT))"


def _edit(sql: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert sql.count(old) == 1, old
        sql = sql.replace(old, new)
    return sql


# Version 3: an attempt lost when its engine stopped (a crash, or a close that outwaited its grace
# period) is status 'lost' in `activities` and ends when its engine was last known alive; it stays out
# of `activity_stats` durations, failure and retry rates, and is counted in `lost_attempts`.
_VIEWS_V3 = _edit(
    _VIEWS_V2,
    (
        "SELECT run_id, activity_id, attempt, event_id AS closed_event_id, event_time AS closed_time, event_type AS close_type, attributes AS a",
        f"SELECT run_id, activity_id, attempt, event_id AS closed_event_id,\n"
        f"           CASE WHEN {_LOST} THEN coalesce({_LAST_ALIVE}, event_time) ELSE event_time END AS closed_time,\n"
        "           event_type AS close_type, attributes AS a",
    ),
    (
        "        WHEN x.close_type = 'ActivityTaskTimedOut' THEN 'timed_out'",
        "        WHEN x.close_type = 'ActivityTaskTimedOut' AND x.a->>'$.timeout_type' IN ('EngineRestart', 'EngineShutdown') THEN 'lost'\n"
        "        WHEN x.close_type = 'ActivityTaskTimedOut' THEN 'timed_out'",
    ),
    (
        "        CASE WHEN event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut')"
        " THEN CAST(attributes->>'$.next_retry_delay' AS DOUBLE) END AS retry_delay\n",
        "        CASE WHEN event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut')"
        " THEN CAST(attributes->>'$.next_retry_delay' AS DOUBLE) END AS retry_delay,\n"
        f"        coalesce({_LOST}, false) AS lost\n",
    ),
    (
        "        CASE WHEN c.event_type <> 'ActivityTaskCanceled' THEN (epoch_us(c.event_time) - epoch_us(s.event_time)) / 1000000 END AS duration_s,",
        "        CASE WHEN c.event_type <> 'ActivityTaskCanceled' AND NOT c.lost"
        " THEN (epoch_us(c.event_time) - epoch_us(s.event_time)) / 1000000 END AS duration_s,",
    ),
    (
        "        c.event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') AS failed\n",
        "        c.event_type IN ('ActivityTaskFailed', 'ActivityTaskTimedOut') AND NOT c.lost AS failed,\n        coalesce(c.lost, false) AS lost\n",
    ),
    ("        count(*) AS attempts,\n", "        count(*) FILTER (WHERE NOT lost) AS attempts,\n        count(*) FILTER (WHERE lost) AS lost_attempts,\n"),
    (
        "    SELECT activity_type, count(DISTINCT (run_id, activity_id)) AS retried FROM started WHERE attempt > 1 GROUP BY activity_type",
        "    SELECT activity_type, count(DISTINCT (run_id, activity_id)) AS retried FROM closed WHERE retrying AND NOT lost GROUP BY activity_type",
    ),
    (
        "    t.mean_s, t.p50_s, t.p95_s, t.p99_s, t.max_s, t.p50_queue_wait_s, t.p95_queue_wait_s\n",
        "    t.mean_s, t.p50_s, t.p95_s, t.p99_s, t.max_s, t.p50_queue_wait_s, t.p95_queue_wait_s,\n    coalesce(t.lost_attempts, 0) AS lost_attempts\n",
    ),
)

# Version 4 (issue 12, Temporal's whole vocabulary): each tuple holds `_edit` changes to the V3 text.
# `runs` columns (search attributes, memo, updates, external workflows):
_V4_RUNS_CHANGES: tuple[tuple[str, str], ...] = (
    # Search attributes and memo: the start's, merged with each upsert in order (a null value removes a name).
    (
        "    GROUP BY run_id\n)\nSELECT\n    s.run_id,",
        "    GROUP BY run_id\n),\nproperties AS (\n"
        "    SELECT\n        run_id,\n"
        "        list(attributes->'$.search_attributes' ORDER BY event_id) FILTER (WHERE event_type = 'UpsertWorkflowSearchAttributes') AS sa,\n"
        "        list(attributes->'$.memo' ORDER BY event_id) FILTER (WHERE event_type = 'WorkflowPropertiesModified') AS memo\n"
        "    FROM events WHERE event_type IN ('UpsertWorkflowSearchAttributes', 'WorkflowPropertiesModified')\n"
        "    GROUP BY run_id\n)\nSELECT\n    s.run_id,",
    ),
    (
        "    coalesce(s.a->>'$.forked_from_run_id', w.forked_from_run_id) AS forked_from_run_id\nFROM started s\n",
        "    coalesce(s.a->>'$.forked_from_run_id', w.forked_from_run_id) AS forked_from_run_id,\n"
        "    list_reduce(list_prepend(coalesce(s.a->'$.search_attributes', '{}'::JSON), coalesce(p.sa, []::JSON[])),"
        " lambda x, y: json_merge_patch(x, y)) AS search_attributes,\n"
        "    list_reduce(list_prepend(coalesce(s.a->'$.memo', '{}'::JSON), coalesce(p.memo, []::JSON[])),"
        " lambda x, y: json_merge_patch(x, y)) AS memo\nFROM started s\n",
    ),
    (
        "LEFT JOIN attempts t USING (run_id)\nLEFT JOIN closing c USING (run_id)\n",
        "LEFT JOIN attempts t USING (run_id)\nLEFT JOIN properties p USING (run_id)\nLEFT JOIN closing c USING (run_id)\n",
    ),
)

# ---- external workflows and Nexus operations (issue 12, branch external-nexus) ----
# `runs` counts the signals and cancel requests a run sent to other workflows and its Nexus operations;
# `signals` names the workflow that sent a signal (NULL for one sent through a handle).
# Each edit keeps its anchor text, so other `_edit`s on the same lines still find theirs.
_V4_EXTERNAL_CHANGES: tuple[tuple[str, str], ...] = (
    (
        "        count(*) FILTER (WHERE event_type = 'StartChildWorkflowExecutionInitiated') AS child_count\n",
        "        count(*) FILTER (WHERE event_type = 'SignalExternalWorkflowExecutionInitiated') AS external_signal_count,\n"
        "        count(*) FILTER (WHERE event_type = 'RequestCancelExternalWorkflowExecutionInitiated') AS external_cancel_count,\n"
        "        count(*) FILTER (WHERE event_type IN ('SignalExternalWorkflowExecutionFailed', 'RequestCancelExternalWorkflowExecutionFailed'))"
        " AS external_failed_count,\n"
        "        count(*) FILTER (WHERE event_type = 'NexusOperationScheduled') AS nexus_operation_count,\n"
        "        count(*) FILTER (WHERE event_type = 'StartChildWorkflowExecutionInitiated') AS child_count\n",
    ),
    (
        "    n.child_count,\n",
        "    n.child_count,\n    n.external_signal_count,\n    n.external_cancel_count,\n    n.external_failed_count,\n    n.nexus_operation_count,\n",
    ),
    (
        "    SELECT run_id, event_id, event_time, attributes->>'$.signal_name' AS signal_name, attributes->'$.input.data' AS payload\n",
        "    SELECT run_id, event_id, event_time, attributes->>'$.signal_name' AS signal_name, attributes->'$.input.data' AS payload,\n"
        "           attributes->>'$.external_workflow_id' AS sender_workflow_id, attributes->>'$.external_run_id' AS sender_run_id\n",
    ),
    (
        "    r.payload,\n",
        "    r.payload,\n    r.sender_workflow_id,\n    r.sender_run_id,\n",
    ),
)
# `nexus_operations`: one row per Nexus operation of an imported Temporal history (wfkit's engine runs none).
_V4_NEXUS_VIEWS = """
CREATE OR REPLACE VIEW nexus_operations AS
WITH
run_info AS (
    SELECT run_id, attributes->>'$.workflow_id' AS workflow_id, attributes->>'$.workflow_type' AS workflow_type
    FROM events WHERE event_type = 'WorkflowExecutionStarted'
),
run_closed AS (
    SELECT DISTINCT run_id FROM events WHERE event_type IN (
        'WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionCanceled',
        'WorkflowExecutionTerminated', 'WorkflowExecutionContinuedAsNew', 'WorkflowExecutionTimedOut'
    )
),
scheduled AS (
    SELECT run_id, event_id AS scheduled_event_id, event_time AS scheduled_time, attributes->>'$.endpoint' AS endpoint,
           attributes->>'$.service' AS service, attributes->>'$.operation' AS operation,
           CAST(attributes->>'$.schedule_to_close' AS DOUBLE) AS schedule_to_close_s
    FROM events WHERE event_type = 'NexusOperationScheduled'
),
started AS (
    SELECT run_id, CAST(attributes->>'$.scheduled_event_id' AS BIGINT) AS scheduled_event_id, min(event_time) AS started_time,
           any_value(coalesce(attributes->>'$.operation_token', attributes->>'$.operation_id')) AS operation_token
    FROM events WHERE event_type = 'NexusOperationStarted' GROUP BY ALL
),
cancel_requested AS (
    SELECT run_id, CAST(attributes->>'$.scheduled_event_id' AS BIGINT) AS scheduled_event_id, min(event_time) AS cancel_requested_time
    FROM events WHERE event_type = 'NexusOperationCancelRequested' GROUP BY ALL
),
closed AS (
    SELECT run_id, CAST(attributes->>'$.scheduled_event_id' AS BIGINT) AS scheduled_event_id, event_id AS closed_event_id,
           event_time AS closed_time, event_type AS close_type, attributes AS a
    FROM events WHERE event_type IN ('NexusOperationCompleted', 'NexusOperationFailed', 'NexusOperationCanceled', 'NexusOperationTimedOut')
    QUALIFY row_number() OVER (PARTITION BY run_id, scheduled_event_id ORDER BY event_id) = 1
)
SELECT
    s.run_id,
    ri.workflow_id,
    ri.workflow_type,
    s.scheduled_event_id,
    s.endpoint,
    s.service,
    s.operation,
    CASE c.close_type
        WHEN 'NexusOperationCompleted' THEN 'completed'
        WHEN 'NexusOperationFailed' THEN 'failed'
        WHEN 'NexusOperationCanceled' THEN 'canceled'
        WHEN 'NexusOperationTimedOut' THEN 'timed_out'
        ELSE CASE WHEN rc.run_id IS NOT NULL THEN 'abandoned' WHEN st.started_time IS NOT NULL THEN 'running' ELSE 'scheduled' END
    END AS status,
    st.operation_token,
    s.scheduled_time,
    st.started_time,
    x.cancel_requested_time,
    c.closed_time,
    c.closed_event_id,
    (epoch_us(c.closed_time) - epoch_us(s.scheduled_time)) / 1000000 AS duration_s,
    s.schedule_to_close_s,
    c.a->>'$.failure.type' AS failure_type,
    c.a->>'$.failure.message' AS failure_message,
    c.a->'$.result.data' AS result
FROM scheduled s
LEFT JOIN started st USING (run_id, scheduled_event_id)
LEFT JOIN cancel_requested x USING (run_id, scheduled_event_id)
LEFT JOIN closed c USING (run_id, scheduled_event_id)
LEFT JOIN run_info ri ON ri.run_id = s.run_id
LEFT JOIN run_closed rc ON rc.run_id = s.run_id;
"""
# ---- end of external workflows and Nexus operations ----


def _seconds_ts(expr: str) -> str:
    """A time recorded as seconds since the epoch (a JSON number) as TIMESTAMPTZ."""
    return f"make_timestamptz(CAST(round(CAST({expr} AS DOUBLE) * 1000000) AS BIGINT))"


# Local activities: one `MarkerRecorded` each ("LocalActivity" from wfkit, Go and Java; "core_local_activity" from the
# Core-based SDKs), read whichever SDK wrote it: wfkit's typed columns and times in seconds; Core's and Go's `data`
# payload (`seq`/`activity_type`/`attempt`, `ActivityID`/`ActivityType`/`Attempt`: an old Go SDK counts from 0);
# Java's one payload per detail (`activityId`, `type`). Their duration is known for wfkit's own (the final attempt's).
_LOCAL_ROWS = f"""local_markers AS (
    SELECT run_id, event_id, event_time, activity_id, activity_type, attempt, attributes AS a, attributes->'$.details.data[0].data' AS d
    FROM events WHERE event_type = 'MarkerRecorded' AND attributes->>'$.marker_name' IN ('LocalActivity', 'core_local_activity')
),
local_rows AS (
    SELECT
        run_id, event_id,
        coalesce(activity_id, TRY_CAST(coalesce(d->>'$.seq', d->>'$.ActivityID', d->>'$.activity_id') AS INTEGER)) AS activity_id,
        coalesce(activity_type, d->>'$.activity_type', d->>'$.ActivityType', a->>'$.details.type[0].data') AS activity_type,
        greatest(coalesce(attempt, TRY_CAST(coalesce(d->>'$.attempt', d->>'$.Attempt') AS INTEGER), 1), 1) AS attempt,
        CASE
            WHEN (a->'$.failure') IS NULL THEN 'completed'
            WHEN (a->>'$.failure.timeout_type') IS NOT NULL THEN 'timed_out'
            ELSE 'failed'
        END AS status,
        CASE WHEN (a->'$.scheduled_time') IS NOT NULL THEN {_seconds_ts("a->>'$.scheduled_time'")} END AS scheduled_time,
        CASE WHEN (a->'$.started_time') IS NOT NULL THEN {_seconds_ts("a->>'$.started_time'")} END AS started_time,
        CASE WHEN (a->'$.complete_time') IS NOT NULL THEN {_seconds_ts("a->>'$.complete_time'")} ELSE event_time END AS closed_time,
        a->>'$.failure.timeout_type' AS timeout_type,
        a->>'$.failure.type' AS failure_type,
        a->>'$.failure.message' AS failure_message,
        CASE WHEN (a->'$.failure') IS NULL THEN a->'$.details.result[0].data' END AS result
    FROM local_markers
)"""

_LOCAL_ACTIVITY_ROWS = (
    # `activities`: a local activity is one row (its final attempt), kind 'local'; every other row is kind 'activity'.
    (
        "shaped AS (\n    SELECT\n        r.*,",
        f"{_LOCAL_ROWS},\nshaped AS (\n    SELECT\n        r.*,",
    ),
    (
        "    CASE WHEN x.close_type = 'ActivityTaskCompleted' THEN x.a->'$.result.data' END AS result\n"
        "FROM shaped x\n"
        "LEFT JOIN run_info ri ON ri.run_id = x.run_id\n"
        "LEFT JOIN run_closed rc ON rc.run_id = x.run_id;",
        "    CASE WHEN x.close_type = 'ActivityTaskCompleted' THEN x.a->'$.result.data' END AS result,\n"
        "    'activity' AS kind\n"
        "FROM shaped x\n"
        "LEFT JOIN run_info ri ON ri.run_id = x.run_id\n"
        "LEFT JOIN run_closed rc ON rc.run_id = x.run_id\n"
        "UNION ALL\n"
        "SELECT\n"
        "    l.run_id, ri.workflow_id, ri.workflow_type, l.activity_id, l.activity_type, NULL AS task_queue, l.attempt, l.status,\n"
        "    true AS final, false AS retried, NULL AS scheduled_event_id, NULL AS started_event_id, l.event_id AS closed_event_id,\n"
        "    l.scheduled_time, l.started_time, l.closed_time, NULL AS queue_wait_s,\n"
        "    (epoch_us(l.closed_time) - epoch_us(l.started_time)) / 1000000 AS duration_s,\n"
        "    NULL AS retry_state, l.timeout_type, l.failure_type, l.failure_message, NULL AS input, l.result, 'local' AS kind\n"
        "FROM local_rows l\n"
        "LEFT JOIN run_info ri ON ri.run_id = l.run_id;",
    ),
    # `activity_stats`: one row per activity type and kind (a type run both ways has two rows).
    (
        "counted AS (\n    SELECT activity_type, count(*) AS activities FROM scheduled GROUP BY activity_type\n)\n",
        "counted AS (\n    SELECT activity_type, count(*) AS activities FROM scheduled GROUP BY activity_type\n),\n"
        f"{_LOCAL_ROWS},\n"
        "local_timed AS (\n"
        "    SELECT *, (epoch_us(closed_time) - epoch_us(started_time)) / 1000000 AS duration_s FROM local_rows\n"
        ")\n",
    ),
    (
        "    coalesce(t.lost_attempts, 0) AS lost_attempts\n"
        "FROM counted n\n"
        "LEFT JOIN by_attempt t USING (activity_type)\n"
        "LEFT JOIN outcomes o USING (activity_type)\n"
        "LEFT JOIN retried r USING (activity_type);",
        "    coalesce(t.lost_attempts, 0) AS lost_attempts,\n"
        "    'activity' AS kind\n"
        "FROM counted n\n"
        "LEFT JOIN by_attempt t USING (activity_type)\n"
        "LEFT JOIN outcomes o USING (activity_type)\n"
        "LEFT JOIN retried r USING (activity_type)\n"
        "UNION ALL\n"
        "SELECT\n"
        "    activity_type,\n"
        "    count(*) AS activities,\n"
        "    sum(attempt) AS attempts,\n"
        "    count(*) FILTER (WHERE status = 'completed') AS completed,\n"
        "    count(*) FILTER (WHERE status <> 'completed') AS failed,\n"
        "    count(*) FILTER (WHERE status <> 'completed') / count(*) AS failure_rate,\n"
        "    count(*) FILTER (WHERE attempt > 1) / count(*) AS retry_rate,\n"
        "    (sum(attempt) - count(*) FILTER (WHERE status = 'completed')) / sum(attempt) AS attempt_failure_rate,\n"
        "    avg(duration_s) AS mean_s,\n"
        "    quantile_cont(duration_s, 0.5) AS p50_s,\n"
        "    quantile_cont(duration_s, 0.95) AS p95_s,\n"
        "    quantile_cont(duration_s, 0.99) AS p99_s,\n"
        "    max(duration_s) AS max_s,\n"
        "    NULL AS p50_queue_wait_s,\n"
        "    NULL AS p95_queue_wait_s,\n"
        "    0 AS lost_attempts,\n"
        "    'local' AS kind\n"
        "FROM local_timed GROUP BY activity_type;",
    ),
    # `runs`: local activities counted apart from activities.
    (
        "        count(*) FILTER (WHERE event_type = 'ActivityTaskScheduled') AS activity_count,\n",
        "        count(*) FILTER (WHERE event_type = 'ActivityTaskScheduled') AS activity_count,\n"
        "        count(*) FILTER (WHERE event_type = 'MarkerRecorded'\n"
        "            AND attributes->>'$.marker_name' IN ('LocalActivity', 'core_local_activity')) AS local_activity_count,\n",
    ),
    ("    n.activity_count,\n", "    n.activity_count,\n    n.local_activity_count,\n"),
)

# closing event types, local activities and Nexus operations in `runs` counts, `activities`, `activity_stats`:
_V4_ACTIVITY_CHANGES: tuple[tuple[str, str], ...] = (*_LOCAL_ACTIVITY_ROWS,)
_VIEWS_V4 = _edit(_VIEWS_V3, *_V4_RUNS_CHANGES, *_V4_ACTIVITY_CHANGES, *_V4_EXTERNAL_CHANGES) + _V4_NEXUS_VIEWS

#: The current definitions of the analytic views (re-runnable: every statement is CREATE OR REPLACE VIEW).
ANALYTIC_VIEWS = _VIEWS_V4

#: The analytic views, in the order ANALYTIC_VIEWS creates them.
VIEW_NAMES = ("runs", "activities", "timers", "signals", "activity_stats", "nexus_operations")

#: The `payloads` view: every stored table (and big JSON value) with the event that references it.
#: Kept apart from ANALYTIC_VIEWS, which are computed from `events` and `workflows` alone.
PAYLOADS_VIEW = """
CREATE OR REPLACE VIEW payloads AS
SELECT
    w.workflow_id,
    r.run_id,
    r.event_id,
    e.event_type,
    coalesce(e.activity_type, s.activity_type) AS activity_type,
    e.attempt,
    p.hash AS ref,
    p.encoding,
    p.kind,
    p.rows,
    p.columns,
    p.bytes,
    p.schema,
    p.created_at
FROM wfkit_payload_refs r
JOIN wfkit_payloads p USING (hash)
JOIN events e ON e.run_id = r.run_id AND e.event_id = r.event_id
LEFT JOIN events s ON s.run_id = e.run_id AND s.event_type = 'ActivityTaskScheduled' AND s.activity_id = e.activity_id
LEFT JOIN workflows w ON w.run_id = r.run_id;
"""

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
    # 2: analytic views over the events (docs/analytics.md documents every column).
    _VIEWS_V2,
    # 3: the owner of the file: each engine that opens it takes the next epoch, so a writer whose
    # epoch is stale (a second engine opened the file since) is fenced off; `alive_at` is the last
    # time the owner was known alive (attempts lost in a crash end there, not at the restart).
    """
    CREATE TABLE wfkit_owner (
        epoch BIGINT NOT NULL,
        pid INTEGER,
        opened_at TIMESTAMPTZ,
        alive_at TIMESTAMPTZ
    );
    INSERT INTO wfkit_owner VALUES (0, NULL, NULL, NULL);
    """
    + _VIEWS_V3,
    # 4: shipped as the scaffold of version 5 with no changes yet (the V3 views again).
    _VIEWS_V3,
    # 5: the views learn Temporal's whole event vocabulary (see _VIEWS_V4).
    _VIEWS_V4,
    # 6: table payloads (see _payloads.py): content-addressed Arrow IPC bytes, and which events reference them.
    """
    CREATE TABLE wfkit_payloads (
        hash VARCHAR PRIMARY KEY,
        encoding VARCHAR NOT NULL,
        kind VARCHAR,
        rows BIGINT,
        columns JSON,
        bytes BIGINT NOT NULL,
        schema JSON,
        created_at TIMESTAMPTZ NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE wfkit_payload_refs (
        hash VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        event_id INTEGER NOT NULL
    );
    """
    + PAYLOADS_VIEW,
)

SCHEMA_VERSION = len(MIGRATIONS)

#: Tables whose presence marks a wfkit database.
WFKIT_TABLES = frozenset({"wfkit_schema", "workflows", "events", "wfkit_owner", "wfkit_payloads", "wfkit_payload_refs"})
