"""The app without a broker: routes, OpenAPI, settings, notifications and connection events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from calendar_google.bootstrap import create_app
from calendar_google.settings import Settings
from calendar_sync.core import DriftPolicy


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALENDAR_GOOGLE_AUTH_URL", "http://auth:8001")
    monkeypatch.setenv("CALENDAR_GOOGLE_SERVICE_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("CALENDAR_GOOGLE_DRIFT_RESTORE_TENANTS", "t1, t2")
    monkeypatch.setenv("CALENDAR_GOOGLE_DRIFT_POLL_SECONDS", "5")
    settings = Settings()
    assert settings.auth_url == "http://auth:8001"
    assert settings.service_client_secret.get_secret_value() == "s3cret"
    assert settings.calendar_base_url == "https://www.googleapis.com"
    assert settings.directory_base_url == "https://admin.googleapis.com"
    assert (
        settings.policy_for("t2") is DriftPolicy.RESTORE and settings.policy_for("t3") is DriftPolicy.REPORT
    )
    assert settings.drift_poll_seconds == 5.0
    assert "s3cret" not in repr(settings)


@pytest.fixture
def app() -> Any:
    return create_app(kafka_idempotent_producer=False, public_base_url="https://connector.example")


async def test_routes_and_openapi(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/healthz")).json() == {
            "status": "ok",
            "service": "calendar-google",
            "checks": {},
        }
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/v1/rooms", "/v1/availability", "/notifications/google"} <= set(paths)
        unauthorised = await client.get("/v1/rooms")
        assert unauthorised.status_code == 401 and unauthorised.json()["code"] == "unauthorized"
        bad = await client.post(
            "/v1/availability", json={"slots": []}, headers={"Authorization": "Bearer x.y.z"}
        )
        assert bad.status_code in (401, 422)


async def test_forged_notification_is_refused(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            "/notifications/google", headers={"X-Goog-Channel-ID": "nope", "X-Goog-Channel-Token": "nope"}
        )
    assert response.status_code == 403 and response.json()["code"] == "notification_rejected"
    assert app.state.connector.monitor.forged_notifications == 1


async def test_notifications_are_rate_limited_per_source_address() -> None:
    app = create_app(
        kafka_idempotent_producer=False,
        public_base_url="https://connector.example",
        notification_rate_limit_per_minute=3,
    )
    forged = {"X-Goog-Channel-ID": "nope", "X-Goog-Channel-Token": "nope"}

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 4000))
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    async with client("203.0.113.7") as attacker, client("198.51.100.1") as other:
        for _ in range(3):
            assert (await attacker.post("/notifications/google", headers=forged)).status_code == 403
        limited = await attacker.post("/notifications/google", headers=forged)
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await other.post("/notifications/google", headers=forged)).status_code == 403
    assert app.state.connector.monitor.forged_notifications == 4  # the refused one cost nothing
