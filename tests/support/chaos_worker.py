"""Worker process of the chaos harness (tests/support/chaos.py): a mixed ETL load against one DuckDB file.

Usage: python chaos_worker.py DB SIDE_FILE CONTROL_FILE LIFE GROUPS

The harness SIGKILLs this process at random moments, or sets `WFKIT_FAULTS` so that the engine
kills it at a named fault point, and starts it again. Every start (a "life", numbered LIFE)
opens the engine (open runs resume), prints "ready", and then, idempotently:

- starts the workflows of groups 0..GROUPS-1 that were never started (`group_workflows`);
- delivers the signals and cancellations the harness asked for in CONTROL_FILE (JSON lines),
  each exactly once: a request already in the target's history is not sent again;
- forks every completed `etl-<i>` whose group asks for a fork (`fork-<i>`, cut at `fork_cut`);
- prints "done" and exits once every run in the file is closed.

The load mixes the features the engine must keep durable: fan-out (`asyncio.gather` over
activities and over child workflows), retries (a flaky validation, an attempt that times out,
an activity that always fails), durable timers, signals from the harness and from a sibling
workflow (an activity of `chaos_notifier` signals `chaos_approval` through the engine, deduplicated
with its idempotency key), child workflows (one of which fails), continue-as-new, cancellation
with cleanup, and forks.

Every activity attempt appends one fsynced JSON line to SIDE_FILE before it does any work: the
harness compares what really ran with what the history says ran. Outcomes are pure functions of
the inputs (`expected_outcome`), so the harness can tell what every run must end with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import wfkit

SOURCES = ("orders", "customers", "payments", "refunds")
ROWS = 16
APPROVAL_ITEMS = 3
LOOP_ROUNDS = 2

_side_fd: int | None = None
_life = -1
_engine: wfkit.Engine | None = None


#### Pure helpers: what the activities compute (the harness uses them for the expected outcomes) ####


def rows_of(source: str, key: int) -> list[int]:
    seed = zlib.crc32(f"{source}/{key}".encode())
    return [(seed * (k + 1)) % 997 for k in range(ROWS)]


def checksum_of(workflow_key: int, total: int) -> int:
    return (total * 31 + workflow_key) % 1_000_003


def item_value(index: int, k: int) -> int:
    return zlib.crc32(f"item/{index}/{k}".encode()) % 100


def peer_value(index: int) -> int:
    return sum(rows_of("peer", index)) % 1000


def fork_cut(index: int, history_length: int) -> int:
    """Where `fork-<index>` cuts `etl-<index>`'s history (inside a workflow task, the worker takes the resume point before it)."""
    return 1 + (index * 7919) % max(1, history_length - 1)


#### Activities ####


def _record_start() -> None:
    """Append (life, run, activity id, attempt, idempotency key) to the side file, durably, before any work."""
    info = wfkit.activity_info()
    line = {
        "life": _life,
        "workflow_id": info.workflow_id,
        "run_id": info.run_id,
        "activity_id": info.activity_id,
        "activity_type": info.activity_type,
        "attempt": info.attempt,
        "idempotency_key": info.idempotency_key,
    }
    assert _side_fd is not None, "the side file is not open"
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    # One write() on an O_APPEND descriptor: a line is either wholly in the file or not at all.
    assert os.write(_side_fd, data) == len(data), "short write to the side file"
    os.fsync(_side_fd)


def _work() -> float:
    return random.uniform(0.002, 0.03)


RETRY = wfkit.RetryPolicy(max_attempts=5, initial_interval=0.02)


@wfkit.activity(retry=RETRY, start_to_close=30)
async def chaos_extract(source: str, key: int) -> list[int]:
    """Async: runs on the engine's loop."""
    _record_start()
    await asyncio.sleep(_work())
    return rows_of(source, key)


@wfkit.activity(retry=RETRY, start_to_close=30)
def chaos_transform(rows: list[int]) -> int:
    """Plain def: runs in a thread."""
    _record_start()
    time.sleep(_work())
    return sum(rows)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.03), start_to_close=30)
