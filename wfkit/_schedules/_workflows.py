"""The scheduler and backfill workflows: ordinary wfkit workflows, so their histories are the audit log.

`wfkit.schedule` (workflow id `schedule/<id>`) loops: it waits on a durable timer for the next
fire time (or a control signal), then records the firing as a `wfkit.schedule.fire` activity whose
result says which run it started or why it skipped. Pause, unpause, trigger, update and delete are
signals named `wfkit.schedule`, so every change is an event too. After a restart the timer that
fell due during the downtime fires at once; firings older than the catch-up window are recorded as
one skip, the rest fire in order. Every `CONTINUE_AFTER` firings it continues as new with its state.

`wfkit.backfill` (workflow id `schedule/<id>/backfill/<start>..<end>`) starts the runs the schedule
would have started in a range, at most `max_concurrent` at a time, each through the
`wfkit.schedule.run` activity, which starts the firing's run under a workflow id derived from its
scheduled time (or finds it, after a crash) and waits for it to close: no firing starts twice.

The activities are carried out by the engine's `Schedules` part (wfkit/_engine/_schedules.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from wfkit._activity import service
from wfkit._definitions import RetryPolicy, activity, workflow
from wfkit._schedules._spec import ScheduleSpec, iso
from wfkit._workflow_api import continue_as_new, now, set_query_handler, wait_signal

__all__ = ["CONTINUE_AFTER", "PROGRESS_QUERY", "RECENT", "SIGNAL", "STATE_QUERY", "backfill_workflow", "fire", "run_firing", "schedule_workflow"]

SIGNAL = "wfkit.schedule"
STATE_QUERY = "wfkit.schedule.state"
PROGRESS_QUERY = "wfkit.backfill.progress"
CONTINUE_AFTER = 500
"""Firings per scheduler run before it continues as new (keeps each history short)."""
RECENT = 10
"""How many of the latest firings the scheduler keeps in its state (for describe and the monitor)."""

# The engine's side of a firing can take long (buffer_one waits for the running run to close); it must not time out.
_RETRY = RetryPolicy(max_attempts=0, initial_interval=1, backoff_coefficient=2, maximum_interval=60)


@activity(name="wfkit.schedule.fire", retry=_RETRY)
async def fire(request: dict[str, Any]) -> dict[str, Any]:
    """Apply the overlap policy to one firing and start its run (or say why not)."""
    return await service().fire(request)  # type: ignore[no-any-return]


@activity(name="wfkit.schedule.run", retry=_RETRY)
async def run_firing(request: dict[str, Any]) -> dict[str, Any]:
    """Start (or find) one backfilled firing's run and wait until it closes."""
    return await service().run_firing(request)  # type: ignore[no-any-return]


@workflow(name="wfkit.schedule", allow_nondeterministic_calls=True)  # reads the tz database: deterministic, but a file read
async def schedule_workflow(state: dict[str, Any]) -> dict[str, Any]:
    """Fire `state["workflow"]` on `state["spec"]`; see the module docstring."""
    scheduler = _Scheduler(state)
    set_query_handler(STATE_QUERY, lambda: scheduler.state)
    return await scheduler.run()


