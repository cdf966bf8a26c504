"""FastStream subscribers."""
