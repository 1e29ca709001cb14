"""The registration point where interface layers install the engine's conveniences.

The engine sits below every interface and never imports one, not even lazily. Conveniences
that belong to an interface (analytics over `engine.histories`, Temporal import and export, a
handle's live card in a notebook, `engine.save_test` from wfkit.testing) are installed here by
that interface; `wfkit/__init__.py` installs all of them when the package is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

__all__ = ["Hook", "hook", "install"]

Hook = Literal["histories", "import_temporal", "export_temporal", "display_handle", "progress_bar", "save_test"]

_HOOKS: dict[str, Callable[..., Any]] = {}


def install(name: Hook, implementation: Callable[..., Any]) -> None:
    """Install (or replace) the implementation of an engine convenience."""
    _HOOKS[name] = implementation


def hook(name: Hook) -> Callable[..., Any]:
    """The installed implementation; a clear error if no interface installed it."""
    try:
        return _HOOKS[name]
    except KeyError:
        raise RuntimeError(f"wfkit: {name} is provided by an interface layer that is not loaded; `import wfkit` installs it") from None