class _Scheduler:
    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.spec = ScheduleSpec.from_dict(state["spec"])
        self.buffered: asyncio.Future[Any] | None = None  # buffer_one: the firing waiting for the running run
        self.fired_here = 0

    async def run(self) -> dict[str, Any]:
        state = self.state
        while True:
            current = now().timestamp()
            due = None if state["paused"] else self.spec.next_after(state["cursor"])
            if due is not None and due + self.spec.jitter_for(state["id"], due) <= current:
                await self._due(due, current)
                if self.fired_here >= CONTINUE_AFTER and (self.buffered is None or self.buffered.done()):
                    continue_as_new(state)
                continue
            timeout = None if due is None else due + self.spec.jitter_for(state["id"], due) - current
            try:
                message = await wait_signal(SIGNAL, timeout=timeout)
            except TimeoutError:
                continue
            if await self._control(message):
                if self.buffered is not None:
                    await self.buffered
                return {"deleted": True, "firings": state["firings"]}

    async def _due(self, due: float, current: float) -> None:
        state = self.state
        window = state["catchup_window"]
        if current - due > window:
            # Missed during downtime, beyond the catch-up window: one recorded skip for all of them.
            missed = self.spec.between(due, current - window)
            state["cursor"] = missed[-1]
            reason = f"missed while the engine was down: {len(missed)} firing(s) {iso(missed[0])}..{iso(missed[-1])}, outside the catch-up window"
            await self._fire(missed[0], skip=reason)
            return
        state["cursor"] = due
        await self._fire(due)

    async def _fire(self, when: float, *, manual: bool = False, skip: str | None = None) -> None:
        state = self.state
        state["firings"] += 1
        self.fired_here += 1
        request = {
            "schedule_id": state["id"],
            "workflow": state["workflow"],
            "task_queue": state.get("task_queue"),
            "args": state["args"],
            "scheduled_time": when,
            "workflow_id": f"{state['id']}-{iso(when)}" + (f"-manual-{state['firings']}" if manual else ""),
            "overlap": state["overlap"],
            "running": state["running"],
            "buffer_pending": self.buffered is not None and not self.buffered.done(),
            "skip": skip,
        }
        outcome = await fire(request)
        self._note(outcome)
        if outcome["action"] == "buffered":
            self.buffered = asyncio.ensure_future(self._after_running(request))

    async def _after_running(self, request: dict[str, Any]) -> None:
        outcome = await fire(request | {"overlap": "wait", "running": self.state["running"]})
        self._note(outcome)

    def _note(self, outcome: dict[str, Any]) -> None:
        state = self.state
        state["running"] = [w for w in outcome.get("running", state["running"]) if w != outcome.get("workflow_id")]
        if outcome["action"] == "started":
            state["running"].append(outcome["workflow_id"])
        if outcome["action"] != "buffered":
            shown = {k: v for k, v in outcome.items() if k != "running"}
            state["recent"] = (state["recent"] + [shown])[-RECENT:]

    async def _control(self, message: Any) -> bool:
        """Apply one control signal; True for delete."""
        state = self.state
        current = now().timestamp()  # the signal's time, not the time the wait began
        op = message.get("op") if isinstance(message, dict) else None
        if op == "pause":
            state["paused"], state["note"] = True, message.get("note") or ""
        elif op == "unpause":
            # Firings that fell due while paused are not made up for, as in Temporal.
            state["paused"], state["note"], state["cursor"] = False, message.get("note") or "", max(state["cursor"], current)
        elif op == "trigger":
            await self._fire(float(int(current)), manual=True)  # whole seconds: a readable workflow id
        elif op == "update":
            for key in ("spec", "workflow", "task_queue", "args", "overlap", "catchup_window"):
                if key in message:
                    state[key] = message[key]
            self.spec = ScheduleSpec.from_dict(state["spec"])
            if "paused" in message:
                state["paused"] = message["paused"]
        elif op == "delete":
            return True
        state["applied"] = state.get("applied", 0) + 1  # the handle waits for this to move
        return False


@workflow(name="wfkit.backfill")
async def backfill_workflow(request: dict[str, Any]) -> dict[str, Any]:
    """Run the firings `request["times"]` of a schedule, `max_concurrent` at a time; see the module docstring."""
    limit = max(1, int(request["max_concurrent"]))
    outcomes: list[dict[str, Any]] = []
    set_query_handler(PROGRESS_QUERY, lambda: {"done": len(outcomes), "total": len(request["times"])})

    async def one(when: float) -> None:
        firing = {
            "schedule_id": request["schedule_id"],
            "workflow": request["workflow"],
            "task_queue": request.get("task_queue"),
            "args": request["args"],
            "scheduled_time": when,
            "workflow_id": f"{request['prefix']}-{iso(when)}",
        }
        outcomes.append(await run_firing(firing))

    pending: set[asyncio.Future[Any]] = set()
    for when in request["times"]:
        while len(pending) >= limit:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        pending.add(asyncio.ensure_future(one(when)))
    if pending:
        await asyncio.wait(pending)
    statuses = [o["status"] for o in outcomes]
    return {"firings": len(outcomes), "completed": statuses.count("Completed"), "failed": len(statuses) - statuses.count("Completed")}
