"""A progress bar that suits where the code runs: a widget in a notebook, rich in a terminal, nothing otherwise."""

from __future__ import annotations

import sys
from typing import Any, Protocol

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(Protocol):
    """What long engine work (a backfill) reports its progress to."""

    def update(self, done: int) -> None:
        """`done` of the total are finished."""
        ...

    def close(self) -> None:
        """The work ended: leave the bar at its final state."""
        ...


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"


class _WidgetBar:
    def __init__(self, description: str, total: int) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self._total = total
        self._bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), description="", layout=widgets.Layout(width="320px"))
        self._label = widgets.HTML()
        self._description = description
        self.update(0)
        display(widgets.HBox([self._bar, self._label]))  # type: ignore[no-untyped-call]

    def update(self, done: int) -> None:
        self._bar.value = done
        self._label.value = f"{self._description}: {done} of {self._total}"

    def close(self) -> None:
        self._bar.bar_style = "success" if self._bar.value >= self._total else "warning"


class _RichBar:
    def __init__(self, description: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True))
        self._task = self._progress.add_task(description, total=total)
        self._progress.start()

    def update(self, done: int) -> None:
        self._progress.update(self._task, completed=done)

    def close(self) -> None:
        self._progress.stop()


class _NoBar:
    def update(self, done: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(description: str, total: int) -> Any:
    """A widget bar in a notebook, a rich bar on a terminal's stderr, else one that shows nothing."""
    if _in_notebook():
        return _WidgetBar(description, total)
    if sys.stderr.isatty():
        return _RichBar(description, total)
    return _NoBar()
