"""Asyncio orchestration: starts runs, activates instances, runs activities, persists, recovers."""
