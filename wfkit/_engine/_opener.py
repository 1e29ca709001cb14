"""Opening an engine: the store on a worker thread, then recovery; `await` it or use it with `async with`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol, TypeVar

from wfkit._store._store import Store
from wfkit.errors import NotAwaitedError, StoreLockedError

__all__ = ["EngineOpener", "live_engine", "open_engine", "release"]


class _Startable(Protocol):
    async def _start(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


# The engines this process has open, by the real path of their file: one per file, so re-running a
# notebook's `Engine.open` cell can never put a second writer on the same histories.
_LIVE: dict[str, Any] = {}
_OPENING = object()


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def live_engine(path: str | os.PathLike[str]) -> Any:
    """The engine this process has open on `path` (compared after resolving symlinks), or None."""
    engine = _LIVE.get(_key(path))
    return None if engine is None or engine is _OPENING or engine.closed else engine


def release(path: str | os.PathLike[str] | None, engine: object) -> None:
    """Forget a closed engine (called by `Engine.close`)."""
    if path is not None and _LIVE.get(_key(path)) is engine:
        del _LIVE[_key(path)]


E_co = TypeVar("E_co", bound=_Startable, covariant=True)
E = TypeVar("E", bound=_Startable)


class EngineOpener(Protocol[E_co]):
    """What `Engine.open(...)` returns: awaitable, and an async context manager that closes the engine."""

    def __await__(self) -> Generator[Any, None, E_co]: ...

    async def __aenter__(self) -> E_co: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class _Opener:
    def __init__(self, factory: Callable[[], Awaitable[Any]]) -> None:
        self._factory = factory
        self._engine: Any = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._factory().__await__()

    async def __aenter__(self) -> Any:
        self._engine = await self._factory()
        return self._engine

    async def __aexit__(self, *exc_info: object) -> None:
        if self._engine is not None:
            await self._engine.close()

    def __getattr__(self, name: str) -> Any:
        # Only for names the opener lacks: `engine = wfkit.Engine.open(...)` without `await`, then `engine.start(...)`.
        raise NotAwaitedError(
            f"wfkit.Engine.open(...) returns an opener, not an engine (it has no .{name}): "
            "use `engine = await wfkit.Engine.open(...)` or `async with wfkit.Engine.open(...) as engine`"
        )

    def __repr__(self) -> str:
        return "<wfkit.Engine.open(...) opener, not an engine yet: `engine = await wfkit.Engine.open(...)` or `async with` it>"


def open_engine(make: Callable[[Store], E], path: str | os.PathLike[str] | None, *, reuse: bool = False) -> EngineOpener[E]:
    """Open the store at `path`, build the engine with `make(store)` and resume the file's open runs.

    A file this process already has open gives that engine with `reuse`, else `StoreLockedError`.
    """

    async def opened() -> E:
        if path is None:
            return await _open(make, None)
        key = _key(path)
        held = _LIVE.get(key)
        if held is _OPENING:
            raise StoreLockedError(f"{path} is being opened by another Engine.open call in this process; await that one")
        if held is not None and not held.closed:
            if reuse:
                return held  # type: ignore[no-any-return]
            raise StoreLockedError(
                f"{path} is already open in this process by {held!r}: a second engine would drive the same runs twice. "
                "Keep using that engine, get it back with `await wfkit.Engine.open(path, reuse=True)`, or `await engine.close()` it first"
            )
        _LIVE[key] = _OPENING
        try:
            engine = await _open(make, path)
        except BaseException:
            _LIVE.pop(key, None)
            raise
        _LIVE[key] = engine
        return engine

    return _Opener(opened)


async def _open(make: Callable[[Store], E], path: str | os.PathLike[str] | None) -> E:
    # One DuckDB thread: the engine runs many small transactions, whose per-statement cost
    # (thread coordination) is a fifth lower with one thread; analytic queries over a
    # million events take the same time either way on a small machine (docs/performance.md).
    store = await asyncio.get_running_loop().run_in_executor(None, functools.partial(Store.open, path, threads=1))
    try:
        engine = make(store)
    except BaseException:
        store.close()
        raise
    try:
        await engine._start()
    except BaseException:
        # Resuming the file's runs failed (a damaged or hostile file): release the file, or this
        # process would hold it until it exits.
        with contextlib.suppress(Exception):
            await engine.close()
        raise
    return engine
