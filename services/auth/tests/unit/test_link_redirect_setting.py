"""AUTH_LINK_REDIRECT_BASE_URL: the provider sends the browser back to another front (the web
pages); without it, to this service's own callback as before."""

from __future__ import annotations

import pytest

from auth_service.settings import Settings


def test_redirect_uri_defaults_to_the_public_base_url() -> None:
    settings = Settings(public_base_url="https://visitors.example/auth/")
    assert settings.redirect_uri("microsoft") == (
        "https://visitors.example/auth/v1/calendar-connections/microsoft/callback"
    )


def test_redirect_uri_uses_the_link_redirect_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_PUBLIC_BASE_URL", "https://auth.visitors.example")
    monkeypatch.setenv("AUTH_LINK_REDIRECT_BASE_URL", "https://visitors.example/")
    settings = Settings()
    assert (
        settings.redirect_uri("google") == "https://visitors.example/v1/calendar-connections/google/callback"
    )
