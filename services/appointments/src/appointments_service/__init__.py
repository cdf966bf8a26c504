"""Appointments service: scheduling flow, reception codes, guest links, provider binding (R8),
transactional outbox and per-appointment calendar sync state."""
