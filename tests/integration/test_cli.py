"""The `wfkit` command line, through click's CliRunner and through the installed entry point: output and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.analytics_data import SCRIPT, make_db
from wfkit.cli import main

COMMANDS = ["demo", "run", "ls", "show", "sql", "stats", "replay", "save-test", "report", "export", "import", "purge", "schedule", "backfill"]


def wfkit_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def entry_point(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `wfkit` script (as a user would), or `python -c 'wfkit.cli.main()'` if it is not on disk."""
    script = Path(sys.executable).parent / "wfkit"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from wfkit.cli import main; main()"]
    env = {k: v for k, v in os.environ.items() if k != "WFKIT_DB"}
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd, env=env)


@pytest.fixture
def known(tmp_path: Path) -> Path:
    return make_db(tmp_path / "known.duckdb")


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_on_every_command(command: str | None) -> None:
    result = wfkit_cli(*([command] if command else []), "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output
    if command is None:
        for name in COMMANDS:
            assert name in result.output


def test_demo_then_every_read_command_through_the_entry_point(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    demo = entry_point("demo", "--runs", "2", "--db", db)
    assert demo.returncode == 0, demo.stderr
    assert "nightly" in demo.stdout
    assert "pipeline" in demo.stdout
    assert "Completed" in demo.stdout
    assert "schedule demo-nightly (0 2 * * *, Europe/Berlin) fires next: " in demo.stdout
    schedules = entry_point("schedule", "ls", "--db", db)
    assert "demo-nightly" in schedules.stdout
    assert "never fired" in schedules.stdout

    listing = entry_point("ls", "--db", db, "--type", "nightly")
    assert listing.returncode == 0
    assert listing.stdout.count("nightly-") == 2
    assert "pipeline" not in listing.stdout

    stats = entry_point("stats", "--db", db)
    assert stats.returncode == 0
    assert "extract" in stats.stdout
    assert "25.0%" in stats.stdout

    workflow_id = json.loads(entry_point("sql", "SELECT workflow_id FROM runs WHERE workflow_type = ? LIMIT 1", "-p", "nightly", "--json", "--db", db).stdout)[
        0
    ]["workflow_id"]
    shown = entry_point("show", workflow_id, "--db", db)
    assert shown.returncode == 0
    assert "WorkflowExecutionCompleted" in shown.stdout
    assert "TimerFired" in shown.stdout
    history = json.loads(entry_point("show", workflow_id, "--json", "--db", db).stdout)
    assert history["workflow_id"] == workflow_id
    assert history["events"][0]["event_type"] == "WorkflowExecutionStarted"

    replayed = entry_point("replay", workflow_id, "--module", "wfkit._demo", "--db", db)
    assert replayed.returncode == 0, replayed.stderr
    assert "deterministic" in replayed.stdout

    report = entry_point("report", workflow_id, "-o", tmp_path / "r.html", "--db", db)
    assert report.returncode == 0
    assert (tmp_path / "r.html").stat().st_size > 0


def test_sql_table_csv_and_json(known: Path) -> None:
    table = wfkit_cli("sql", "SELECT run_id, status FROM runs ORDER BY run_id", "--db", known)
    assert table.exit_code == 0
    assert "run-c" in table.output
    assert "Failed" in table.output
    assert "5 rows" in table.output
    csv_out = wfkit_cli("sql", "SELECT run_id, duration_s FROM runs WHERE run_id IN (?, ?) ORDER BY 1", "-p", "run-a", "-p", "run-e", "--csv", "--db", known)
    assert csv_out.stdout == "run_id,duration_s\nrun-a,19.5\nrun-e,\n"
    as_json = wfkit_cli("sql", "SELECT signal_name, payload, received_time FROM signals", "--json", "--db", known)
    (row,) = json.loads(as_json.stdout)
    assert row["signal_name"] == "decision"
    assert json.loads(row["payload"])["note"] == SCRIPT
    assert row["received_time"].startswith("2027-01-15T08:03:25")
    many = wfkit_cli("sql", "SELECT * FROM events", "--max-rows", "3", "--db", known)
    assert "100 more rows" in many.output


def test_ls_show_stats_on_known_runs(known: Path) -> None:
    failed = wfkit_cli("ls", "--status", "failed", "--db", known)
    assert failed.exit_code == 0
    assert "approval-c" in failed.output
    assert "etl-a" not in failed.output
    assert "no runs match" in wfkit_cli("ls", "--type", "nope", "--db", known).output
    shown = wfkit_cli("show", "approval-c", "--db", known)
    assert shown.exit_code == 0
    assert "card declined" in shown.output
    assert "decision" in shown.output
    assert SCRIPT[:20] in shown.output  # printed as text, not interpreted
    stats = wfkit_cli("stats", "--all-columns", "--db", known)
    assert stats.exit_code == 0
    assert "mean_s" in stats.output
    assert "charge" in stats.output


def test_export_and_import_commands(known: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    exported = wfkit_cli("export", out, "--format", "jsonl", "--partition", "--db", known)
    assert exported.exit_code == 0
    # rich wraps the table's title to the table's width (and the path in it anywhere), so the
    # checks below read table rows, the title's words with line breaks folded, and the files.
    assert re.search(r"events\s*│\s*103\b", exported.output), exported.output
    assert "(jsonl, partitioned by date)" in " ".join(exported.output.split()), exported.output
    manifest = json.loads((out / "wfkit-export.json").read_text())
    assert manifest["partitioned_by_date"] is True
    assert manifest["rows"]["events"] == 103
    assert sorted(p.name for p in (out / "events").iterdir()) == ["date=2027-01-15"]
    again = wfkit_cli("export", out, "--db", known)
    assert again.exit_code == 1
    assert "not empty" in one_error_line(again.stderr)
    imported = wfkit_cli("import", out, "--db", tmp_path / "copy.duckdb")
    assert imported.exit_code == 0
    assert "imported 5 runs (103 events)" in imported.output
    assert "5 already there" in wfkit_cli("import", out, "--db", tmp_path / "copy.duckdb").output


def test_report_command_escapes_payloads(known: Path, tmp_path: Path) -> None:
    result = wfkit_cli("report", "approval-c", "-o", tmp_path / "c.html", "--db", known)
    assert result.exit_code == 0
    assert "wrote" in result.output
    page = (tmp_path / "c.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page


FLOWS = """
import wfkit

@wfkit.activity
async def cli_step(n: int) -> int:
    return n * 2

@wfkit.activity
async def cli_other(n: int) -> int:
    return n

@wfkit.workflow
async def cli_flow(n: int, label: str) -> dict:
    return {"label": label, "value": await {call}(n)}

@wfkit.workflow
async def cli_fails() -> None:
    raise ValueError("broken on purpose")
"""


def test_run_and_replay_detects_nondeterminism(tmp_path: Path) -> None:
    (tmp_path / "cli_flows.py").write_text(textwrap.dedent(FLOWS).replace("{call}", "cli_step"))
    (tmp_path / "cli_flows_changed.py").write_text(textwrap.dedent(FLOWS).replace("{call}", "cli_other"))
    db = tmp_path / "runs.duckdb"
    ran = entry_point("run", "cli_flows:cli_flow", "--arg", "21", "--arg", "answer", "--id", "flow-1", "--db", db, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"label": "answer", "value": 42}
    assert "flow-1" in ran.stderr

    same = entry_point("replay", "flow-1", "--module", "cli_flows", "--db", db, cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    changed = entry_point("replay", "flow-1", "--module", tmp_path / "cli_flows_changed.py", "--db", db, cwd=tmp_path)
    assert changed.returncode == 1
    assert "nondeterminism" in one_error_line(changed.stderr).lower()

    failed = entry_point("run", "cli_flows:cli_fails", "--db", db, cwd=tmp_path)
    assert failed.returncode == 1
    assert "broken on purpose" in one_error_line(failed.stderr)


def test_usage_errors_exit_2() -> None:
    assert wfkit_cli("show").exit_code == 2
    assert wfkit_cli("sql", "select 1", "--csv", "--json").exit_code == 2
    assert wfkit_cli("run", "no-colon-here").exit_code == 2
    assert wfkit_cli("run", "surely_not_a_module_xyz:flow").exit_code == 2
    assert wfkit_cli("export", "x", "--format", "xml").exit_code == 2
    assert wfkit_cli("nosuchcommand").exit_code == 2


def test_errors_are_one_line_with_exit_1(known: Path, tmp_path: Path) -> None:
    missing = wfkit_cli("ls", "--db", tmp_path / "missing.duckdb")
    assert missing.exit_code == 1
    assert "no such database" in one_error_line(missing.stderr)
    unknown = wfkit_cli("show", "no-such-run", "--db", known)
    assert unknown.exit_code == 1
    assert "no run or workflow" in one_error_line(unknown.stderr)
    bad_sql = wfkit_cli("sql", "SELECT * FROM no_such_table", "--db", known)
    assert bad_sql.exit_code == 1
    assert "no_such_table" in one_error_line(bad_sql.stderr)
    write = wfkit_cli("sql", "DELETE FROM known.events", "--db", known)
    assert write.exit_code == 1
    one_error_line(write.stderr)
    (tmp_path / "junk.duckdb").write_bytes(b"garbage" * 1000)
    assert wfkit_cli("stats", "--db", tmp_path / "junk.duckdb").exit_code == 1


def test_a_database_held_by_another_process_names_its_pid(known: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()", str(known)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "ready"
            for command in (["ls"], ["stats"], ["run", "wfkit._demo:nightly", "--arg", '["a"]']):
                result = entry_point(*command, "--db", known)
                assert result.returncode == 1, command
                line = one_error_line(result.stderr)
                assert f"PID {holder.pid}" in line
                assert "another process" in line
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
