"""Pure model and rules of the scheduling flow (no frameworks, no I/O)."""
