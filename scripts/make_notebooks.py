"""Write the notebooks in notebooks/ from the cells below (outputs stripped). Run after editing them.

python scripts/make_notebooks.py

A cell whose type and source are unchanged keeps its id from the notebook on disk, so the diff
shows only the cells that changed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent.parent / "notebooks"

SOURCES = '''\
import random
from pathlib import Path

import duckdb

data = Path("data")
data.mkdir(exist_ok=True)
rng = random.Random(7)
con = duckdb.connect()
# orders: a few rows have no customer or a negative amount (bad rows the transform drops)
con.sql(f"""
    copy (select i as order_id,
                 case when i % 17 = 0 then null else 1 + i % 25 end as customer_id,
                 case when i % 23 = 0 then -5.0 else round(10 + (i * 37 % 900) / 10.0, 2) end as amount,
                 date '2026-11-01' + (i % 27)::int as day
          from range(1, 401) t(i)) to '{data / "orders.csv"}' (header)
""")
con.sql(f"""
    copy (select i as customer_id, 'customer ' || i as name,
                 case when i % 3 = 0 then 'DE' when i % 3 = 1 then 'FR' else 'NL' end as country
          from range(1, 26) t(i)) to '{data / "customers.csv"}' (header)
""")
con.sql(f"""
    copy (select i as event_id, 1 + i % 25 as customer_id, case when i % 5 = 0 then 'refund' else 'view' end as kind
          from range(1, 1001) t(i)) to '{data / "events.parquet"}' (format parquet)
""")
sorted(p.name for p in data.iterdir())'''

ACTIVITIES = '''\
import asyncio
import wfkit

@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=4, initial_interval=0.2), start_to_close=30)
async def extract(path: str) -> list[dict]:
    """Read one source file (CSV or Parquet). The events source is flaky: its first attempt fails."""
    if path.endswith("events.parquet") and wfkit.activity_info().attempt == 1:
        raise ConnectionError("object store timed out")
    rel = duckdb.read_parquet(path) if path.endswith(".parquet") else duckdb.read_csv(path)
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]

@wfkit.activity
def transform(orders: list[dict], customers: list[dict], events: list[dict]) -> list[dict]:
    """Drop bad orders, join customers, count refunds per customer: one row per country."""
    con = duckdb.connect()
    con.execute("create table orders as select * from (select unnest(?, recursive := true))", [orders])
    con.execute("create table customers as select * from (select unnest(?, recursive := true))", [customers])
    con.execute("create table events as select * from (select unnest(?, recursive := true))", [events])
    rows = con.execute("""
        select c.country, count(*) as orders, round(sum(o.amount), 2) as revenue,
               count(distinct e.customer_id) as refunding_customers
        from orders o join customers c using (customer_id)
        left join (select distinct customer_id from events where kind = 'refund') e using (customer_id)
        where o.amount > 0
        group by c.country order by c.country
    """).fetchall()
    return [dict(zip(["country", "orders", "revenue", "refunding_customers"], r)) for r in rows]

@wfkit.activity
def load(rows: list[dict], table: str) -> int:
    """Write the result to the warehouse (a DuckDB file of its own)."""
    with duckdb.connect("warehouse.duckdb") as wh:
        wh.execute(f"create or replace table {table} (country varchar, orders int, revenue double, refunding_customers int)")
        wh.executemany(f"insert into {table} values (?, ?, ?, ?)", [list(r.values()) for r in rows])
    return len(rows)'''

WORKFLOW = '''\
@wfkit.workflow
async def etl(orders: str = "data/orders.csv", customers: str = "data/customers.csv",
              events: str = "data/events.parquet", table: str = "sales_by_country") -> int:
    """Extract three sources in parallel, transform them together, load one table."""
    o, c, e = await asyncio.gather(extract(orders), extract(customers), extract(events))
    rows = await transform(o, c, e)
    await wfkit.sleep(0.2)            # a durable timer, as a pause before loading
    return await load(rows, table)'''


def quickstart() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# wfkit quickstart\n\nDefine an ETL pipeline as a workflow, start it from a form, watch it run, "
                "and look at what was recorded. Everything lands in `quickstart.duckdb` next to this notebook."
            ),
            new_markdown_cell("First, some source files: orders (with a few bad rows), customers, and a Parquet file of events."),
            new_code_cell(SOURCES),
            new_markdown_cell(
                "Activities do the real work. `extract` reads a file; the events source fails its first attempt, "
                "so you will see a retry. `transform` is a plain `def`: it runs in a thread."
            ),
            new_code_cell(ACTIVITIES),
            new_markdown_cell("The workflow ties them together. Its code is replayed after a crash, so it only orchestrates."),
            new_code_cell(WORKFLOW),
            new_markdown_cell("Open an engine on a DuckDB file. Runs left open in it would resume now."),
            new_code_cell('engine = await wfkit.Engine.open("quickstart.duckdb")\nengine'),
            new_markdown_cell("A form per workflow, generated from its signature. Press **Start** — or start from code, as the next cell does."),
            new_code_cell("launcher = wfkit.ui.launcher(engine)\nlauncher"),
            new_code_cell('form = launcher.forms["etl"]\nform.workflow_id.value = "etl-quickstart"\nstarted = await form.submit()\nstarted'),
            new_markdown_cell("The monitor refreshes while runs progress; select a run for its timeline and actions."),
            new_code_cell("wfkit.ui.monitor(engine)"),
            new_code_cell('handle = engine.get_handle("etl-quickstart")\nawait handle.result()'),
            new_markdown_cell("The warehouse table the run loaded:"),
            new_code_cell('duckdb.connect("warehouse.duckdb", read_only=True).sql("select * from sales_by_country").df()'),
            new_markdown_cell("Every attempt is in the timeline: the failed first read of the events file, its retry, the timer."),
            new_code_cell('history = engine.history("etl-quickstart")\nwfkit.plot.timeline(history)'),
            new_code_cell("wfkit.plot.graph(history)"),
            new_markdown_cell("The history itself is data:"),
            new_code_cell("history"),
            new_code_cell('engine.sql("select event_type, count(*) as n from events group by 1 order by n desc").df()'),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def replay_debugging() -> nbformat.NotebookNode:
    buggy = ACTIVITIES.replace(
        '''        where o.amount > 0
        group by c.country order by c.country
    """).fetchall()''',
        '''        group by c.country order by c.country
    """).fetchall()
    for country, count, revenue, _ in rows:
        if revenue <= 0 or count == 0:
            raise ValueError(f"{country}: revenue {revenue} from {count} orders")
    bad = [o for o in orders if o["amount"] < 0]
    assert not bad, f"{len(bad)} orders with a negative amount reached the join"  # the bug: nothing drops them''',
    ).replace("@wfkit.activity\ndef transform", "@wfkit.activity(retry=wfkit.RetryPolicy(max_attempts=2, initial_interval=0.1))\ndef transform")
    counter = """\