async def chaos_validate(total: int) -> int:
    """A flaky service: the first attempt always fails, a retry succeeds."""
    _record_start()
    await asyncio.sleep(_work())
    if wfkit.activity_info().attempt == 1:
        raise ConnectionError("validation service: connection reset by peer")
    return total


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=5, initial_interval=0.02), start_to_close=0.15)
async def chaos_slow_once(key: int) -> int:
    """The first attempt hangs past its start-to-close timeout; the retry is quick."""
    _record_start()
    await asyncio.sleep(1.0 if wfkit.activity_info().attempt == 1 else _work())
    return key


@wfkit.activity(retry=RETRY, start_to_close=30)
async def chaos_load(workflow_key: int, total: int) -> int:
    _record_start()
    await asyncio.sleep(_work())
    return checksum_of(workflow_key, total)


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01), start_to_close=30)
async def chaos_always_fails(index: int) -> int:
    _record_start()
    await asyncio.sleep(_work())
    raise ValueError(f"bad record {index}")


@wfkit.activity(retry=RETRY, start_to_close=30)
async def chaos_reject(index: int) -> int:
    _record_start()
    raise wfkit.ApplicationError(f"part rejected {index}", type="Rejected", non_retryable=True)


@wfkit.activity(retry=RETRY, start_to_close=30)
async def chaos_cleanup(index: int) -> str:
    _record_start()
    await asyncio.sleep(_work())
    return f"cleaned {index}"


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=0, initial_interval=0.02, maximum_interval=0.2), start_to_close=30)
async def chaos_notify(target: str, value: int) -> bool:
    """Signal a sibling workflow through the engine, exactly once: the signal carries this activity's
    idempotency key, and an attempt that finds it already in the target's history does not send it again."""
    _record_start()
    assert _engine is not None, "no engine in this process"
    key = wfkit.activity_info().idempotency_key
    history = _engine.history(target)  # raises WorkflowNotFoundError (retried) until the sibling started
    for event in history:
        if event.event_type is not wfkit.EventType.WorkflowExecutionSignaled or event.attributes.get("signal_name") != "peer":
            continue
        if (_engine.converter.from_payload(event.attributes["input"]) or {}).get("req") == key:
            return False  # an earlier attempt sent it (and then the process died)
    await _engine.get_handle(target).signal("peer", {"req": key, "value": value})
    return True


#### Workflows ####


@wfkit.workflow
async def chaos_load_child(index: int, total: int) -> int:
    await chaos_slow_once(index)
    return await chaos_load(index, total)


@wfkit.workflow
async def chaos_etl(index: int) -> dict[str, Any]:
    """Fan-out extract, a threaded transform, a flaky validation, a durable timer, then a child that loads."""
    parts = await asyncio.gather(*(chaos_extract(source, index) for source in SOURCES))
    total = await chaos_transform([row for part in parts for row in part])
    total = await chaos_validate(total)
    await wfkit.sleep(0.01 + 0.01 * (index % 3))
    checksum = await chaos_load_child(index, total)
    return {"index": index, "total": total, "checksum": checksum}


@wfkit.workflow
async def chaos_approval(index: int) -> dict[str, Any]:
    """Waits for the harness's `item` signals and its sibling's `peer` signal; a signal that never comes times out."""
    reqs, values = [], []
    for _ in range(APPROVAL_ITEMS):
        message = await wfkit.wait_signal("item")
        reqs.append(message["req"])
        values.append(message["value"])
        await wfkit.sleep(0.005)
    peer = await wfkit.wait_signal("peer")
    try:
        await wfkit.wait_signal("never", timeout=0.02)
        late = True
    except TimeoutError:
        late = False
    total = await chaos_transform([*values, peer["value"]])
    return {"index": index, "reqs": reqs, "total": total, "late": late}


@wfkit.workflow
async def chaos_notifier(index: int) -> int:
    value = sum(await chaos_extract("peer", index)) % 1000
    await chaos_notify(f"approve-{index}", value)
    return value


@wfkit.workflow
async def chaos_part(index: int, k: int) -> int:
    rows = await chaos_extract(f"part{k}", index)
    if k == 2:
        await chaos_reject(index)
    return sum(rows)


@wfkit.workflow
async def chaos_fanout(index: int) -> dict[str, Any]:
    """Three children at once; the third fails, and the parent carries on with the other two."""
    results = await asyncio.gather(*(chaos_part(index, k) for k in range(3)), return_exceptions=True)
    good = [r for r in results if isinstance(r, int)]
    failed = [type(r).__name__ for r in results if isinstance(r, BaseException)]
    return {"index": index, "sum": sum(good), "failed": failed}


