"""External workflows: `wfkit.signal_external` and `wfkit.cancel_external`, recorded as Temporal records them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import wfkit
from tests.support.external_worker import ext_sender, ext_waiter
from tests.support.helpers import run_on_new_loop

E = wfkit.EventType
ROOT = Path(__file__).resolve().parents[2]


@wfkit.workflow
async def ext_collector(expected: int) -> list[Any]:
    got: list[Any] = []
    while len(got) < expected:
        got.append(await wfkit.wait_signal("row"))
    return got


@wfkit.workflow
async def ext_producer(target: str, rows: list[int]) -> int:
    for row in rows:
        await wfkit.signal_external(target, "row", row)
    return len(rows)


@wfkit.workflow
async def ext_lost_sender(target: str) -> str:
    try:
        await wfkit.signal_external(target, "row", 1)
    except wfkit.ExternalWorkflowError as exc:
        return f"{exc.cause_type}: {exc.cause_message}"
    return "delivered"


@wfkit.workflow
async def ext_sleeper() -> str:
    try:
        await wfkit.wait_signal("never")
    except asyncio.CancelledError:
        return "cleaned up"  # a workflow may catch the cancellation and finish normally
    return "woke"


@wfkit.workflow
async def ext_canceller(target: str) -> str:
    await wfkit.cancel_external(target)
    try:
        await wfkit.cancel_external("nobody-runs-this")
    except wfkit.ExternalWorkflowError as exc:
        return exc.cause_type
    return "?"


@wfkit.workflow
async def ext_driver(signal_to: str, cancel_to: str) -> str:
    """Signals one workflow, cancels another, then signals one that does not exist (the dev-server test runs it too)."""
    await wfkit.signal_external(signal_to, "row", 7)
    await wfkit.cancel_external(cancel_to)
    try:
        await wfkit.signal_external(f"{signal_to}-missing", "row", 1)
    except wfkit.ExternalWorkflowError as exc:
        return exc.cause_type
    return "delivered"


def _types(history: wfkit.History) -> list[str]:
    return [e.event_type.value for e in history]


def _steps_through(history: wfkit.History, workflow: wfkit.WorkflowDefinition[Any, Any]) -> None:
    """The replay debugger steps over every event, forward and back, without a nondeterminism."""
    session = wfkit.ReplaySession(history, workflows=[workflow])
    for _ in range(len(history)):
        assert session.step().error is None
    assert session.snapshot().finished
    for _ in range(len(history)):
        session.step_back()
    assert session.position == 0


async def test_a_signal_reaches_the_other_workflow_and_both_histories_say_so(engine: wfkit.Engine) -> None:
    target = await engine.start(ext_collector, 2, id="ext-target")
    sender = await engine.start(ext_producer, "ext-target", [10, 20], id="ext-sender")
    assert await sender.result() == 2
    assert await target.result() == [10, 20]
    sent = engine.history("ext-sender")
    types = _types(sent)
    assert types.count("SignalExternalWorkflowExecutionInitiated") == 2
    assert types.count("ExternalWorkflowExecutionSignaled") == 2
    first = types.index("SignalExternalWorkflowExecutionInitiated")
    assert types[first - 1] == "WorkflowTaskCompleted"  # a command of the workflow task
    initiated = [e for e in sent if e.event_type is E.SignalExternalWorkflowExecutionInitiated]
    signaled = [e for e in sent if e.event_type is E.ExternalWorkflowExecutionSignaled]
    assert [e.attributes["initiated_event_id"] for e in signaled] == [e.event_id for e in initiated]
    assert {e.attributes["run_id"] for e in signaled} == {target.run_id}
    received = [e for e in engine.history("ext-target") if e.event_type is E.WorkflowExecutionSignaled]
    assert [e.attributes["external_workflow_id"] for e in received] == ["ext-sender", "ext-sender"]
    assert [e.attributes["external_run_id"] for e in received] == [sender.run_id, sender.run_id]
    assert [e.attributes["request_id"] for e in received] == [f"{sender.run_id}:{e.event_id}" for e in initiated]
    # Replay sends nothing: it resolves the waits from the recorded outcomes.
    assert wfkit.Replayer(workflows=[ext_producer]).replay(sent).result == 2
    assert wfkit.Replayer(workflows=[ext_collector]).replay(engine.history("ext-target")).result == [10, 20]
    _steps_through(sent, ext_producer)
    # The views count them where they belong.
    runs = dict(engine.sql("SELECT workflow_id, (signal_count, external_signal_count, external_failed_count) FROM runs").fetchall())
    assert runs == {"ext-target": (2, 0, 0), "ext-sender": (0, 2, 0)}
    senders = engine.sql("SELECT signal_name, payload, sender_workflow_id, sender_run_id FROM signals ORDER BY event_id").fetchall()
    assert senders == [("row", "10", "ext-sender", sender.run_id), ("row", "20", "ext-sender", sender.run_id)]


async def test_a_missing_target_is_a_failure_event_and_an_error_in_the_workflow(engine: wfkit.Engine) -> None:
    done = await engine.start(ext_collector, 0, id="ext-closed")
    await done.result()
    handle = await engine.start(ext_lost_sender, "ext-closed", id="ext-lost")
    assert await handle.result() == "ExternalWorkflowExecutionNotFound: workflow 'ext-closed' is not open"
    history = engine.history("ext-lost")
    failed = [e for e in history if e.event_type is E.SignalExternalWorkflowExecutionFailed]
    assert len(failed) == 1
    assert failed[0].attributes["cause"] == "ExternalWorkflowExecutionNotFound"
    assert "ExternalWorkflowExecutionSignaled" not in _types(history)
    assert "WorkflowExecutionSignaled" not in _types(engine.history("ext-closed"))
    assert wfkit.Replayer(workflows=[ext_lost_sender]).replay(history).result.startswith("ExternalWorkflowExecutionNotFound")
    _steps_through(history, ext_lost_sender)
    counts = engine.sql("SELECT external_signal_count, external_failed_count FROM runs WHERE workflow_id = 'ext-lost'").fetchall()
    assert counts == [(1, 1)]


async def test_a_cancel_request_reaches_the_other_workflow(engine: wfkit.Engine) -> None:
    target = await engine.start(ext_sleeper, id="ext-sleeper")
    canceller = await engine.start(ext_canceller, "ext-sleeper", id="ext-canceller")
    assert await canceller.result() == "ExternalWorkflowExecutionNotFound"
    assert await target.result() == "cleaned up"
    sent = _types(engine.history("ext-canceller"))
    assert sent.count("RequestCancelExternalWorkflowExecutionInitiated") == 2
    assert sent.count("ExternalWorkflowExecutionCancelRequested") == 1
    assert sent.count("RequestCancelExternalWorkflowExecutionFailed") == 1
    requested = [e for e in engine.history("ext-sleeper") if e.event_type is E.WorkflowExecutionCancelRequested]
    assert len(requested) == 1
    assert requested[0].attributes["external_workflow_id"] == "ext-canceller"
    assert requested[0].attributes["reason"] == "requested by workflow ext-canceller"
    assert wfkit.Replayer(workflows=[ext_canceller]).replay(engine.history("ext-canceller")).result == "ExternalWorkflowExecutionNotFound"
    _steps_through(engine.history("ext-canceller"), ext_canceller)
    counts = engine.sql("SELECT external_cancel_count, external_failed_count FROM runs WHERE workflow_id = 'ext-canceller'").fetchall()
    assert counts == [(2, 1)]


async def test_the_debugger_lists_an_undelivered_request_as_pending(engine: wfkit.Engine) -> None:
    await engine.start(ext_collector, 1, id="ext-pending-target")
    sender = await engine.start(ext_producer, "ext-pending-target", [1], id="ext-pending")
    await sender.result()
    history = engine.history("ext-pending")
    session = wfkit.ReplaySession(history, workflows=[ext_producer])
    initiated = next(e for e in history if e.event_type is E.SignalExternalWorkflowExecutionInitiated)
    snapshot = session.seek(initiated.event_id)
    assert [(p.kind, p.description) for p in snapshot.pending] == [("external", "signal 'row' to 'ext-pending-target'")]
    assert session.seek(initiated.event_id + 1).pending == ()


def test_a_crash_between_initiated_and_delivered_delivers_the_signal_once(db_path: Path) -> None:
    env = {**os.environ, "WFKIT_FAULTS": "external_delivery:kill", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.external_worker", str(db_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILLed at the fault point
    assert "finished" not in proc.stdout

    async def reopen() -> tuple[list[str], list[str], Any]:
        async with wfkit.Engine.open(db_path) as engine:
            result = await engine.get_handle("crash-target").result()
            await engine.get_handle("crash-sender").result()
            return _types(engine.history("crash-sender")), _types(engine.history("crash-target")), result

    sender, target, result = run_on_new_loop(reopen())
    assert result == ["once"]
    assert sender.count("SignalExternalWorkflowExecutionInitiated") == 1
    assert sender.count("ExternalWorkflowExecutionSignaled") == 1
    assert target.count("WorkflowExecutionSignaled") == 1
    again_sender, again_target, _ = run_on_new_loop(reopen())  # a second restart owes nothing
    assert (again_sender, again_target) == (sender, target)


async def test_a_restart_after_the_target_got_it_records_only_the_senders_outcome(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wfkit._engine._external import ExternalRequests

    def target_only(self: ExternalRequests, sender: Any, initiated: wfkit.Event) -> None:
        # As if the engine died after the target's signal was durable but before the sender's outcome was.
        target = self._target(initiated.attributes["workflow_id"], None)
        assert target is not None
        self._to_target(sender, initiated, target)

    real = ExternalRequests.deliver
    monkeypatch.setattr(ExternalRequests, "deliver", target_only)
    async with wfkit.Engine.open(db_path) as first:
        waiter = await first.start(ext_waiter, id="half-target")
        await first.start(ext_sender, "half-target", "one", id="half-sender")
        for _ in range(200):
            if "WorkflowExecutionSignaled" in _types(first.history("half-target")):
                break
            await asyncio.sleep(0.01)
        await waiter.result()
        assert "ExternalWorkflowExecutionSignaled" not in _types(first.history("half-sender"))
    monkeypatch.setattr(ExternalRequests, "deliver", real)
    async with wfkit.Engine.open(db_path) as second:
        assert await second.get_handle("half-sender").result() == "sent"
        sender = _types(second.history("half-sender"))
        assert _types(second.history("half-target")).count("WorkflowExecutionSignaled") == 1
    assert sender.count("ExternalWorkflowExecutionSignaled") == 1


@wfkit.workflow
async def ext_two_args() -> str:
    try:
        await wfkit.signal_external("ext-anyone", "row", 1, 2)
    except wfkit.ArgumentError as exc:
        return str(exc)
    return "sent"


async def test_more_than_one_signal_argument_is_refused_before_anything_is_recorded(engine: wfkit.Engine) -> None:
    handle = await engine.start(ext_two_args, id="ext-two-args")
    assert "takes one signal argument, got 2" in await handle.result()
    assert "SignalExternalWorkflowExecutionInitiated" not in _types(engine.history("ext-two-args"))
    with pytest.raises(wfkit.NotInWorkflowError):
        await wfkit.signal_external("ext-anyone", "row")


async def test_histories_with_external_requests_export_as_temporal_json(engine: wfkit.Engine, tmp_path: Path) -> None:
    from temporalio.client import WorkflowHistory

    import wfkit.temporal

    target = await engine.start(ext_sleeper, id="ext-export-sleeper")
    canceller = await engine.start(ext_canceller, "ext-export-sleeper", id="ext-export-canceller")
    await canceller.result()
    await target.result()
    collector = await engine.start(ext_collector, 1, id="ext-export-collector")
    await (await engine.start(ext_producer, "ext-export-collector", [5], id="ext-export-producer")).result()
    await collector.result()
    for workflow_id in ("ext-export-sleeper", "ext-export-canceller", "ext-export-collector", "ext-export-producer"):
        history = engine.history(workflow_id)
        path = wfkit.temporal.export_history(history, tmp_path / f"{workflow_id}.json")
        parsed = WorkflowHistory.from_json(workflow_id, path.read_text())  # temporalio reads it
        assert len(parsed.events) == len(history)
        back = wfkit.temporal.load_history(path)
        assert _types(back) == _types(history)
        sent = [e for e in back if e.event_type is E.WorkflowExecutionSignaled or e.event_type is E.WorkflowExecutionCancelRequested]
        assert all(e.attributes.get("external_workflow_id", "").startswith("ext-export-") for e in sent)


async def test_a_fork_never_starts_between_a_request_and_its_delivery(engine: wfkit.Engine) -> None:
    collector = await engine.start(ext_collector, 3, id="ext-fork-target")
    producer = await engine.start(ext_producer, "ext-fork-target", [1, 2], id="ext-fork-producer")
    assert await producer.result() == 2
    history = engine.history("ext-fork-producer")
    second = [e for e in history if e.event_type is E.SignalExternalWorkflowExecutionInitiated][1]
    with pytest.raises(wfkit.ForkPointError, match=f"at event {second.event_id}: it is inside .*; fork at event") as refused:
        await engine.fork(producer.run_id, at_event=second.event_id)
    assert refused.value.before is not None
    assert refused.value.before < second.event_id
    fork = await engine.fork(producer.run_id, at_event=refused.value.before)
    assert await fork.result() == 2  # the fork sends the second signal itself, and sees it delivered
    assert await collector.result() == [1, 2, 2]
    forked = _types(engine.history(run_id=fork.run_id))
    assert forked.count("SignalExternalWorkflowExecutionInitiated") == forked.count("ExternalWorkflowExecutionSignaled") == 2


@wfkit.workflow
async def ext_fire_and_forget(target: str) -> str:
    sending = asyncio.ensure_future(wfkit.signal_external(target, "row", 9))
    await asyncio.sleep(0)  # the signal's task issues its command, then the workflow returns without waiting
    return "done" if not sending.done() else "waited"


async def test_a_sender_that_returns_without_waiting_still_sends(engine: wfkit.Engine) -> None:
    collector = await engine.start(ext_collector, 1, id="ext-forget-target")
    sender = await engine.start(ext_fire_and_forget, "ext-forget-target", id="ext-forget")
    assert await sender.result() == "done"
    assert await collector.result() == [9]
    types = _types(engine.history("ext-forget"))
    assert types[-2:] == ["SignalExternalWorkflowExecutionInitiated", "WorkflowExecutionCompleted"]  # closed: no outcome recorded
    assert wfkit.Replayer(workflows=[ext_fire_and_forget]).replay(engine.history("ext-forget")).result == "done"
