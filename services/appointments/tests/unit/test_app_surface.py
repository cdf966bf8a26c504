"""Health, readiness, OpenAPI completeness, settings from the environment."""

from __future__ import annotations

import pytest
from appointments_testkit import Harness

from appointments_service.settings import Settings


async def test_health_and_readiness(h: Harness) -> None:
    assert (await h.client.get("/healthz")).json() == {
        "status": "ok",
        "service": "appointments",
        "checks": {},
    }
    ready = await h.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": True, "broker": True}


async def test_openapi_lists_every_route_with_problem_responses(h: Harness) -> None:
    spec = (await h.client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("/v1/appointments", "post"),
        ("/v1/appointments", "get"),
        ("/v1/appointments/{appointment_id}", "get"),
        ("/v1/appointments/{appointment_id}", "patch"),
        ("/v1/appointments/{appointment_id}/reschedule", "post"),
        ("/v1/appointments/{appointment_id}/cancel", "post"),
        ("/v1/appointments/{appointment_id}/calendar-restore", "post"),
        ("/v1/appointments/{appointment_id}/guest-link", "post"),
        ("/v1/appointments/{appointment_id}/guest-link", "delete"),
        ("/v1/guest/appointments/{token}", "get"),
        ("/v1/guest/appointments/{token}/pick", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    }
    assert expected <= {(p, m) for p, ops in paths.items() for m in ops}
    patch = paths["/v1/appointments/{appointment_id}"]["patch"]
    assert {"409", "412", "422", "428"} <= set(patch["responses"])
    assert "429" in paths["/v1/guest/appointments/{token}/pick"]["post"]["responses"]
    assert "HTTPBearer" in str(paths["/v1/appointments"]["post"].get("security"))


def test_settings_read_the_appointments_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPOINTMENTS_GOOGLE_CONNECTOR_URL", "http://g:1")
    monkeypatch.setenv("APPOINTMENTS_OUTLOOK_CONNECTOR_URL", "http://o:2")
    monkeypatch.setenv("APPOINTMENTS_AUTH_URL", "http://auth:3")
    monkeypatch.setenv("APPOINTMENTS_SERVICE_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("APPOINTMENTS_KAFKA_IDEMPOTENT_PRODUCER", "false")
    settings = Settings()
    assert (settings.google_connector_url, settings.outlook_connector_url) == ("http://g:1", "http://o:2")
    assert settings.auth_url == "http://auth:3"
    assert settings.service_client_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.kafka_idempotent_producer is False
    assert settings.mongodb_uri is None
