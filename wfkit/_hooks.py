"""The engine conveniences that interface layers provide, installed into the engine's registration point.

The engine never imports an interface (docs/architecture.md); `import wfkit` runs this module,
which installs analytics (`engine.histories`), Temporal import/export, a handle's live card, progress bars
and `engine.save_test` (wfkit.testing).
The Temporal and notebook pieces are imported only when used: they pull in rich, ipywidgets.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from wfkit._analytics._histories import Histories
from wfkit._engine import _extensions
from wfkit._history._history import History

if TYPE_CHECKING:
    from wfkit._engine._engine import Engine
    from wfkit._engine._handle import WorkflowHandle

__all__: list[str] = []


async def _import_temporal(engine: Engine, source: Any, **options: Any) -> Any:
    from wfkit.temporal._import import import_into  # rich, only when importing

    return await import_into(engine, source, **options)


def _export_temporal(history: History, path: str | os.PathLike[str]) -> Any:
    from wfkit.temporal._export import export_history

    return export_history(history, path)


def _display_handle(handle: WorkflowHandle) -> None:
    from IPython.display import HTML, display  # only ever called by IPython

    try:
        from wfkit.ui import status_card  # ipywidgets: the live card
    except ImportError:  # no ipywidgets: the static card
        display(HTML(handle._repr_html_()))  # type: ignore[no-untyped-call]
        return
    display(status_card(handle))  # type: ignore[no-untyped-call]


def _save_test(engine: Engine, run: str, directory: str | os.PathLike[str], **options: Any) -> Any:
    from wfkit.testing import save_test  # loaded only when a run is saved as a test

    return save_test(engine, run, directory, **options)


def _progress_bar(description: str, total: int) -> Any:
    from wfkit.ui._progress import progress_bar  # ipywidgets or rich, only when shown

    return progress_bar(description, total)


_extensions.install("histories", Histories.of_engine)
_extensions.install("import_temporal", _import_temporal)
_extensions.install("export_temporal", _export_temporal)
_extensions.install("display_handle", _display_handle)
_extensions.install("progress_bar", _progress_bar)
_extensions.install("save_test", _save_test)
