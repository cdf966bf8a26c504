"""Settings come from AUTH_* variables; JSON ones are parsed; provider defaults are the real URLs."""

from __future__ import annotations

import base64

import pytest

from auth_service.settings import Settings


def test_defaults_point_at_the_real_providers() -> None:
    settings = Settings()
    assert settings.google_auth_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert settings.google_token_url == "https://oauth2.googleapis.com/token"
    assert settings.google_revoke_url == "https://oauth2.googleapis.com/revoke"
    assert settings.google_certs_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert settings.google_issuer == "https://accounts.google.com"
    assert settings.microsoft_authority == "https://login.microsoftonline.com/organizations"
    assert settings.link_state_ttl_seconds == 600


def test_environment_with_json_values(monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(b"x" * 32).decode()
    monkeypatch.setenv("AUTH_SERVICE_CLIENTS", '{"calendar-outlook": {"secret": "s3", "scopes": ["a", "b"]}}')
    monkeypatch.setenv("AUTH_TOKEN_ENCRYPTION_KEYS", f'{{"2026-11": "{key}"}}')
    monkeypatch.setenv("AUTH_TOKEN_ENCRYPTION_ACTIVE_KID", "2026-11")
    monkeypatch.setenv("AUTH_OPERATOR_KEY", "op")
    monkeypatch.setenv("AUTH_PUBLIC_BASE_URL", "https://visitors.example/auth/")
    settings = Settings()
    assert settings.service_clients["calendar-outlook"].secret.get_secret_value() == "s3"
    assert settings.service_clients["calendar-outlook"].scopes == ["a", "b"]
    assert settings.token_encryption_keys["2026-11"].get_secret_value() == key
    assert (
        settings.redirect_uri("google")
        == "https://visitors.example/auth/v1/calendar-connections/google/callback"
    )
    assert "s3" not in repr(settings) and key not in repr(settings)