runs = {"extract": 0, "transform": 0}
_extract = extract.fn

@wfkit.activity(name="extract", retry=wfkit.RetryPolicy(max_attempts=4, initial_interval=0.2))
async def extract(path: str) -> list[dict]:
    runs["extract"] += 1          # count real executions, to see what the fork re-uses
    return await _extract(path)"""
    fixed = '''\
@wfkit.activity
def transform(orders: list[dict], customers: list[dict], events: list[dict]) -> list[dict]:
    """Fixed: drop orders without a customer or with a negative amount before joining."""
    runs["transform"] += 1
    clean = [o for o in orders if o["customer_id"] is not None and o["amount"] > 0]
    con = duckdb.connect()
    con.execute("create table orders as select * from (select unnest(?, recursive := true))", [clean])
    con.execute("create table customers as select * from (select unnest(?, recursive := true))", [customers])
    con.execute("create table events as select * from (select unnest(?, recursive := true))", [events])
    rows = con.execute("""
        select c.country, count(*) as orders, round(sum(o.amount), 2) as revenue,
               count(distinct e.customer_id) as refunding_customers
        from orders o join customers c using (customer_id)
        left join (select distinct customer_id from events where kind = 'refund') e using (customer_id)
        group by c.country order by c.country
    """).fetchall()
    return [dict(zip(["country", "orders", "revenue", "refunding_customers"], r)) for r in rows]'''
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# Debugging a failed run by replaying it\n\nA pipeline with a bug fails. We step through its recorded "
                "history with the code, see where and why it failed, fix the code, and fork the run from just before "
                "the failure — the extracts are not run again."
            ),
            new_code_cell(SOURCES),
            new_markdown_cell("The same pipeline as in the quickstart, but `transform` does not drop the bad orders and trips over them."),
            new_code_cell(buggy),
            new_code_cell(counter),
            new_code_cell(WORKFLOW),
            new_code_cell(
                'engine = await wfkit.Engine.open("debugging.duckdb")\n'
                'handle = await engine.start(etl, id=f"nightly-{len(engine.runs().fetchall())}")\n'
                "try:\n    await handle.result()\nexcept wfkit.WorkflowFailedError as exc:\n    print(exc)"
            ),
            new_markdown_cell(
                "Step through the run: ▶ applies the next event; the panels show the workflow's stack, its local variables "
                "and what it waits for at that point. *next failure* jumps to the failed attempts."
            ),
            new_code_cell("wfkit.ui.debugger(engine, handle.workflow_id)"),
            new_markdown_cell(
                "The same from code. The first failure is the flaky events source (retried, harmless); "
                "a breakpoint on failed `transform` attempts finds the real one. The snapshot shows the workflow's stack there."
            ),
            new_code_cell(
                "session = wfkit.ReplaySession(engine.history(handle.workflow_id), workflows=[etl])\n"
                "first = session.run_to(wfkit.stop_at.failure())\n"
                'print("first failure:", first.event.describe(), "-", first.event.attributes["failure"]["message"])\n'
                'session.add_breakpoint(event_type="ActivityTaskFailed", activity="transform")\n'
                "snap = session.run_to()\n"
                'print("transform failed:", snap.event.attributes["failure"]["message"])\nsnap'
            ),
            new_markdown_cell("Fix `transform` (re-running a cell replaces the activity) and fork the run from the event that scheduled it."),
            new_code_cell(fixed),
            new_code_cell(
                "history = engine.history(handle.workflow_id)\n"
                'scheduled = next(e for e in history if e.attributes.get("activity_type") == "transform")\n'
                "before = dict(runs)\n"
                "forked = await engine.fork(handle.run_id, at_event=scheduled.event_id)\n"
                'print(await forked.result(), "rows loaded")\n'
                'print("extract ran", runs["extract"] - before["extract"], "more times; transform ran", runs["transform"] - before["transform"])'
            ),
            new_code_cell("wfkit.plot.timeline([engine.history(run_id=handle.run_id), engine.history(run_id=forked.run_id)])"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def analytics() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# Histories are data\n\nRun the pipeline many times (some runs hit the flaky source more than once), "
                "then ask questions with SQL over the recorded events."
            ),
            new_code_cell(SOURCES),
            new_code_cell(ACTIVITIES.replace("wfkit.activity_info().attempt == 1", "wfkit.activity_info().attempt <= rng.randint(0, 2)")),
            new_code_cell(WORKFLOW),
            new_code_cell(
                'engine = await wfkit.Engine.open("analytics.duckdb")\n'
                'handles = [await engine.start(etl, table=f"sales_{i % 3}") for i in range(12)]\n'
                "results = [await h.result() for h in handles]\nresults"
            ),
            new_markdown_cell("Runs, their status and length:"),
            new_code_cell('engine.runs().df()[["workflow_id", "status", "history_length", "start_time", "close_time"]].head()'),
            new_markdown_cell("Attempts and failures per activity type, straight from the events table:"),
            new_code_cell(
                'engine.sql("""\n'
                "    select activity_type,\n"
                "           count(*) filter (where event_type = 'ActivityTaskStarted') as attempts,\n"
                "           count(*) filter (where event_type = 'ActivityTaskFailed') as failed_attempts,\n"
                "           max(attempt) as max_attempt\n"
                "    from events where activity_type is not null group by 1 order by 1\n"
                '""").df()'
            ),
            new_markdown_cell("Failure messages are JSON attributes, reachable with DuckDB's JSON operators:"),
            new_code_cell(
                'engine.sql("""select attributes->>\'$.failure.message\' as error, count(*) as n\n'
                '              from events where event_type = \'ActivityTaskFailed\' group by 1""").df()'
            ),
            new_markdown_cell(
                "The common questions are ready-made on `engine.histories`, a `wfkit.Histories` "
                "(`wfkit.open_histories(...)` gives the same API over files, read-only): per activity type,"
            ),
            new_code_cell("engine.histories.stats().df()"),
            new_markdown_cell("and the failures (failed attempts and failed runs), newest first:"),
            new_code_cell("engine.histories.failures().df().head()"),
            new_markdown_cell("Charts over all runs:"),
            new_code_cell("histories = [engine.history(run_id=h.run_id) for h in handles]\nwfkit.plot.duration_distribution(histories)"),
            new_code_cell("wfkit.plot.failures_by_type(histories)"),
            new_code_cell('wfkit.plot.runs_over_time(engine.runs().df(), bucket="second")'),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def _keep_ids(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Give each unchanged cell (same type and source) the id it has in the notebook on disk."""
    if not path.exists():
        return
    old: dict[tuple[str, str], list[str]] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if "id" in cell:
            old.setdefault((cell.cell_type, cell.source), []).append(cell.id)
    for cell in notebook.cells:
        ids = old.get((cell.cell_type, cell.source))
        if ids:
            cell.id = ids.pop(0)


def main() -> None:
    for name, notebook in (("01_quickstart", quickstart()), ("02_replay_debugging", replay_debugging()), ("03_history_analytics", analytics())):
        path = HERE / f"{name}.ipynb"
        _keep_ids(notebook, path)
        nbformat.write(notebook, path)
        print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    main()
