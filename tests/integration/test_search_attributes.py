"""Search attributes and memo: set at start, upserted by workflow code, recorded as Temporal records them, found by value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import wfkit
from wfkit.cli import main
from wfkit.temporal import to_temporal_json

REAL = Path(__file__).resolve().parents[1] / "data" / "temporal-real" / "go"


@wfkit.activity
async def sa_extract(partition: str) -> int:
    return len(partition)


@wfkit.workflow
async def sa_pipeline(partition: str) -> dict[str, Any]:
    seen_at_start = dict(wfkit.info().search_attributes)
    wfkit.upsert_search_attributes({"stage": "extracted", "rows": 0})
    rows = await sa_extract(partition)
    wfkit.upsert_search_attributes({"stage": "loaded", "rows": rows, "tables": ["orders", "customers"]})
    wfkit.upsert_memo({"report": {"rows": rows}})
    return {"start": seen_at_start, "now": dict(wfkit.info().search_attributes), "memo": dict(wfkit.info().memo)}


@wfkit.workflow
async def sa_waiter() -> str:
    wfkit.upsert_search_attributes({"stage": "waiting"})
    name = await wfkit.wait_signal("go")
    wfkit.upsert_search_attributes({"stage": name})
    return str(name)


@wfkit.workflow
async def sa_chain(left: int) -> dict[str, Any]:
    if left > 0:
        wfkit.upsert_search_attributes({f"round{left}": True})
        wfkit.continue_as_new(left - 1)
    return dict(wfkit.info().search_attributes)


def _types(history: wfkit.History) -> list[str]:
    return [e.event_type.value for e in history]


async def test_start_and_upserts_are_recorded_seen_by_the_code_and_replayed(engine: wfkit.Engine) -> None:
    handle = await engine.start(sa_pipeline, "2026-11-30", id="sa-1", search_attributes={"team": "data"}, memo={"owner": "ana"})
    result = await handle.result()
    assert result == {
        "start": {"team": "data"},
        "now": {"team": "data", "stage": "loaded", "rows": 10, "tables": ["orders", "customers"]},
        "memo": {"owner": "ana", "report": {"rows": 10}},
    }
    history = engine.history("sa-1")
    types = _types(history)
    assert types.count("UpsertWorkflowSearchAttributes") == 2
    assert types.count("WorkflowPropertiesModified") == 1
    assert history.events[0].attributes["search_attributes"] == {"team": "data"}
    assert history.events[0].attributes["memo"] == {"owner": "ana"}
    # Upserts are commands a replay does not compare, as in Temporal's SDKs; the code replays exactly.
    replayed = wfkit.Replayer(workflows=[sa_pipeline]).replay(history)
    assert replayed.closed
    assert replayed.result == result
    session = wfkit.ReplaySession(history, workflows=[sa_pipeline])
    session.seek(len(history))
    assert session.snapshot().error is None
    session.seek(1)
    assert session.snapshot().error is None


async def test_the_runs_view_holds_the_merged_values_and_list_finds_runs_by_them(engine: wfkit.Engine) -> None:
    for partition, team in [("2026-11-29", "data"), ("2026-11-30", "ops"), ("x", "ops")]:
        await (await engine.start(sa_pipeline, partition, id=f"sa-{partition}", search_attributes={"team": team})).result()
    rows = engine.sql("SELECT workflow_id, search_attributes, memo FROM runs ORDER BY workflow_id").fetchall()
    merged = {wid: (json.loads(sa), json.loads(memo)) for wid, sa, memo in rows}
    assert merged["sa-2026-11-29"] == ({"team": "data", "stage": "loaded", "rows": 10, "tables": ["orders", "customers"]}, {"report": {"rows": 10}})
    # Filter by equality (numbers compare as text, as the CLI passes them) and by list membership.
    assert {s.workflow_id for s in engine.list(search_attributes={"team": "ops"})} == {"sa-2026-11-30", "sa-x"}
    assert [s.workflow_id for s in engine.list(search_attributes={"team": "ops", "rows": 1})] == ["sa-x"]
    assert [s.workflow_id for s in engine.list(search_attributes={"team": "ops", "rows": "1"})] == ["sa-x"]
    assert len(engine.list(search_attributes={"tables": "orders"})) == 3
    assert engine.list(search_attributes={"tables": "nope"}) == []
    assert engine.list(search_attributes={'we"ird': "x"}) == []  # a name is bound, never formatted into SQL
    listed = engine.list(search_attributes={"team": "data"})
    assert listed[0].status == "Completed"
    assert listed[0].search_attributes is not None
    assert listed[0].memo == {"report": {"rows": 10}}
    # SQL over the JSON works as DuckDB's JSON does.
    assert engine.sql("SELECT count(*) FROM runs WHERE CAST(search_attributes->>'$.rows' AS INT) > 5").fetchall() == [(2,)]


async def test_an_open_run_is_listed_live_and_its_values_survive_a_restart(db_path: Path) -> None:
    engine = await wfkit.Engine.open(db_path)
    try:
        await engine.start(sa_waiter, id="sa-wait", search_attributes={"team": "data"})
        for _ in range(100):
            if engine.list(search_attributes={"stage": "waiting"}):
                break
            await __import__("asyncio").sleep(0.02)
        [summary] = engine.list(search_attributes={"stage": "waiting"})
        assert summary.status == "Running"
        assert summary.search_attributes == {"team": "data", "stage": "waiting"}
    finally:
        await engine.close()
    engine = await wfkit.Engine.open(db_path)
    try:
        handle = engine.get_handle("sa-wait")
        await handle.signal("go", "done")
        assert await handle.result() == "done"
        assert [s.workflow_id for s in engine.list(search_attributes={"stage": "done", "team": "data"})] == ["sa-wait"]
    finally:
        await engine.close()


async def test_continue_as_new_keeps_the_values(engine: wfkit.Engine) -> None:
    handle = await engine.start(sa_chain, 2, id="sa-chain", search_attributes={"team": "data"})
    assert await handle.result() == {"team": "data", "round2": True, "round1": True}


async def test_values_that_cannot_be_stored_are_refused_with_their_name(engine: wfkit.Engine) -> None:
    with pytest.raises(wfkit.ArgumentError, match=r"search_attributes\['when'\]: a search attribute is a str, number, bool"):
        await engine.start(sa_pipeline, "p", search_attributes={"when": object()})
    with pytest.raises(wfkit.ArgumentError, match=r"memo\['blob'\]: a memo value must be JSON"):
        await engine.start(sa_pipeline, "p", memo={"blob": {1, 2}})
    with pytest.raises(wfkit.ArgumentError, match="names must be non-empty strings"):
        await engine.start(sa_pipeline, "p", search_attributes={"": 1})
    assert engine.sql("SELECT count(*) FROM events").fetchall() == [(0,)]  # nothing recorded


async def test_the_cli_filters_with_where_and_histories_list_reads_a_closed_file(db_path: Path) -> None:
    engine = await wfkit.Engine.open(db_path)
    try:
        await (await engine.start(sa_pipeline, "a", id="sa-a", search_attributes={"team": "data"})).result()
        await (await engine.start(sa_pipeline, "bb", id="sa-b", search_attributes={"team": "ops"})).result()
    finally:
        await engine.close()
    out = CliRunner().invoke(main, ["ls", "--db", str(db_path), "--where", "team=ops", "--where", "stage=loaded"], catch_exceptions=False, terminal_width=250)
    assert out.exit_code == 0, out.output
    assert "sa-b" in out.output
    assert "sa-a" not in out.output
    assert "team=ops" in out.output
    none = CliRunner().invoke(main, ["ls", "--db", str(db_path), "--where", "team=nobody"], catch_exceptions=False)
    assert none.exit_code == 0
    assert none.output.strip() == "no runs match"
    bad = CliRunner().invoke(main, ["ls", "--db", str(db_path), "--where", "team"], catch_exceptions=False)
    assert bad.exit_code == 2
    assert "expected NAME=VALUE, got 'team'" in bad.output
    with wfkit.open_histories(db_path) as histories:
        [listed] = histories.list(search_attributes={"team": "data"})
        assert listed.workflow_id == "sa-a"
        assert listed.memo == {"report": {"rows": 1}}


async def test_imported_temporal_histories_show_their_search_attributes_and_memo(tmp_path: Path) -> None:
    db = tmp_path / "imported.duckdb"
    engine = await wfkit.Engine.open(db)
    try:
        for name in ("search-attribute.json", "upsert-memo-workflow.json", "memo-json.json"):
            await engine.import_temporal(REAL / name, progress=False)
    finally:
        await engine.close()
    with wfkit.open_histories(db) as histories:
        rows = dict(histories.sql("SELECT workflow_id, search_attributes FROM runs").fetchall())
        assert json.loads(rows["search-attribute"]) == {"CustomStringField": "Hello test!"}
        memos = {wid: json.loads(m) for wid, m in histories.sql("SELECT workflow_id, memo FROM runs").fetchall()}
        assert memos["upsert-memo-workflow"] == {"Test key": "Hello test!"}
        assert memos["replay-tests-memo-json"] == {"parent-memo-key": "parent-test-value"}
        assert [s.workflow_id for s in histories.list(search_attributes={"CustomStringField": "Hello test!"})] == ["search-attribute"]
        counts = dict(histories.sql("SELECT event_type, count(*) FROM events GROUP BY ALL").fetchall())
        assert counts["UpsertWorkflowSearchAttributes"] == 2
        assert counts["WorkflowPropertiesModified"] == 3


async def test_a_native_run_exports_its_values_in_temporal_json(engine: wfkit.Engine, tmp_path: Path) -> None:
    from temporalio.client import WorkflowHistory

    from wfkit.temporal import load_history

    await (await engine.start(sa_pipeline, "abc", id="sa-export", search_attributes={"team": "data"}, memo={"owner": "ana"})).result()
    document = to_temporal_json(engine.history("sa-export"))
    assert len(WorkflowHistory.from_json("sa-export", document).events) == len(engine.history("sa-export").events)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(document))
    back = load_history(path)
    assert back.events[0].attributes["search_attributes"] == {"team": "data"}
    assert back.events[0].attributes["memo"] == {"owner": "ana"}
    upserts = [e.attributes["search_attributes"] for e in back if e.event_type is wfkit.EventType.UpsertWorkflowSearchAttributes]
    assert upserts[-1] == {"stage": "loaded", "rows": 3, "tables": ["orders", "customers"]}
