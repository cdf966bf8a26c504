"""Pure Google Calendar / Directory mapping (no I/O)."""
