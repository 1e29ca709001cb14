"""Helpers shared by the test packages: data builders, the chaos harness and its subprocess workers."""
