"""Schedules: when they fire (`_spec`) and the built-in scheduler and backfill workflows (`_workflows`)."""
