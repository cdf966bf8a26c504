"""Pure model and rules of the auth service (no framework, database or HTTP imports)."""
