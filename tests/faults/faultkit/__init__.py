"""The fault suite's helpers: load, faults, checks, injection, figures."""
