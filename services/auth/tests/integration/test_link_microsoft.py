"""Linking Microsoft 365 end to end (MSAL against the emulator over HTTPS)."""

from __future__ import annotations

from auth_testkit import Harness, bearer, query_of


async def test_microsoft_link_succeeds_with_exact_message(harness: Harness) -> None:
    _, token = await harness.employee("acme", "hana@contoso.example")
    url = await harness.authorize("microsoft", token)
    query = query_of(url)
    assert query["code_challenge_method"] == "S256"
    assert "offline_access" in query["scope"]
    response = await harness.callback(await harness.browser.sign_in(url, "hana@contoso.example"))
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Outlookカレンダーと連携しました。"
    current = await harness.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert current.json()["provider"] == "outlook"
    assert current.json()["account_email"] == "hana@contoso.example"
    assert await harness.event_types() == ["CalendarConnectionLinked"]
