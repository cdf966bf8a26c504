"""Provider and HTTP clients."""