@wfkit.workflow
async def chaos_loop(index: int, remaining: int) -> int:
    rows = await chaos_extract("loop", index * 10 + remaining)
    await wfkit.sleep(0.005)
    if remaining > 0:
        wfkit.continue_as_new(index, remaining - 1)
    return sum(rows)


@wfkit.workflow
async def chaos_doomed(index: int) -> int:
    return await chaos_always_fails(index)


@wfkit.workflow
async def chaos_cancellable(index: int) -> str:
    try:
        await wfkit.wait_signal("never")
    except asyncio.CancelledError:
        await chaos_cleanup(index)  # cleanup runs activities, then the run ends cancelled
        raise
    return "not cancelled"


WORKFLOWS = (chaos_etl, chaos_load_child, chaos_approval, chaos_notifier, chaos_part, chaos_fanout, chaos_loop, chaos_doomed, chaos_cancellable)


#### What the harness starts, asks for, and expects ####


def group_workflows(index: int) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """(workflow id, workflow, arguments) of the top-level runs of group `index`."""
    yield f"etl-{index}", chaos_etl, (index,)
    if index % 2 == 0:
        yield f"approve-{index}", chaos_approval, (index,)
        yield f"notify-{index}", chaos_notifier, (index,)
    if index % 3 == 0:
        yield f"fan-{index}", chaos_fanout, (index,)
    if index % 4 == 1:
        yield f"loop-{index}", chaos_loop, (index, LOOP_ROUNDS)
    if index % 5 == 2:
        yield f"doomed-{index}", chaos_doomed, (index,)
    if index % 6 == 3:
        yield f"cancel-{index}", chaos_cancellable, (index,)


def forks_in_group(index: int) -> bool:
    return index % 3 != 2


def control_requests(index: int) -> list[dict[str, Any]]:
    """What the harness asks the worker to send to group `index`'s runs."""
    out: list[dict[str, Any]] = []
    if index % 2 == 0:
        out += [
            {"op": "signal", "workflow_id": f"approve-{index}", "name": "item", "req": f"item-{index}-{k}", "value": item_value(index, k)}
            for k in range(APPROVAL_ITEMS)
        ]
    if index % 6 == 3:
        out.append({"op": "cancel", "workflow_id": f"cancel-{index}", "req": f"cancel-{index}"})
    return out


def expected_outcome(workflow_type: str, args: list[Any]) -> tuple[str, Any]:
    """(status, result) that a run of `workflow_type` with `args` must end with; for failures the
    result is (failure type, a text the failure message contains)."""
    if workflow_type == "chaos_etl":
        (index,) = args
        total = sum(sum(rows_of(source, index)) for source in SOURCES)
        return "Completed", {"index": index, "total": total, "checksum": checksum_of(index, total)}
    if workflow_type == "chaos_load_child":
        return "Completed", checksum_of(args[0], args[1])
    if workflow_type == "chaos_approval":
        (index,) = args
        values = [item_value(index, k) for k in range(APPROVAL_ITEMS)]
        reqs = [f"item-{index}-{k}" for k in range(APPROVAL_ITEMS)]
        return "Completed", {"index": index, "reqs": reqs, "total": sum(values) + peer_value(index), "late": False}
    if workflow_type == "chaos_notifier":
        return "Completed", peer_value(args[0])
    if workflow_type == "chaos_part":
        index, k = args
        return ("Failed", ("ActivityError", f"part rejected {index}")) if k == 2 else ("Completed", sum(rows_of(f"part{k}", index)))
    if workflow_type == "chaos_fanout":
        (index,) = args
        return "Completed", {"index": index, "sum": sum(sum(rows_of(f"part{k}", index)) for k in range(2)), "failed": ["ChildWorkflowError"]}
    if workflow_type == "chaos_loop":
        index, remaining = args
        return ("ContinuedAsNew", [index, remaining - 1]) if remaining > 0 else ("Completed", sum(rows_of("loop", index * 10)))
    if workflow_type == "chaos_doomed":
        return "Failed", ("ActivityError", f"bad record {args[0]}")
    if workflow_type == "chaos_cancellable":
        return "Canceled", None
    raise AssertionError(f"unknown workflow type {workflow_type!r}")


