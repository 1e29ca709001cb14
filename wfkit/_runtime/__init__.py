"""Pure deterministic workflow runtime: no I/O, no wall clock, no threads."""
