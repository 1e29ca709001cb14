"""Replay recorded histories against workflow code. No store, no engine."""
