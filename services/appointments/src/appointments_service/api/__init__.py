"""FastAPI routers: parse, call a use case, map errors."""
