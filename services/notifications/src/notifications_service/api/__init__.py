"""HTTP: only health, readiness and the OpenAPI document — the service is driven by events."""