#### The driver ####


def _payload_value(engine: wfkit.Engine, payload: Any) -> Any:
    return engine.converter.from_payload(payload) if payload is not None else None


async def _deliver(engine: wfkit.Engine, request: dict[str, Any]) -> None:
    """Send one control request unless the target's history already holds it."""
    history = engine.history(request["workflow_id"])
    if request["op"] == "signal":
        for event in history:
            if (
                event.event_type is wfkit.EventType.WorkflowExecutionSignaled
                and (_payload_value(engine, event.attributes.get("input")) or {}).get("req") == request["req"]
            ):
                return
        await engine.get_handle(request["workflow_id"]).signal(request["name"], {"req": request["req"], "value": request["value"]})
    elif request["op"] == "cancel":
        handle = engine.get_handle(request["workflow_id"])
        if handle.describe().status != "Running" or any(e.event_type is wfkit.EventType.WorkflowExecutionCancelRequested for e in history):
            return
        await handle.cancel(request["req"])


async def _control(engine: wfkit.Engine, control_file: Path) -> None:
    """Deliver the harness's requests in file order, with small random pauses so they land between other work."""
    # What earlier lives delivered (committed), in one query rather than a history per request.
    done = {
        str(row[0])
        for row in engine.sql(
            "SELECT attributes->'$.input.data'->>'req' FROM events WHERE event_type = 'WorkflowExecutionSignaled'"
            " UNION ALL SELECT attributes->>'$.reason' FROM events WHERE event_type = 'WorkflowExecutionCancelRequested'"
        ).fetchall()
    }
    while True:
        lines = control_file.read_text().splitlines() if control_file.exists() else []
        for line in lines:
            request = json.loads(line)
            if request["req"] in done:
                continue
            await asyncio.sleep(random.uniform(0, 0.01))
            await _deliver(engine, request)
            done.add(request["req"])
        await asyncio.sleep(0.02)


async def _forks(engine: wfkit.Engine, groups: int) -> None:
    """Fork each completed `etl-<i>` of a forking group once (as `fork-<i>`)."""
    pending = [i for i in range(groups) if forks_in_group(i)]
    while pending:
        started = {row[0] for row in engine.sql("SELECT DISTINCT workflow_id FROM workflows WHERE workflow_id LIKE 'fork-%'").fetchall()}
        for index in list(pending):
            if f"fork-{index}" in started:
                pending.remove(index)
                continue
            row = engine.sql("SELECT run_id, status, history_length FROM workflows WHERE workflow_id = ?", [f"etl-{index}"]).fetchall()
            if row and row[0][1] == "Completed":
                try:
                    await engine.fork(row[0][0], at_event=fork_cut(index, row[0][2]), id=f"fork-{index}")
                except wfkit.ForkPointError as exc:  # the cut fell inside a workflow task: take the point before it
                    await engine.fork(row[0][0], at_event=exc.before, id=f"fork-{index}")
                pending.remove(index)
        await asyncio.sleep(0.02)


async def main(db: str, side_file: str, control_file: str, life: int, groups: int) -> None:
    global _side_fd, _life, _engine
    _life = life
    _side_fd = os.open(side_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        async with wfkit.Engine.open(db) as engine:
            _engine = engine
            print("ready", flush=True)
            started = {row[0] for row in engine.sql("SELECT DISTINCT workflow_id FROM workflows").fetchall()}
            for index in range(groups):
                for workflow_id, workflow, args in group_workflows(index):
                    if workflow_id not in started:
                        await engine.start(workflow, *args, id=workflow_id, id_reuse_policy="reject_duplicate")
            helpers = [asyncio.ensure_future(_control(engine, Path(control_file))), asyncio.ensure_future(_forks(engine, groups))]
            while True:
                await asyncio.sleep(0.02)
                if helpers[0].done():
                    helpers[0].result()  # a request that raised fails the worker (the harness reads stderr)
                if helpers[1].done():
                    helpers[1].result()
                    open_runs = engine.sql("SELECT count(*) FROM workflows WHERE status = 'Running'").fetchall()[0][0]
                    if open_runs == 0:
                        break
            helpers[0].cancel()
            print("done", flush=True)
    finally:
        os.close(_side_fd)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # A fork cut inside a workflow task moves to an earlier point and says so; that is expected here.
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
