"""Moved to tests/support/chaos.py. Kept only because bench/chaos.py does `from tests import chaos`;
delete this file once bench imports `tests.support.chaos`."""

from tests.support.chaos import MODES, run_chaos

__all__ = ["MODES", "run_chaos"]
