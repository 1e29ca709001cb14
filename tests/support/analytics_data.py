"""A database of five runs with known times, for hand-checked analytics (see the table in each test).

Times are seconds after T0 (2027-01-15 08:00:00 UTC), written through the store's bulk path:
  run-a  etl       Completed 19.5 s: extract fails once (ConnectionError, retry after 2 s), succeeds;
                   a 10 s timer fires 0.25 s late; load completes (result 3)
  run-b  etl       Completed 17.25 s, forked from run-a: extract succeeds first time, load slower (result 4)
  run-c  approval  Failed 19 s: a child run-d, a "decision" signal (its payload holds a <script> tag),
                   charge times out (StartToClose), then fails for good; a 60 s timer is cancelled
  run-d  notify    Completed 19 s, child of run-c: send #1 cancelled while running, send #2 cancelled
                   before it started, send #3 completes
  run-e  etl       Running: extract running, load scheduled, a 5 s timer pending
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import wfkit
from wfkit._store._store import RunClose, RunRow, Store

E = wfkit.EventType
T0 = 1_800_000_000.0
SCRIPT = "<script>alert(1)</script>"


def _payload(value: Any) -> dict[str, Any]:
    return {"encoding": "json/plain", "data": value}


class _Builder:
    def __init__(self, run_id: str, workflow_id: str, workflow_type: str, t: float, **start: Any) -> None:
        self.run_id, self.workflow_id, self.workflow_type = run_id, workflow_id, workflow_type
        self.events: list[wfkit.Event] = []
        self.scheduled: dict[int, int] = {}
        self.started: dict[int, int] = {}
        self.types: dict[int, str] = {}
        attrs = {"workflow_type": workflow_type, "workflow_id": workflow_id, "input": [_payload("x")], "task_queue": "default", "random_seed": 1}
        attrs.update({"parent_run_id": None, "parent_workflow_id": None, "parent_child_id": None, "continued_from_run_id": None} | start)
        self.start = self.add(t, E.WorkflowExecutionStarted, attrs)

    def add(self, t: float, event_type: wfkit.EventType, attrs: dict[str, Any] | None = None) -> wfkit.Event:
        event = wfkit.Event(len(self.events) + 1, event_type, T0 + t, attrs or {})
        self.events.append(event)
        return event

    def task(self, t: float) -> None:
        s = self.add(t, E.WorkflowTaskScheduled)
        st = self.add(t, E.WorkflowTaskStarted, {"scheduled_event_id": s.event_id})
        self.add(t, E.WorkflowTaskCompleted, {"scheduled_event_id": s.event_id, "started_event_id": st.event_id})

    def schedule(self, t: float, seq: int, activity_type: str, arg: Any = None) -> None:
        e = self.add(t, E.ActivityTaskScheduled, {"activity_id": seq, "activity_type": activity_type, "input": [_payload(arg)], "task_queue": None})
        self.scheduled[seq], self.types[seq] = e.event_id, activity_type

    def _base(self, seq: int) -> dict[str, Any]:
        return {"activity_id": seq, "activity_type": self.types[seq], "scheduled_event_id": self.scheduled[seq]}

    def attempt(self, t: float, seq: int, attempt: int) -> None:
        self.started[seq] = self.add(t, E.ActivityTaskStarted, self._base(seq) | {"attempt": attempt}).event_id

    def complete(self, t: float, seq: int, attempt: int, result: Any) -> None:
        self.add(t, E.ActivityTaskCompleted, self._base(seq) | {"started_event_id": self.started[seq], "attempt": attempt, "result": _payload(result)})

    def fail(
        self, t: float, seq: int, attempt: int, kind: str, message: str, retry_state: str, delay: float | None = None, *, timeout: str | None = None
    ) -> None:
        attrs = self._base(seq) | {
            "started_event_id": self.started[seq],
            "attempt": attempt,
            "failure": {"type": kind, "message": message, "stack": "", "non_retryable": False},
            "retry_state": retry_state,
        }
        if delay is not None:
            attrs["next_retry_delay"] = delay
        if timeout is not None:
            attrs["timeout_type"] = timeout
        self.add(t, E.ActivityTaskTimedOut if timeout else E.ActivityTaskFailed, attrs)

    def cancel(self, t: float, seq: int) -> None:
        self.add(t, E.ActivityTaskCancelRequested, {"activity_id": seq})
        self.add(t, E.ActivityTaskCanceled, self._base(seq))

    def row(self, **lineage: Any) -> RunRow:
        return RunRow(self.run_id, self.workflow_id, self.workflow_type, "default", [_payload("x")], self.start.event_time, **lineage)

    def close(self, t: float, event_type: wfkit.EventType, attrs: dict[str, Any], status: str) -> RunClose:
        e = self.add(t, event_type, attrs)
        return RunClose(self.run_id, status, attrs.get("result"), attrs.get("failure"), e.event_time, len(self.events))


def build() -> tuple[list[RunRow], list[tuple[str, wfkit.Event]], list[RunClose]]:
    rows, events, closes = [], [], []

    a = _Builder("run-a", "etl-a", "etl", 0)
    a.task(0)
    a.schedule(0, 1, "extract", "orders")
    a.attempt(0.5, 1, 1)
    a.fail(1.5, 1, 1, "ConnectionError", "connection reset", "InProgress", 2.0)
    a.attempt(4.0, 1, 2)
    a.complete(7.0, 1, 2, {"rows": 3})
    a.task(7.0)
    a.add(7.0, E.TimerStarted, {"timer_id": 1, "duration": 10})
    a.add(17.25, E.TimerFired, {"timer_id": 1, "started_event_id": 13})
    a.task(17.25)
    a.schedule(17.25, 2, "load")
    a.attempt(17.5, 2, 1)
    a.complete(19.5, 2, 1, 3)
    a.task(19.5)
    closes.append(a.close(19.5, E.WorkflowExecutionCompleted, {"result": _payload(3)}, "Completed"))
    rows.append(a.row())

    b = _Builder("run-b", "etl-b", "etl", 100, forked_from_run_id="run-a")
    b.task(100)
    b.schedule(100, 1, "extract", "orders")
    b.attempt(100.25, 1, 1)
    b.complete(101.25, 1, 1, {"rows": 4})
    b.task(101.25)
    b.add(101.25, E.TimerStarted, {"timer_id": 1, "duration": 10})
    b.add(111.25, E.TimerFired, {"timer_id": 1, "started_event_id": 11})
    b.task(111.25)
    b.schedule(111.25, 2, "load")
    b.attempt(111.25, 2, 1)
    b.complete(117.25, 2, 1, 4)
    b.task(117.25)
    closes.append(b.close(117.25, E.WorkflowExecutionCompleted, {"result": _payload(4)}, "Completed"))
    rows.append(b.row(forked_from_run_id="run-a"))

    c = _Builder("run-c", "approval-c", "approval", 200)
    c.task(200)
    c.add(
        200,
        E.StartChildWorkflowExecutionInitiated,
        {"child_id": 1, "workflow_type": "notify", "workflow_id": "approval-c/notify", "input": [], "task_queue": "default"},
    )
    c.add(200, E.ChildWorkflowExecutionStarted, {"child_id": 1, "initiated_event_id": 5, "workflow_id": "approval-c/notify", "run_id": "run-d"})
    c.add(205, E.WorkflowExecutionSignaled, {"signal_name": "decision", "input": _payload({"ok": False, "note": SCRIPT})})
    s = c.add(205, E.WorkflowTaskScheduled)
    st = c.add(205.5, E.WorkflowTaskStarted, {"scheduled_event_id": s.event_id})
    c.add(205.5, E.WorkflowTaskCompleted, {"scheduled_event_id": s.event_id, "started_event_id": st.event_id})
    c.schedule(205.5, 1, "charge", 42)
    c.attempt(206, 1, 1)
    c.fail(216, 1, 1, "TimeoutError", "StartToClose timeout", "InProgress", 1.0, timeout="StartToClose")
    c.attempt(217.5, 1, 2)
    c.fail(218, 1, 2, "ValueError", "card declined", "MaximumAttemptsReached")
    c.task(218)
    c.add(218, E.TimerStarted, {"timer_id": 2, "duration": 60})
    c.add(218, E.TimerCanceled, {"timer_id": 2, "started_event_id": 19})
    c.add(
        219,
        E.ChildWorkflowExecutionCompleted,
        {"child_id": 1, "initiated_event_id": 5, "workflow_id": "approval-c/notify", "run_id": "run-d", "result": _payload(SCRIPT)},
    )
    c.task(219)
    failure = {"type": "ActivityError", "message": "activity charge failed: ValueError: card declined", "stack": "", "non_retryable": False}
    closes.append(c.close(219, E.WorkflowExecutionFailed, {"failure": failure}, "Failed"))
    rows.append(c.row())

    d = _Builder("run-d", "approval-c/notify", "notify", 200, parent_run_id="run-c", parent_workflow_id="approval-c", parent_child_id=1)
    d.task(200)
    d.schedule(200, 1, "send", "a")
    d.attempt(201, 1, 1)
    d.task(202)
    d.cancel(202, 1)
    d.schedule(202, 2, "send", "b")
    d.task(202.5)
    d.cancel(202.5, 2)
    d.schedule(203, 3, "send", "c")
    d.attempt(203, 3, 1)
    d.complete(204, 3, 1, "sent")
    d.task(204)
    closes.append(d.close(219, E.WorkflowExecutionCompleted, {"result": _payload(SCRIPT)}, "Completed"))
    rows.append(d.row(parent_run_id="run-c", parent_workflow_id="approval-c"))

    e = _Builder("run-e", "etl-e", "etl", 300)
    e.task(300)
    e.schedule(300, 1, "extract", "orders")
    e.schedule(300, 2, "load")
    e.add(300, E.TimerStarted, {"timer_id": 1, "duration": 5})
    e.attempt(301, 1, 1)
    rows.append(e.row())

    for builder in (a, b, c, d, e):
        events += [(builder.run_id, ev) for ev in builder.events]
    return rows, events, closes


def make_db(path: Path, suffix: str = "") -> Path:
    """Write the five runs into a new wfkit database at `path` (run ids end with `suffix`)."""
    rows, events, closes = build()
    if suffix:
        rows = [dataclasses.replace(r, run_id=r.run_id + suffix) for r in rows]
        events = [(run_id + suffix, e) for run_id, e in events]
        closes = [dataclasses.replace(c, run_id=c.run_id + suffix) for c in closes]
    store = Store.open(path)
    try:
        store.write(events, rows, closes)
    finally:
        store.close()
    return path
