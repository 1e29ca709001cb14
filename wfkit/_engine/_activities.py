"""Running activity attempts: task queues with concurrency and rate limits, timeouts, heartbeats, retries."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from wfkit._activity import ActivityInfo, _ActivityContext, _current
from wfkit._definitions import Registry, RetryPolicy, default_registry
from wfkit._engine._clock import Cancellable, Clock
from wfkit._engine._ledger import LiveRun, RunLedger
from wfkit._engine._local import LocalActivities
from wfkit._engine._timers import Timers
from wfkit._engine._writer import Writer
from wfkit._faults import fault
from wfkit._history._events import ATTEMPT_RETRYING, EventType
from wfkit._history._failure import failure_from_exception
from wfkit._history._payload import PayloadConverter
from wfkit._history._state import ENGINE_RESTART, ENGINE_SHUTDOWN, ActivityState
from wfkit.errors import ConfigurationError, PayloadError

BUILTIN_PREFIX = "wfkit."
"""Activity types of wfkit's own activities."""

__all__ = ["ActivityMock", "ActivityRunner", "TaskQueue"]

logger = logging.getLogger("wfkit.activity")
E = EventType


@dataclass(frozen=True, slots=True)
class TaskQueue:
    """Limits for one named task queue, so a slow source cannot starve the others."""

    max_concurrency: int = 100
    """Attempts of this queue running at once."""
    rate_limit: float | None = None
    """Attempt starts per second (None: no limit)."""

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ConfigurationError(f"TaskQueue.max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ConfigurationError(f"TaskQueue.rate_limit must be > 0 starts per second, got {self.rate_limit}")


class _Queue:
    """A task queue's live state: running count, waiting attempts, a token bucket for the rate limit."""

    def __init__(self, name: str, config: TaskQueue, clock: Clock) -> None:
        self.name = name
        self.config = config
        self.running = 0
        self.waiting: collections.deque[tuple[LiveRun, int]] = collections.deque()
        self._clock = clock
        self._tokens = 1.0 if config.rate_limit else 0.0
        self._refilled = clock.now()
        self.wakeup_armed = False

    def try_acquire(self) -> bool:
        if self.running >= self.config.max_concurrency:
            return False
        if self.config.rate_limit:
            now = self._clock.now()
            self._tokens = min(1.0, self._tokens + (now - self._refilled) * self.config.rate_limit)
            self._refilled = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
        self.running += 1
        return True

    def seconds_to_next_token(self) -> float:
        rate = self.config.rate_limit or 1.0
        return max(0.0, (1.0 - self._tokens) / rate)


@dataclass(eq=False)
class ActivityMock:
    """What an activity does instead of its code while mocked (`Engine.mock_activity`); its attempts are recorded as usual.

    Attempt n raises `raises[n - 1]` while there are that many (a single exception: every attempt
    raises it), then returns `returns`; with `fn`, each attempt calls `fn(*args)` instead (it may be
    `async`, and may raise). An exception class is raised as `cls("mocked <activity type>")`.
    """

    activity_type: str
    returns: Any = None
    raises: BaseException | type[BaseException] | Sequence[BaseException | type[BaseException]] | None = None
    fn: Callable[..., Any] | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    """The arguments of every attempt, in order."""

    async def call(self, attempt: int, *args: Any) -> Any:
        """One attempt (`attempt` is 1-based)."""
        self.calls.append(args)
        if self.fn is not None:
            outcome = self.fn(*args)
            return await outcome if inspect.isawaitable(outcome) else outcome
        raises = self.raises
        error = raises if not isinstance(raises, Sequence) else (raises[attempt - 1] if attempt <= len(raises) else None)
        if isinstance(error, type):
            error = error(f"mocked {self.activity_type}")
        if error is not None:
            raise error
        return self.returns

    @property
    def call_count(self) -> int:
        """Attempts made so far."""
        return len(self.calls)


class _TimedOut(Exception):  # noqa: N818 - internal signal
    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(f"activity exceeded its {kind} timeout of {seconds:g}s")
        self.kind = kind


class _Deadlines:
    """The timeouts one attempt must keep, watched on the engine clock (so a FakeClock skips them)."""

    def __init__(self, deadline: float | None, deadline_kind: str, deadline_seconds: float, heartbeat_timeout: float | None) -> None:
        self.deadline = deadline
        self.deadline_kind = deadline_kind
        self.deadline_seconds = deadline_seconds
        self.heartbeat_timeout = heartbeat_timeout

    @classmethod
    def of(cls, act: ActivityState, now: float) -> _Deadlines | None:
        start_to_close = act.options.get("start_to_close")
        schedule_to_close = act.options.get("schedule_to_close")
        heartbeat_timeout = act.options.get("heartbeat_timeout")
        deadline, kind, seconds = None, "", 0.0
        if schedule_to_close:
            deadline, kind, seconds = act.scheduled_time + schedule_to_close, "ScheduleToClose", float(schedule_to_close)
        if start_to_close and (deadline is None or now + start_to_close < deadline):
            deadline, kind, seconds = now + start_to_close, "StartToClose", float(start_to_close)
        if deadline is None and not heartbeat_timeout:
            return None
        return cls(deadline, kind, seconds, heartbeat_timeout or None)

    async def run(self, future: asyncio.Future[Any], ctx: _ActivityContext, clock: Clock) -> Any:
        """The attempt's result, or `_TimedOut` once a deadline passes (the attempt is then cancelled)."""
        expired: list[_TimedOut] = []
        armed: list[Cancellable] = []

        def check() -> None:
            now = clock.now()
            if self.heartbeat_timeout and now - ctx.last_heartbeat >= self.heartbeat_timeout:
                expired.append(_TimedOut("Heartbeat", self.heartbeat_timeout))
            elif self.deadline is not None and now >= self.deadline:
                expired.append(_TimedOut(self.deadline_kind, self.deadline_seconds))
            if expired:
                future.cancel()
            elif not future.done():
                arm()

        def arm() -> None:
            due = [self.deadline] if self.deadline is not None else []
            if self.heartbeat_timeout:
                due.append(ctx.last_heartbeat + self.heartbeat_timeout)
            armed[:] = [clock.call_at(min(due), check)]

        arm()
        try:
            return await future
        except asyncio.CancelledError:
            if expired:
                raise expired[0] from None
            raise
        finally:
            for timer in armed:
                timer.cancel()


class ActivityRunner:
    """Starts attempts when their queue has room, runs them, and records how each ended."""

    def __init__(
        self,
        *,
        ledger: RunLedger,
        writer: Writer,
        timers: Timers,
        clock: Clock,
        converter: PayloadConverter,
        registry: Registry,
        queues: dict[str, TaskQueue],
        default: TaskQueue,
        max_threads: int,
    ) -> None:
        self._ledger = ledger
        self._writer = writer
        self._timers = timers
        self._clock = clock
        self._converter = converter
        self._registry = registry
        self._configs = dict(queues)
        self._default = default
        self._queues: dict[str, _Queue] = {}
        self._threads = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="wfkit-activity")
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._running: dict[tuple[str, int], LiveRun] = {}
        self.services: Any = None
        """The engine part behind wfkit's built-in activities (`wfkit._activity.service()`)."""
        self.draining = False
        """Set while the engine closes: no new attempt starts (scheduled ones start at the next open)."""
        self.local = LocalActivities(ledger=ledger, clock=clock, converter=converter, invoke=self.invoke, describe_failure=self.attempt_failure)
        """Local activities: attempts run the same way, but only the final outcome is recorded (a marker)."""
        self.mocks: dict[str, ActivityMock] = {}
        """Activity types whose attempts run a mock instead of their code (`Engine.mock_activity`)."""

    @property
    def running(self) -> int:
        """Attempts running now."""
        return len(self._tasks)

    def queue(self, name: str) -> _Queue:
        """The live queue of that name (created with default limits on first use)."""
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue(name, self._configs.get(name, self._default), self._clock)
        return queue

    def configure(self, name: str, config: TaskQueue) -> None:
        """Set a queue's limits (applies to attempts started from now on)."""
        self._configs[name] = config
        if name in self._queues:
            self._queues[name].config = config

    def _queue_of(self, run: LiveRun, act: ActivityState) -> _Queue:
        return self.queue(act.options.get("task_queue") or run.task_queue or "default")

    #### Scheduling ####

    def schedule(self, run: LiveRun, seq: int) -> None:
        """Start the activity's next attempt now if its queue has room, else queue it."""
        act = run.state.activities.get(seq)
        if act is None or self.draining:
            return
        queue = self._queue_of(run, act)
        if queue.try_acquire():
            self._start_attempt(run, act, queue)
        else:
            queue.waiting.append((run, seq))
            self._arm_rate_wakeup(queue)

    def _start_attempt(self, run: LiveRun, act: ActivityState, queue: _Queue) -> None:
        attempt = act.attempt + 1
        self._writer.record(
            run,
            E.ActivityTaskStarted,
            {"activity_id": act.seq, "activity_type": act.activity_type, "scheduled_event_id": act.scheduled_event_id, "attempt": attempt},
        )
        # The attempt runs only once its start is durable, so a crash can never hide an attempt.
        self._writer.after_commit(run, lambda: self._launch(run, act.seq, attempt, queue))

    def _launch(self, run: LiveRun, seq: int, attempt: int, queue: _Queue) -> None:
        act = run.state.activities.get(seq)
        if not self._ledger.is_live(run) or act is None or act.attempt != attempt:
            self._release(queue)
            return
        task = asyncio.get_running_loop().create_task(self._run_attempt(run, act, attempt, queue))
        self._tasks[(run.run_id, seq)] = task
        self._running[(run.run_id, seq)] = run

    def _release(self, queue: _Queue) -> None:
        queue.running -= 1
        self._pump(queue)

    def _pump(self, queue: _Queue) -> None:
        while queue.waiting:
            run, seq = queue.waiting[0]
            act = run.state.activities.get(seq)
            if not self._ledger.is_live(run) or act is None or act.running:
                queue.waiting.popleft()
                continue
            if not queue.try_acquire():
                self._arm_rate_wakeup(queue)
                return
            queue.waiting.popleft()
            self._start_attempt(run, act, queue)

    def _arm_rate_wakeup(self, queue: _Queue) -> None:
        if queue.config.rate_limit and not queue.wakeup_armed and queue.running < queue.config.max_concurrency:
            queue.wakeup_armed = True

            def wake() -> None:
                queue.wakeup_armed = False
                self._pump(queue)

            self._clock.call_at(self._clock.now() + queue.seconds_to_next_token(), wake)

    def cancel(self, run: LiveRun, seq: int) -> None:
        """Stop a running attempt (async activities are cancelled; threads are abandoned)."""
        task = self._tasks.pop((run.run_id, seq), None)
        self._running.pop((run.run_id, seq), None)
        if task is not None:
            task.cancel()

    def abandon_run(self, run: LiveRun) -> None:
        """Cancel every running attempt of a run that closed, and its local activities."""
        for seq in list(run.state.activities):
            self.cancel(run, seq)
        self.local.abandon_run(run)

    def resume(self, run: LiveRun, *, last_alive: float | None = None) -> None:
        """After a restart: record attempts cut short as lost, re-arm retries, start what never started.

        `last_alive` is when the engine that ran them was last known alive: a lost attempt ends
        there (or at its start, if later), so the downtime is never counted as its duration.
        """
        for act in list(run.state.activities.values()):
            if act.running:
                self.record_lost(run, act, ENGINE_RESTART, "the engine stopped while this attempt was running", last_alive)
                self.schedule(run, act.seq)
            elif act.retry_at is not None:
                self._arm_retry(run, act.seq, act.retry_at)
            else:
                self.schedule(run, act.seq)

    def record_lost(self, run: LiveRun, act: ActivityState, how: str, message: str, last_alive: float | None) -> None:
        """Record the running attempt of `act` as lost (`how`: EngineRestart or EngineShutdown); another attempt follows."""
        started = act.started_time if act.started_time is not None else self._clock.now()
        alive = max(started, min(last_alive, self._clock.now())) if last_alive is not None else started
        failure = {"type": how, "message": message, "stack": "", "non_retryable": False}
        attrs = self._attempt_end(act, act.attempt) | {
            "retry_state": ATTEMPT_RETRYING,
            "timeout_type": how,
            "next_retry_delay": 0.0,
            "last_alive_time": round(alive, 6),
            "failure": failure,
        }
        self._writer.record(run, E.ActivityTaskTimedOut, attrs)

    def _arm_retry(self, run: LiveRun, seq: int, when: float) -> None:
        def due() -> None:
            act = run.state.activities.get(seq)
            if self._ledger.is_live(run) and act is not None and act.retry_at is not None:
                self.schedule(run, seq)

        self._timers.call_at(run, when, due)

    #### Running an attempt ####

    async def _run_attempt(self, run: LiveRun, act: ActivityState, attempt: int, queue: _Queue) -> None:
        key = (run.run_id, act.seq)
        started = self._clock.now()
        outcome: Any = None
        error: BaseException | None = None
        try:
            outcome = await self._invoke(run, act, attempt)
        except asyncio.CancelledError as exc:
            if self._tasks.get(key) is not asyncio.current_task():
                self._release(queue)
                return  # cancelled by the engine (workflow request, run closed, shutdown)
            error = exc  # the activity itself raised CancelledError: an ordinary failure
        except BaseException as exc:  # noqa: BLE001 - any failure of user code is recorded, never propagated
            error = exc
        self._tasks.pop(key, None)
        self._running.pop(key, None)
        self._release(queue)
        current = run.state.activities.get(act.seq)
        if not self._ledger.is_live(run) or current is None or current.attempt != attempt or not current.running:
            return  # abandoned: cancelled, run closed, or engine reloaded the run
        if error is None:
            fault("activity_completed")
            try:
                payload = self._converter.to_payload(outcome)
            except PayloadError as exc:
                error = PayloadError(f"activity {act.activity_type} returned a value that cannot be stored: {exc}")
            else:
                self._writer.record(run, E.ActivityTaskCompleted, self._attempt_end(act, attempt) | {"result": payload})
                self._ledger.mark_dirty(run)
                return
        self._record_failure(run, act, attempt, error, self._clock.now() - started)

    async def invoke(self, run: LiveRun, act: ActivityState, attempt: int) -> Any:
        """Run one attempt of `act` in this process (its timeouts watched); its result, or it raises (`_TimedOut` on a timeout)."""
        return await self._invoke(run, act, attempt)

    @staticmethod
    def attempt_failure(error: BaseException) -> dict[str, Any]:
        """An attempt's exception as recorded: a timeout is a `TimeoutError` with its `timeout_type`."""
        failure = failure_from_exception(error)
        if isinstance(error, PayloadError):
            failure["non_retryable"] = True
        if isinstance(error, _TimedOut):
            failure["type"] = "TimeoutError"
            failure["timeout_type"] = error.kind
        return failure

    async def _invoke(self, run: LiveRun, act: ActivityState, attempt: int) -> Any:
        # Activities defined with the plain decorator live in the default registry even when the
        # engine was given its own registry for workflows.
        definition = self._registry.activity(act.activity_type) or default_registry.activity(act.activity_type)
        mock = self.mocks.get(act.activity_type)
        if definition is None and mock is None:
            raise LookupError(f"activity {act.activity_type!r} is not registered in this process (define it, or pass it to Engine.open)")
        hints = definition.param_hints() if definition is not None else []
        args = [self._converter.from_payload(p, hints[i] if i < len(hints) else Any) for i, p in enumerate(act.args)]
        info = ActivityInfo(act.activity_type, act.seq, attempt, run.workflow_id, run.run_id, f"{run.run_id}:{act.seq}")
        ctx = _ActivityContext(info, self._clock.now, services=self.services)
        watch = _Deadlines.of(act, self._clock.now())
        fn: Callable[..., Any]
        if mock is not None:
            fn, is_async = functools.partial(mock.call, attempt), True
        else:
            assert definition is not None
            fn, is_async = definition.fn, definition.is_async
        if watch is None and is_async:
            # No timeout to watch: run the coroutine in this task (one task and no timer per attempt).
            token = _current.set(ctx)
            try:
                return await fn(*args)
            finally:
                _current.reset(token)
        future = self._spawn(fn, is_async, args, ctx)
        if watch is None:
            return await future
        return await watch.run(future, ctx, self._clock)

    def _spawn(self, fn: Callable[..., Any], is_async: bool, args: list[Any], ctx: _ActivityContext) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        context.run(_current.set, ctx)
        if is_async:
            # A task copies the context it is created in (create_task(context=...) is Python 3.11+).
            return context.run(loop.create_task, fn(*args))
        return loop.run_in_executor(self._threads, context.run, fn, *args)

    def _record_failure(self, run: LiveRun, act: ActivityState, attempt: int, error: BaseException, elapsed: float) -> None:
        policy = RetryPolicy.from_dict(act.options.get("retry_policy") or {})
        failure = failure_from_exception(error)
        if isinstance(error, PayloadError):
            failure["non_retryable"] = True  # the same value would fail the same way again
        timed_out = isinstance(error, _TimedOut)
        event_type = E.ActivityTaskTimedOut if timed_out else E.ActivityTaskFailed
        attrs = self._attempt_end(act, attempt) | {"failure": failure}
        if isinstance(error, _TimedOut):
            attrs["timeout_type"] = error.kind
            failure["type"] = "TimeoutError"
        counted = attempt - act.lost_attempts
        short_type = failure["type"].rsplit(".", 1)[-1]
        if failure["non_retryable"] or failure["type"] in policy.non_retryable_error_types or short_type in policy.non_retryable_error_types:
            attrs["retry_state"] = "NonRetryableFailure"
        elif isinstance(error, _TimedOut) and error.kind == "ScheduleToClose":
            attrs["retry_state"] = "Timeout"
        elif policy.max_attempts and counted >= policy.max_attempts:
            attrs["retry_state"] = "MaximumAttemptsReached"
        else:
            delay = policy.delay_after(counted)
            schedule_to_close = act.options.get("schedule_to_close")
            if schedule_to_close and self._clock.now() + delay >= act.scheduled_time + schedule_to_close:
                attrs["retry_state"] = "Timeout"
            else:
                attrs["retry_state"] = ATTEMPT_RETRYING
                attrs["next_retry_delay"] = delay
                event = self._writer.record(run, event_type, attrs)
                logger.info("activity %s attempt %d failed after %.3fs, retrying in %gs: %s", act.activity_type, attempt, elapsed, delay, failure["message"])
                self._arm_retry(run, act.seq, event.event_time + delay)
                return
        self._writer.record(run, event_type, attrs)
        self._ledger.mark_dirty(run)

    @staticmethod
    def _attempt_end(act: ActivityState, attempt: int) -> dict[str, Any]:
        return {
            "activity_id": act.seq,
            "activity_type": act.activity_type,
            "scheduled_event_id": act.scheduled_event_id,
            "started_event_id": act.started_event_id,
            "attempt": attempt,
        }

    async def drain(self, grace: float) -> None:
        """Start no more attempts, give the running ones `grace` seconds to end, and record the rest as lost.

        A lost attempt ends now (EngineShutdown) and runs again at the next open, as after a crash but
        with its real end time; a thread cannot be stopped, so its late result is discarded.
        """
        self.draining = True
        # wfkit's own activities (a schedule's firing, a backfill's run) only wait on other runs: no grace.
        working = [task for (run_id, seq), task in self._tasks.items() if not self._is_wait(self._running[(run_id, seq)], seq)]
        if working and grace > 0:
            await asyncio.wait(working, timeout=grace)
        for key, task in list(self._tasks.items()):
            run = self._running.pop(key)
            del self._tasks[key]
            act = run.state.activities.get(key[1])
            if self._ledger.is_live(run) and act is not None and act.running:
                self.record_lost(run, act, ENGINE_SHUTDOWN, f"the engine closed while this attempt was running (grace period {grace:g}s)", self._clock.now())
            task.cancel()

    @staticmethod
    def _is_wait(run: LiveRun, seq: int) -> bool:
        act = run.state.activities.get(seq)
        return act is not None and act.activity_type.startswith(BUILTIN_PREFIX)

    def close(self) -> None:
        """Cancel running async attempts and stop taking thread work (threads finish on their own)."""
        self.local.close()
        for task in list(self._tasks.values()):
            task.cancel()
        self._tasks.clear()
        self._running.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
