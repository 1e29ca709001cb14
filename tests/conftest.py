"""Shared fixtures: a fresh DuckDB file per test and an engine on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import wfkit


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh DuckDB file per test: the engine's real storage, never shared between tests."""
    return tmp_path / "wf.duckdb"


@pytest.fixture
async def engine(db_path: Path) -> AsyncIterator[wfkit.Engine]:
    """An engine on a real DuckDB file, closed after the test."""
    eng = await wfkit.Engine.open(db_path)
    try:
        yield eng
    finally:
        await eng.close()
