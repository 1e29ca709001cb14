"""The `wfkit` command group and what its commands share: options, tables, errors, loading user code."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import click

import wfkit

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


T = TypeVar("T")

DEFAULT_DB = "wfkit.duckdb"


class _Group(click.Group):
    """Turns every error into one line on stderr and exit code 1 (click keeps 2 for usage errors)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("WFKIT_DEBUG"):
                raise
            click.echo(f"error: {_one_line(exc)}", err=True)
            sys.exit(1)


def _one_line(exc: BaseException) -> str:
    text = _printable(" ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip()))
    if isinstance(exc, (wfkit.WfkitError, FileNotFoundError, FileExistsError, ValueError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Text from a database (or an error quoting it), safe on a terminal: control characters, which can start
    escape sequences that rewrite the screen, the window title or the clipboard, print as `\\x1b`-style escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _printable_json(text: str) -> str:
    """JSON text with the C1 control characters (which json.dumps leaves as they are) written as \\u escapes."""
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(wfkit.__version__, prog_name="wfkit")
def main() -> None:
    """wfkit: durable workflows with their histories in DuckDB.

    Start with `wfkit demo`, then `wfkit ls --db wfkit-demo.duckdb`. Every command takes --db
    (default: $WFKIT_DB or wfkit.duckdb).
    """


def _db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        default=DEFAULT_DB,
        envvar="WFKIT_DB",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The wfkit DuckDB file ($WFKIT_DB).",
    )(fn)


#### Shared helpers ####


def _console(err: bool = False) -> Console:
    from rich.console import Console  # rich loads on use: keeps `wfkit --help` fast

    stream = sys.stderr if err else sys.stdout
    # Not a terminal (a pipe, a file, a test): rich would wrap at 80 columns; tables read better wider.
    return Console(stderr=err, highlight=False, width=None if stream.isatty() else 160)


@contextmanager
def _histories(db: str) -> Iterator[wfkit.Histories]:
    if not Path(db).exists():
        raise FileNotFoundError(f"{db}: no such database (pass --db, set WFKIT_DB, or create one with `wfkit demo` or `wfkit run`)")
    with wfkit.open_histories(db) as histories:
        yield histories


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar fed by the API's progress(step, done, total) callbacks."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"), TimeElapsedColumn())
    # Only on a terminal: in a pipe or a log the bar's last frame would be noise beside the result.
    with Progress(*columns, console=_console(True), transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(description, total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"{description}: {step}", completed=done, total=total)

        yield update


def _text(value: Any) -> Text:
    """A table cell; Text (not a markup string), so payload text like `[bold]` prints as it is."""
    from rich.text import Text

    if value is None:
        return Text("-", style="dim")
    if isinstance(value, datetime.datetime):
        return Text(value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
    if isinstance(value, float):
        return Text(f"{value:.6g}")
    return Text(_printable(str(value)))


_STATUS_STYLE = {"completed": "green", "failed": "red", "timed_out": "red", "terminated": "red", "running": "cyan", "canceled": "yellow"}


def _status(value: Any) -> Text:
    text = _text(value)
    text.stylize(_STATUS_STYLE.get(str(value).lower(), ""))
    return text


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None, formats: dict[str, Callable[[Any], Text]] | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    formats = formats or {}
    for row in rows:
        table.add_row(*((formats.get(c) or _text)(v) for c, v in zip(columns, row, strict=True)))
    return table


def _seconds(value: Any) -> Text:
    return _text(None if value is None else f"{value:.3f}")


def _rate(value: Any) -> Text:
    return _text(None if value is None else f"{value * 100:.1f}%")


def _formats(columns: Sequence[str]) -> dict[str, Callable[[Any], Text]]:
    out: dict[str, Callable[[Any], Text]] = {}
    for c in columns:
        if c.endswith("_rate"):
            out[c] = _rate
        elif c.endswith("_s"):
            out[c] = _seconds
        elif c == "status":
            out[c] = _status
    return out


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _parse_value(text: str) -> Any:
    """JSON if it parses (`5`, `true`, `[1, 2]`, `"quoted"`), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a loop of its own and close it (asyncio.run does not once nest-asyncio has patched it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _load_module(name: str) -> ModuleType:
    """A module by dotted name (from the current directory first) or by file path."""
    if name.endswith(".py") or os.sep in name:
        path = Path(name).resolve()
        if not path.is_file():
            raise click.BadParameter(f"no such file: {name}", param_hint="module")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise click.BadParameter(f"cannot import {name}", param_hint="module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise click.BadParameter(f"no module named {name!r} (run from the directory that holds it, or give a .py path)", param_hint="module") from None
        raise


def _workflows_in(module: ModuleType) -> list[wfkit.WorkflowDefinition[Any, Any]]:
    return [v for v in vars(module).values() if isinstance(v, wfkit.WorkflowDefinition)]


#### Commands ####


def _workflow_target(target: str) -> wfkit.WorkflowDefinition[Any, Any]:
    """The workflow named by MODULE:WORKFLOW."""
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise click.BadParameter("expected MODULE:WORKFLOW, e.g. flows:etl", param_hint="MODULE:WORKFLOW")
    module = _load_module(module_name)
    workflow = getattr(module, attr, None)
    if not isinstance(workflow, wfkit.WorkflowDefinition):
        found = ", ".join(sorted(w.name for w in _workflows_in(module))) or "none"
        raise click.BadParameter(f"{module_name}.{attr} is not a @wfkit.workflow (workflows there: {found})", param_hint="MODULE:WORKFLOW")
    return workflow


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def _duration(text: str, option: str) -> datetime.timedelta:
    """'90', '90s', '15m', '2h' or '1d' as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"expected a duration such as 90s, 15m, 2h or 1d, got {text!r}", param_hint=option)
    size = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return datetime.timedelta(seconds=float(match.group(1)) * size)


@contextmanager
def _engine_for(db: str, action: str) -> Iterator[None]:
    """A clearer error than StoreLockedError for control commands run beside a live engine."""
    try:
        yield
    except wfkit.StoreLockedError:
        raise click.ClickException(
            f"{db} is held by another process's engine; {action} from there (e.g. engine.get_schedule(...)), or close it first"
        ) from None
