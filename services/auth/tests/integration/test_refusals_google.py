"""Every Google refusal, through the service's HTTP API and the emulator over HTTPS."""

from __future__ import annotations

import socket

import pytest
from auth_testkit import Harness, bearer, query_of

from visitor_common.events import Provider


async def _no_connection(h: Harness, token: str) -> None:
    current = await h.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert current.status_code == 404
    assert current.json()["code"] == "no_active_connection"
    assert await h.event_types() == []


async def test_personal_account_is_refused_r1(harness: Harness) -> None:
    _, token = await harness.employee("acme", "carol@gmail.com")
    response = await harness.link("google", token, "carol@gmail.com")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "personal_account"
    assert "carol@gmail.com" in body["detail"] and "Google Workspace" in body["detail"]
    assert response.headers["content-type"].startswith("application/problem+json")
    await _no_connection(harness, token)


async def test_email_mismatch_names_both_addresses_r7(harness: Harness) -> None:
    _, token = await harness.employee("acme", "dave@example.com")
    response = await harness.link("google", token, "bob@example.com")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "email_mismatch"
    assert "dave@example.com" in body["detail"] and "bob@example.com" in body["detail"]
    assert body["employee_email"] == "dave@example.com"
    assert body["account_email"] == "bob@example.com"
    await _no_connection(harness, token)


async def test_email_match_ignores_case(harness: Harness) -> None:
    _, token = await harness.employee("acme", "Alice@Example.COM")
    response = await harness.link("google", token, "alice@example.com")
    assert response.status_code == 200, response.text


async def test_cancel_on_the_consent_screen(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    response = await harness.link("google", token, "alice@example.com", accept=False)
    assert response.status_code == 400
    assert response.json()["code"] == "link_cancelled"
    await _no_connection(harness, token)


async def test_unknown_state(harness: Harness) -> None:
    response = await harness.client.get(
        "/v1/calendar-connections/google/callback", params={"code": "x", "state": "forged"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "link_state_unknown"
    missing = await harness.client.get("/v1/calendar-connections/google/callback", params={"code": "x"})
    assert missing.json()["code"] == "link_state_unknown"


async def test_replayed_state_is_refused(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    assert (await harness.callback(location)).status_code == 200
    replay = await harness.callback(location)
    assert replay.status_code == 409
    assert replay.json()["code"] == "link_state_used"
    assert await harness.event_types() == ["CalendarConnectionLinked"]


async def test_state_of_another_provider_is_refused(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    response = await harness.callback(location.replace("/google/", "/microsoft/"))
    assert response.json()["code"] == "link_state_unknown"


async def test_expired_state_after_ten_minutes(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    harness.clock.advance(601)
    response = await harness.callback(location)
    assert response.status_code == 400
    assert response.json()["code"] == "link_state_expired"


async def test_state_just_before_expiry_still_works(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    harness.clock.advance(590)
    assert (await harness.callback(location)).status_code == 200


@pytest.mark.parametrize("status", [500, 503])
async def test_token_endpoint_5xx_is_provider_unavailable(harness: Harness, status: int) -> None:
    assert harness.emus is not None
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    harness.emus.google_control.add_fault("^/token$", status=status, count=1)
    response = await harness.callback(location)
    assert response.status_code == 502
    assert response.json()["code"] == "provider_unavailable"


async def test_connection_refused_is_provider_unavailable(harness: Harness) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{sock.getsockname()[1]}"
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    harness.reconfigure(Provider.GOOGLE, google_token_url=f"{dead}/token")
    response = await harness.callback(location)
    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"
    assert response.headers["retry-after"]


async def test_html_rendering_for_browsers(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    assert harness.browser is not None
    location = await harness.browser.sign_in(url, "alice@example.com")
    response = await harness.callback(location, accept="text/html,application/xhtml+xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Googleカレンダーと連携しました。" in response.text
    replay = await harness.callback(location, accept="text/html")
    assert replay.status_code == 409
    assert "既に使用されています" in replay.text


@pytest.mark.parametrize("error", ["server_error", "invalid_scope", "x" * 300, "<script>"])
async def test_provider_error_on_the_callback_is_a_4xx_with_a_stable_code(
    harness: Harness, error: str
) -> None:
    # A valid state with error=<anything> is the provider declining the request: never a 5xx.
    _, token = await harness.employee("acme", "alice@example.com")
    state = query_of(await harness.authorize("google", token))["state"]
    response = await harness.client.get(
        "/v1/calendar-connections/google/callback", params={"state": state, "error": error}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "link_refused"
    assert body["provider_error"] == error
    await _no_connection(harness, token)
    html = await harness.client.get(
        "/v1/calendar-connections/google/callback",
        params={"state": query_of(await harness.authorize("google", token))["state"], "error": error},
        headers={"accept": "text/html"},
    )
    assert html.status_code == 400 and "<script>" not in html.text


async def test_access_denied_on_the_callback_is_link_cancelled(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    state = query_of(await harness.authorize("google", token))["state"]
    response = await harness.client.get(
        "/v1/calendar-connections/google/callback", params={"state": state, "error": "access_denied"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "link_cancelled"
