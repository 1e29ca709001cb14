"""Local activities: run in the engine at once, retried here, and recorded only by their final outcome.

The workflow's code asks for one (`ScheduleLocalActivity`, which has no event); this runs its
attempts with the activity runner's machinery (the same invocation, timeouts and failure
shapes) but records nothing per attempt. The final outcome goes to the run as a local activity
marker's attributes (`LiveRun.local_results`); the next workflow task delivers it and the code
records it as the one `MarkerRecorded` event, as Temporal records a local activity. A crash
before that task commits loses only the in-memory outcome: the next open replays the run, finds
the call without a marker and runs it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from wfkit._definitions import RetryPolicy
from wfkit._engine._clock import Clock
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._history._commands import ScheduleLocalActivity
from wfkit._history._local import LOCAL_ACTIVITY_MARKER, local_activity_attributes
from wfkit._history._payload import PayloadConverter
from wfkit._history._state import ActivityState
from wfkit.errors import PayloadError

__all__ = ["LocalActivities"]

logger = logging.getLogger("wfkit.activity")

Invoke = Callable[[LiveRun, ActivityState, int], Awaitable[Any]]
"""Runs one attempt of an activity (`ActivityRunner.invoke`): its result, or it raises."""
DescribeFailure = Callable[[BaseException], dict[str, Any]]
"""An attempt's exception as a recorded failure (`ActivityRunner.attempt_failure`)."""


class LocalActivities:
    """Runs the local activities of live runs and hands their outcomes to the runs' next workflow task."""

    def __init__(self, *, ledger: RunLedger, clock: Clock, converter: PayloadConverter, invoke: Invoke, describe_failure: DescribeFailure) -> None:
        self._ledger = ledger
        self._clock = clock
        self._converter = converter
        self._invoke = invoke
        self._describe_failure = describe_failure
        self._tasks: dict[tuple[str, int], tuple[LiveRun, asyncio.Task[None]]] = {}
        """(run id, seq) -> the run it runs for (a reloaded run is another object) and its task."""

    def start(self, run: LiveRun, requests: Iterable[ScheduleLocalActivity]) -> None:
        """Start running each requested local activity (one that already runs for this run is left alone)."""
        for request in requests:
            key = (run.run_id, request.seq)
            running = self._tasks.get(key)
            if running is not None and running[0] is run:
                continue  # the instance was rebuilt (a redefinition): the outcome still comes to this run
            task = asyncio.get_running_loop().create_task(self._run(run, request), name=f"local activity {request.activity_type}")
            self._tasks[key] = (run, task)
            task.add_done_callback(lambda done, key=key: self._forget(key, done))  # type: ignore[misc]

    def _forget(self, key: tuple[str, int], task: asyncio.Task[None]) -> None:
        entry = self._tasks.get(key)
        if entry is not None and entry[1] is task:
            del self._tasks[key]

    def abandon_run(self, run: LiveRun) -> None:
        """Cancel the local activities of a run that closed or was reloaded (a reloaded run starts its own)."""
        for key, (owner, task) in list(self._tasks.items()):
            if owner is run:
                del self._tasks[key]
                task.cancel()

    def close(self) -> None:
        """Cancel every running local activity (its call runs again at the next open)."""
        for _, task in list(self._tasks.values()):
            task.cancel()
        self._tasks.clear()

    @property
    def running(self) -> int:
        """Local activities running or waiting for a retry now."""
        return len(self._tasks)

    async def _run(self, run: LiveRun, request: ScheduleLocalActivity) -> None:
        scheduled = self._clock.now()
        act = ActivityState(request.seq, request.activity_type, request.args, request.options, 0, scheduled)
        policy = RetryPolicy.from_dict(request.options.get("retry_policy") or {})
        attempt = 0
        while True:
            attempt += 1
            started = self._clock.now()
            act.attempt, act.started_time = attempt, started
            failure, result = await self._attempt(run, act, attempt)
            if failure is None:
                break
            delay = self._retry_delay(policy, act, attempt, failure)
            if delay is None:
                break
            logger.info("local activity %s attempt %d failed, retrying in %gs: %s", act.activity_type, attempt, delay, failure.get("message"))
            await self._sleep(delay)
        if not self._ledger.is_live(run):
            return
        attrs = local_activity_attributes(
            request.seq,
            request.activity_type,
            attempt,
            scheduled_time=scheduled,
            started_time=started,
            complete_time=self._clock.now(),
            result=result,
            failure=failure,
        )
        run.local_results.append({"marker_name": LOCAL_ACTIVITY_MARKER, **attrs})
        self._ledger.mark_dirty(run)

    async def _attempt(self, run: LiveRun, act: ActivityState, attempt: int) -> tuple[dict[str, Any] | None, Any]:
        """(None, result payload) if the attempt returned a storable value, else (failure, None)."""
        try:
            value = await self._invoke(run, act, attempt)
        except asyncio.CancelledError:
            if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # the engine cancelled it (run closed, engine closing)
            return self._describe_failure(asyncio.CancelledError("the local activity raised CancelledError")), None
        except Exception as exc:  # noqa: BLE001 - any failure of user code is recorded, never propagated
            return self._describe_failure(exc), None
        try:
            return None, self._converter.to_payload(value)
        except PayloadError as exc:
            failure = self._describe_failure(PayloadError(f"local activity {act.activity_type} returned a value that cannot be stored: {exc}"))
            failure["non_retryable"] = True  # the same value would fail the same way again
            return failure, None

    def _retry_delay(self, policy: RetryPolicy, act: ActivityState, attempt: int, failure: dict[str, Any]) -> float | None:
        """Seconds until the next attempt, or None when the failure is final (recorded as the policy decides)."""
        short_type = str(failure.get("type", "")).rsplit(".", 1)[-1]
        if failure.get("non_retryable") or failure.get("type") in policy.non_retryable_error_types or short_type in policy.non_retryable_error_types:
            return None
        if policy.max_attempts and attempt >= policy.max_attempts:
            return None
        delay = policy.delay_after(attempt)
        schedule_to_close = act.options.get("schedule_to_close")
        if schedule_to_close and self._clock.now() + delay >= act.scheduled_time + schedule_to_close:
            return None
        return delay

    async def _sleep(self, seconds: float) -> None:
        """Wait on the engine clock (a FakeClock moves it by hand)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        timer = self._clock.call_at(self._clock.now() + seconds, wake)
        try:
            await done
        finally:
            timer.cancel()
