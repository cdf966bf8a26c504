"""Google emulator: OAuth 2.0 / OIDC, Calendar API v3 and Admin SDK Directory (resources)."""
