"""DuckDB persistence: the only package that imports duckdb."""
