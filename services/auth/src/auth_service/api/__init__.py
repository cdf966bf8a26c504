"""FastAPI routers (thin: parse, call a use case, map errors)."""
