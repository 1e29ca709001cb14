"""Running workflows end to end on a real DuckDB file: results, histories, replay, determinism."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import uuid
from pathlib import Path

import duckdb
import pytest

import wfkit
from tests.support.helpers import event_types

CALLS: list[str] = []


@wfkit.activity
async def b_extract(source: str) -> list[dict[str, float]]:
    CALLS.append(f"extract:{source}")
    return [{"id": k, "amount": k * 1.5} for k in range(10)]


@wfkit.activity
def b_transform(rows: list[dict[str, float]]) -> float:
    CALLS.append("transform")
    return sum(r["amount"] for r in rows)


@wfkit.activity
async def b_load(total: float) -> str:
    CALLS.append("load")
    return f"loaded {total}"


@wfkit.workflow
async def b_etl(sources: list[str]) -> str:
    batches = await asyncio.gather(*(b_extract(s) for s in sources))
    total = await b_transform([r for batch in batches for r in batch])
    return await b_load(total)


async def test_etl_runs_and_records_a_gapless_history(engine: wfkit.Engine) -> None:
    CALLS.clear()
    handle = await engine.start(b_etl, ["a", "b"], id="etl-1")
    assert await handle.result() == "loaded 135.0"
    assert sorted(CALLS) == ["extract:a", "extract:b", "load", "transform"]
    history = engine.history("etl-1")
    assert [e.event_id for e in history] == list(range(1, len(history) + 1))
    types = event_types(history)
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionCompleted"
    assert types.count("ActivityTaskScheduled") == 4
    assert types.count("ActivityTaskCompleted") == 4
    # The gather scheduled both extracts in one workflow task.
    first_task = types.index("WorkflowTaskCompleted")
    assert types[first_task + 1 : first_task + 5] == ["ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskScheduled", "ActivityTaskStarted"]
    row = engine.sql("select status, history_length, workflow_type from workflows where workflow_id = ?", ["etl-1"]).fetchall()[0]
    assert row == ("Completed", len(history), "b_etl")


async def test_events_table_has_typed_columns_and_json_attributes(engine: wfkit.Engine) -> None:
    await (await engine.start(b_etl, ["x"], id="etl-cols")).result()
    rows = engine.sql(
        "select activity_type, attempt, attributes->>'$.result.data' from events e join workflows w using (run_id)"
        " where w.workflow_id = ? and event_type = 'ActivityTaskCompleted' order by event_id",
        ["etl-cols"],
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("b_extract", 1), ("b_transform", 1), ("b_load", 1)]
    assert rows[2][2] == "loaded 67.5"


async def test_replaying_a_finished_history_gives_the_same_commands_and_result(engine: wfkit.Engine) -> None:
    CALLS.clear()
    await (await engine.start(b_etl, ["a", "b", "c"], id="etl-replay")).result()
    calls_before = list(CALLS)
    history = engine.history("etl-replay")
    result = wfkit.Replayer(workflows=[b_etl]).replay(history)
    assert result.result == "loaded 202.5"
    assert calls_before == CALLS, "replay must not run activities"
    recorded = [e.event_type.value for e in history if e.event_type.value in ("ActivityTaskScheduled", "WorkflowExecutionCompleted")]
    issued = [type(c).__name__ for c in result.commands]
    assert issued == ["ScheduleActivity"] * 3 + ["ScheduleActivity", "ScheduleActivity", "CompleteWorkflow"]
    assert len(recorded) == len(issued)


@wfkit.workflow(name="b_reordered")
async def b_reordered_v1(x: int) -> int:
    a = await b_first(x)
    b = await b_second(x)
    return a + b


@wfkit.activity
async def b_first(x: int) -> int:
    return x


@wfkit.activity
async def b_second(x: int) -> int:
    return 2 * x


async def test_reordered_activities_raise_nondeterminism_naming_the_event(engine: wfkit.Engine) -> None:
    await (await engine.start(b_reordered_v1, 5, id="reorder")).result()
    history = engine.history("reorder")

    @wfkit.workflow(name="b_reordered", registry=wfkit.Registry())
    async def b_reordered_v2(x: int) -> int:
        b = await b_second(x)
        a = await b_first(x)
        return a + b

    with pytest.raises(wfkit.NondeterminismError) as info:
        wfkit.Replayer(workflows=[b_reordered_v2]).replay(history)
    first_schedule = next(e for e in history if e.event_type is wfkit.EventType.ActivityTaskScheduled)
    assert info.value.event_id == first_schedule.event_id
    assert "ActivityTaskScheduled(b_first)" in str(info.value)
    assert "ActivityTaskScheduled(b_second)" in str(info.value)


@dataclasses.dataclass
class Order:
    id: int
    placed: datetime.datetime
    price: decimal.Decimal
    blob: bytes


@wfkit.activity
async def b_echo_order(order: Order) -> Order:
    assert isinstance(order.placed, datetime.datetime)
    return dataclasses.replace(order, price=order.price * 2)


@wfkit.workflow
async def b_orders(order: Order) -> Order:
    return await b_echo_order(order)


async def test_payloads_rebuild_dataclasses_datetimes_decimals_bytes(engine: wfkit.Engine) -> None:
    order = Order(7, datetime.datetime(2026, 11, 27, 12, tzinfo=datetime.timezone.utc), decimal.Decimal("1.10"), b"\x00\xff")
    result = await (await engine.start(b_orders, order)).result()
    assert result == Order(7, order.placed, decimal.Decimal("2.20"), b"\x00\xff")


@wfkit.activity
async def b_takes_anything(value: object) -> None:
    return None


@wfkit.workflow
async def b_bad_arg() -> None:
    await b_takes_anything(object())


@wfkit.workflow
async def b_sleeper(seconds: float) -> str:
    await wfkit.sleep(seconds)
    return "woke"


async def test_unserializable_argument_fails_only_that_run_with_a_clear_error(engine: wfkit.Engine) -> None:
    other = await engine.start(b_sleeper, 0.05)
    bad = await engine.start(b_bad_arg)
    with pytest.raises(wfkit.WorkflowFailedError) as info:
        await bad.result()
    assert info.value.cause_type == "PayloadError"
    assert "activity b_takes_anything" in info.value.cause_message
    assert "object" in info.value.cause_message
    assert await other.result() == "woke"
    closing = engine.history(run_id=bad.run_id)[-1]
    assert closing.event_type is wfkit.EventType.WorkflowExecutionFailed


async def test_unserializable_start_argument_raises_at_start(engine: wfkit.Engine) -> None:
    with pytest.raises(wfkit.PayloadError, match="workflow b_sleeper: argument 1"):
        await engine.start(b_sleeper, float("nan"))


@wfkit.workflow
async def b_crashing(kind: str) -> None:
    if kind == "value":
        raise ValueError("bad row 17")
    raise KeyError("missing")


async def test_exception_in_workflow_code_fails_the_run_with_type_message_and_stack(engine: wfkit.Engine) -> None:
    healthy = await engine.start(b_etl, ["ok"])
    handle = await engine.start(b_crashing, "value")
    with pytest.raises(wfkit.WorkflowFailedError, match="bad row 17"):
        await handle.result()
    failure = engine.history(run_id=handle.run_id)[-1].attributes["failure"]
    assert failure["type"] == "ValueError"
    assert failure["message"] == "bad row 17"
    assert "b_crashing" in failure["stack"]
    assert await healthy.result() == "loaded 67.5"
    status = engine.sql("select status from workflows where run_id = ?", [handle.run_id]).fetchall()[0]
    assert status == ("Failed",)


@wfkit.workflow
async def b_deterministic_values() -> list[str]:
    return [wfkit.now().isoformat(), str(wfkit.random().random()), str(wfkit.uuid4()), wfkit.info().workflow_id]


async def test_now_random_uuid4_are_the_same_on_replay(engine: wfkit.Engine) -> None:
    values = await (await engine.start(b_deterministic_values, id="det")).result()
    assert values[3] == "det"
    uuid.UUID(values[2])
    replayed = wfkit.Replayer(workflows=[b_deterministic_values]).replay(engine.history("det"))
    assert replayed.result == values


async def test_calling_an_activity_outside_a_workflow_just_runs_it() -> None:
    assert b_transform([{"amount": 1.0}, {"amount": 2.0}]) == 3.0
    assert await b_load(3.0) == "loaded 3.0"
    with pytest.raises(wfkit.NotInWorkflowError, match=r"wfkit.now\(\)"):
        wfkit.now()


async def test_in_memory_engine_when_no_path_is_given() -> None:
    async with wfkit.Engine.open() as engine:
        assert await (await engine.start(b_etl, ["m"])).result() == "loaded 67.5"
        assert engine.store.path is None


def test_sync_run_helper_in_a_script(tmp_path: Path) -> None:
    assert wfkit.run(b_etl, ["s"], db=tmp_path / "sync.duckdb") == "loaded 67.5"
    con = duckdb.connect(str(tmp_path / "sync.duckdb"), read_only=True)
    assert con.sql("select status from workflows").fetchall() == [("Completed",)]


async def test_sync_run_helper_inside_a_running_loop(tmp_path: Path) -> None:
    # As in a Jupyter cell: a loop is already running on this thread.
    assert wfkit.run(b_etl, ["j"], db=tmp_path / "nested.duckdb") == "loaded 67.5"


async def test_engine_closed_errors(db_path: Path) -> None:
    engine = await wfkit.Engine.open(db_path)
    await engine.close()
    with pytest.raises(wfkit.EngineClosedError):
        await engine.start(b_etl, ["x"])
