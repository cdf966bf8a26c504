"""Linking Google end to end against the emulator over HTTPS."""

from __future__ import annotations

from typing import Any

from auth_testkit import Harness, bearer, query_of


async def test_google_link_succeeds_with_exact_message(harness: Harness) -> None:
    _, token = await harness.employee("acme", "alice@example.com")
    url = await harness.authorize("google", token)
    query = query_of(url)
    assert query["code_challenge_method"] == "S256"
    assert query["access_type"] == "offline"
    location = await harness.browser.sign_in(url, "alice@example.com")
    response = await harness.callback(location)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["message"] == "Googleカレンダーと連携しました。"
    current = await harness.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert current.json()["provider"] == "google"
    assert current.json()["account_email"] == "alice@example.com"
    assert current.json()["room_selection_required"] is True
    assert await harness.event_types() == ["CalendarConnectionLinked"]
