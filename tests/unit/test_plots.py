"""Plots: the timeline, the graph and the summary charts have the expected traces; payload text is escaped."""

from __future__ import annotations

import asyncio
import time

import wfkit
from wfkit import plot

E = wfkit.EventType


@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=3, initial_interval=0.01))
async def p_extract(source: str) -> list[dict[str, object]]:
    if source == "flaky" and wfkit.activity_info().attempt == 1:
        raise ConnectionError("<b>reset</b> by peer")
    return [{"id": 1, "note": "<script>alert(1)</script>"}]


@wfkit.activity
async def p_load(rows: list[dict[str, object]]) -> int:
    return len(rows)


@wfkit.workflow
async def p_child(source: str) -> int:
    return len(await p_extract(source))


@wfkit.workflow
async def p_pipeline(sources: list[str]) -> int:
    batches = await asyncio.gather(*(p_extract(s) for s in sources))
    await wfkit.sleep(0.01)
    approved = await wfkit.wait_signal("approve", timeout=5)
    count = await p_child("child-src")
    return await p_load(batches[0]) + count + int(bool(approved))


async def _history(engine: wfkit.Engine) -> wfkit.History:
    handle = await engine.start(p_pipeline, ["a", "flaky"], id=f"plot-{time.monotonic_ns()}")
    await asyncio.sleep(0.1)
    await handle.signal("approve", "<img src=x onerror=alert(1)>")
    await handle.result()
    return engine.history(run_id=handle.run_id)


async def test_timeline_has_lanes_attempts_markers_and_escaped_hover(engine: wfkit.Engine) -> None:
    history = await _history(engine)
    fig = plot.timeline(history)
    names = [t.name for t in fig.data]
    assert {"completed", "failed", "timer", "fired", "signal"} <= set(names)
    completed = next(t for t in fig.data if t.name == "completed")
    failed = next(t for t in fig.data if t.name == "failed")
    assert "p_extract #2" in failed.y  # the flaky source's failed first attempt ...
    assert list(completed.y).count("p_extract #2") == 1  # ... and its successful retry, in the same lane
    assert any(str(lane).startswith("child p_child") for lane in completed.y)
    hovers = " ".join(str(h) for t in fig.data for h in (t.hovertext or []))
    assert "&lt;script&gt;" in hovers
    assert "<script>" not in hovers
    assert "&lt;img src=x onerror=alert(1)&gt;" in hovers
    assert "&lt;b&gt;reset&lt;/b&gt;" in hovers
    with_tasks = plot.timeline(history, workflow_tasks=True)
    assert "workflow task" in [t.name for t in with_tasks.data]


async def test_timeline_of_several_runs_groups_lanes_by_run(engine: wfkit.Engine) -> None:
    first, second = await _history(engine), await _history(engine)
    fig = plot.timeline([first, second])
    lanes = {str(y) for t in fig.data if t.y is not None for y in t.y}
    assert any(lane.startswith(first.workflow_id) for lane in lanes)
    assert any(lane.startswith(second.workflow_id) for lane in lanes)


async def test_timeline_switches_to_webgl_for_very_large_runs() -> None:
    @wfkit.workflow(registry=wfkit.Registry())
    async def p_wide(n: int) -> int:
        return len(await asyncio.gather(*(p_load([]) for _ in range(n))))

    async with wfkit.Engine.open() as engine:
        handle = await engine.start(p_wide, 2500)
        await handle.result()
        history = engine.history(run_id=handle.run_id)
    began = time.perf_counter()
    fig = plot.timeline(history)
    assert time.perf_counter() - began < 10
    assert {type(t).__name__ for t in fig.data if t.name == "completed"} == {"Scattergl"}


async def test_graph_draws_nodes_by_outcome_and_both_edge_kinds(engine: wfkit.Engine) -> None:
    history = await _history(engine)
    fig = plot.graph(history)
    assert [t.name for t in fig.data] == ["causal edge", "data edge", "steps"]
    steps = fig.data[-1]
    assert len(steps.x) == len(wfkit.activity_graph(history).nodes)
    early = plot.graph(history, at_event=8)
    assert list(early.data[-1].marker.color) != list(steps.marker.color)  # nodes take their state as of event 8
    assert list(early.data[-1].x) == list(steps.x)  # same layout while stepping


async def test_summary_charts(engine: wfkit.Engine) -> None:
    histories = [await _history(engine) for _ in range(2)]
    durations = plot.duration_distribution(histories)
    assert {t.name for t in durations.data} == {"p_extract", "p_load"}
    failures = plot.failures_by_type(histories)
    failed = dict(zip(failures.data[0].x, failures.data[0].y, strict=True))
    assert failed["p_extract"] >= 1
    over_time = plot.runs_over_time(engine.runs().df(), bucket="second")
    assert sum(sum(t.y) for t in over_time.data) == len(engine.runs().fetchall())
