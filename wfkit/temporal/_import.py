"""Store Temporal histories in an engine's DuckDB file: `engine.import_temporal(path_or_dir)`."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wfkit._store._store import RunClose, RunRow, Store
from wfkit.errors import HistoryFormatError, WfkitError
from wfkit.temporal._load import RUNNING_ON_TEMPORAL, Loaded, load, report_unknown, report_warnings

if TYPE_CHECKING:
    from wfkit._engine._engine import Engine

__all__ = ["ImportReport", "import_into", "store_loaded"]

logger = logging.getLogger("wfkit.temporal")

_SUFFIXES = (".json", ".json.gz")


@dataclass(slots=True)
class ImportReport:
    """What an import stored, and what it could not read."""

    imported: list[str] = field(default_factory=list)
    """Run ids stored (new, or with new events)."""
    unchanged: list[str] = field(default_factory=list)
    """Run ids that were already stored in full."""
    events: int = 0
    """Events appended."""
    errors: dict[str, WfkitError] = field(default_factory=dict)
    """File -> the error that stopped it (usually a `HistoryFormatError` naming the JSON path)."""
    unknown: dict[str, int] = field(default_factory=dict)
    """Event types and attributes wfkit does not know (kept in the events' `temporal` attributes)."""
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """File -> what it stored as it was rather than decoded (a payload that is not JSON, a made-up run id)."""

    @property
    def ok(self) -> bool:
        """True when every file imported."""
        return not self.errors

    def problems(self) -> list[str]:
        """One line per file that failed: its path, the JSON path and the reason."""
        lines = []
        for path, error in self.errors.items():
            text = _one_line(error)
            lines.append(text if text.startswith(path) else f"{path}: {text}")
        return lines

    def __repr__(self) -> str:
        return f"ImportReport(imported={len(self.imported)}, unchanged={len(self.unchanged)}, events={self.events}, errors={len(self.errors)})"


def history_files(source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The history files a source names: a file, a directory (searched recursively), or several of either."""
    sources = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(s) for s in source]
    files: list[Path] = []
    for path in sources:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES)))
        else:
            files.append(path)
    return files


def store_loaded(store: Store, loaded: Loaded) -> int:
    """Insert (or bring up to date) one converted history; returns the number of events appended."""
    history = loaded.history
    row = RunRow(
        history.run_id,
        history.workflow_id,
        loaded.workflow_type,
        loaded.task_queue,
        history.events[0].attributes.get("input"),
        loaded.start_time,
        parent_run_id=loaded.parent_run_id,
        parent_workflow_id=loaded.parent_workflow_id,
        continued_from_run_id=loaded.continued_from_run_id,
    )
    close = None
    if loaded.status != RUNNING_ON_TEMPORAL and loaded.close_time is not None:
        close = RunClose(history.run_id, loaded.status, loaded.result, loaded.failure, loaded.close_time, len(history.events))
    return store.insert_run(row, loaded.status, history.events, close)


async def import_into(engine: Engine, source: Any, *, progress: bool = True, run_id: str | None = None, workflow_id: str | None = None) -> ImportReport:
    """Import every Temporal history file of `source` into `engine`'s store; see `Engine.import_temporal`.

    Each file is loaded and stored on its own (one transaction each): a file that fails, for any
    reason, is reported in `ImportReport.errors` and the others are stored.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    files = history_files(source)
    if run_id is not None and len(files) != 1:
        raise ValueError(f"run_id= names the run of one history file; {source!r} holds {len(files)}")
    loader = functools.partial(load, run_id=run_id, workflow_id=workflow_id)
    report = ImportReport()
    loop = asyncio.get_running_loop()
    columns = (TextColumn("[bold]importing Temporal histories"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("", total=len(files))
        for path in files:
            bar.update(task, description=path.name)
            try:
                loaded = await loop.run_in_executor(None, loader, path)
                appended = await engine.in_store_thread(functools.partial(store_loaded, loaded=loaded))
            except WfkitError as exc:
                logger.warning("%s", exc)
                report.errors[str(path)] = exc
            except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
                error = HistoryFormatError(f"could not be stored: {type(exc).__name__}: {_one_line(exc)}", file=str(path))
                logger.warning("%s", error)
                report.errors[str(path)] = error
            else:
                for key, count in loaded.unknown.items():
                    report.unknown[key] = report.unknown.get(key, 0) + count
                if loaded.warnings:
                    report.warnings[str(path)] = list(loaded.warnings)
                    report_warnings(loaded.warnings, str(path))
                (report.imported if appended else report.unchanged).append(loaded.history.run_id)
                report.events += appended
            bar.advance(task)
    report_unknown(report.unknown, f"{len(files)} file(s)")
    return report


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."
