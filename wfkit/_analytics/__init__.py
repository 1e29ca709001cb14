"""Analytics over histories: named queries, read-only databases, export and import (the layer beside `_store` that may import duckdb)."""
