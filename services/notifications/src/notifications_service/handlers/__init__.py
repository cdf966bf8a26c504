"""FastStream subscribers (thin: parse the CloudEvent, call the use case, dead-letter failures)."""
