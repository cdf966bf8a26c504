"""One active connection per employee, switching providers (R8), unlink, room preference."""

from __future__ import annotations

import httpx
from auth_testkit import Harness, bearer

from auth_service.adapters.connectors import HttpHoldReleaser
from auth_service.service_layer import accounts
from visitor_common.contracts.connections import RELEASE_HOLDS_SCOPE
from visitor_common.events import Provider


async def _current(h: Harness, token: str) -> dict[str, object]:
    response = await h.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_switching_provider_deactivates_but_keeps_the_previous_one(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    assert (await harness.link("google", token, "alice@example.com")).status_code == 200
    google_id = (await _current(harness, token))["connection_id"]
    assert (await harness.link("microsoft", token, "alice@example.com")).status_code == 200
    current = await _current(harness, token)
    assert current["provider"] == "outlook"
    listed = (await harness.client.get("/v1/calendar-connections", headers=bearer(token))).json()["items"]
    statuses = {c["connection_id"]: c["status"] for c in listed}
    assert statuses == {google_id: "inactive", current["connection_id"]: "active"}
    events = await harness.events()
    assert [type(e.data).__name__ for e in events] == [
        "CalendarConnectionLinked",
        "CalendarConnectionDeactivated",
        "CalendarConnectionLinked",
    ]
    deactivated = events[1].data
    assert deactivated.connection_id == google_id
    assert deactivated.replaced_by == current["connection_id"]  # type: ignore[attr-defined]

    # Back to Google: the same connection comes back, so appointments bound to it work again.
    assert (await harness.link("google", token, "alice@example.com")).status_code == 200
    again = await _current(harness, token)
    assert again["connection_id"] == google_id
    assert again["status"] == "active"


async def test_unlink_revokes_the_google_grant(harness: Harness) -> None:
    assert harness.emus is not None
    _, token = await harness.employee("acme", "alice@example.com")
    await harness.link("google", token, "alice@example.com")
    connection_id = (await _current(harness, token))["connection_id"]
    response = await harness.client.delete("/v1/calendar-connections/current", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["revoked_at_provider"] is True
    assert response.json()["connection"]["status"] == "unlinked"
    grants = harness.emus.google_control.state()["grants"]
    assert grants and all(g["revoked"] for g in grants.values())
    assert (
        await harness.client.get("/v1/calendar-connections/current", headers=bearer(token))
    ).status_code == 404
    assert (await harness.event_types())[-1] == "CalendarConnectionUnlinked"
    svc = await harness.service_token()
    grant = await harness.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )
    assert grant.status_code == 409
    assert grant.json()["code"] == "connection_inactive"


async def test_unlink_microsoft_forgets_the_token(harness: Harness) -> None:
    _, token = await harness.employee("acme", "hana@contoso.example")
    await harness.link("microsoft", token, "hana@contoso.example")
    response = await harness.client.delete("/v1/calendar-connections/current", headers=bearer(token))
    assert response.status_code == 200
    stored = await harness.context.repos.connections.get(response.json()["connection"]["connection_id"])
    assert stored.refresh_token is None
    assert (await harness.event_types())[-1] == "CalendarConnectionUnlinked"


async def test_unlink_without_connection_is_404(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    response = await harness.client.delete("/v1/calendar-connections/current", headers=bearer(token))
    assert response.status_code == 404
    assert response.json()["code"] == "no_active_connection"


async def test_room_preference_required_then_set_and_changed_r4_r5(harness: Harness) -> None:
    _, token = await harness.employee("acme", "hana@contoso.example")
    await harness.link("microsoft", token, "hana@contoso.example")
    assert (await _current(harness, token))["room_selection_required"] is True
    for room_group in ("tokyo-rooms@contoso.example", "osaka-rooms@contoso.example"):
        response = await harness.client.put(
            "/v1/calendar-connections/current/room-preference",
            headers=bearer(token),
            json={"room_group_id": room_group},
        )
        assert response.status_code == 200, response.text
        assert response.json()["room_group_id"] == room_group
        assert response.json()["room_selection_required"] is False
    events = await harness.events()
    changed = [e.data for e in events if type(e.data).__name__ == "RoomPreferenceChanged"]
    assert [c.room_group_id for c in changed] == [  # type: ignore[attr-defined]
        "tokyo-rooms@contoso.example",
        "osaka-rooms@contoso.example",
    ]


async def test_room_preference_needs_a_connection_and_a_value(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = "/v1/calendar-connections/current/room-preference"
    missing = await harness.client.put(url, headers=bearer(token), json={"room_group_id": "hq"})
    assert missing.status_code == 404
    await harness.link("google", token, "alice@example.com")
    empty = await harness.client.put(url, headers=bearer(token), json={"room_group_id": ""})
    assert empty.status_code == 422
    assert empty.json()["code"] == "validation_failed"


async def test_unlink_asks_the_connector_to_release_the_holds_before_revoking(harness: Harness) -> None:
    """Decision 0011: the connector is asked first, and at that moment the grant still works
    (it needs an access token to delete the holds); only then is the grant revoked."""
    assert harness.emus is not None
    _, token = await harness.employee("acme", "alice@example.com")
    await harness.link("google", token, "alice@example.com")
    connection_id = (await _current(harness, token))["connection_id"]
    svc = await harness.service_token()
    seen: list[tuple[str, set[str], int, bool]] = []

    async def connector(request: httpx.Request) -> httpx.Response:
        principal = await harness.app.state.verifier.verify(request.headers["authorization"].split()[1])
        grant = await harness.client.post(
            f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
        )
        revoked = any(g["revoked"] for g in harness.emus.google_control.state()["grants"].values())
        seen.append((request.url.path, set(principal.scopes), grant.status_code, revoked))
        return httpx.Response(200, json={"connection_id": connection_id, "released": 2, "failed": 1})

    harness.context.holds = HttpHoldReleaser(
        {Provider.GOOGLE: "http://calendar-google.test"},
        lambda: accounts.own_service_token(harness.context, RELEASE_HOLDS_SCOPE),
        timeout=5,
        http=httpx.AsyncClient(transport=httpx.MockTransport(connector)),
    )
    response = await harness.client.delete("/v1/calendar-connections/current", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["holds_released"] == 2 and body["holds_not_released"] == 1
    assert body["revoked_at_provider"] is True
    assert seen == [
        (
            f"/internal/v1/calendar-connections/{connection_id}/release-holds",
            {RELEASE_HOLDS_SCOPE},
            200,
            False,
        )
    ]


async def test_unlink_goes_ahead_when_the_connector_does_not_answer(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    await harness.link("google", token, "alice@example.com")

    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    harness.context.holds = HttpHoldReleaser(
        {Provider.GOOGLE: "http://calendar-google.test"},
        lambda: "t",
        timeout=5,
        http=httpx.AsyncClient(transport=httpx.MockTransport(down)),
    )
    response = await harness.client.delete("/v1/calendar-connections/current", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["holds_released"] is None
    assert response.json()["connection"]["status"] == "unlinked"
