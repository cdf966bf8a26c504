"""The host console and the linking pages over ASGI with fake APIs."""

from __future__ import annotations

import pytest
from web_testkit import PASSWORD, Browser, Fakes

from web_service.adapters.api import ApiError


async def test_the_console_needs_a_sign_in(browser: Browser) -> None:
    page = await browser.get("/host")
    assert page.status_code == 303 and page.headers["location"] == "/host/sign-in"


async def test_a_wrong_password_is_explained(browser: Browser) -> None:
    page = await browser.post(
        "/host/sign-in", {"tenant_id": "demo", "email": "alice@example.com", "password": PASSWORD + "x"}
    )
    assert page.status_code == 400 and 'id="sign-in-problem"' in page.text
    assert PASSWORD not in page.text


async def test_sign_in_shows_the_console_with_both_link_buttons(browser: Browser) -> None:
    await browser.sign_in()
    page = await browser.get("/host")
    assert page.status_code == 200
    assert 'id="link-google"' in page.text and 'id="link-microsoft"' in page.text
    assert "access-1" not in page.text  # the token stays in the sealed cookie


async def test_an_expired_access_token_is_renewed_once(browser: Browser, fakes: Fakes) -> None:
    await browser.sign_in()
    fakes.world.access_ok = {"nothing"}
    page = await browser.get("/host")
    assert page.status_code == 200 and fakes.world.refreshed == 1
    fakes.world.access_ok = set()
    assert (await browser.get("/host")).headers["location"] == "/host/sign-in"


async def test_link_button_redirects_to_the_provider(browser: Browser) -> None:
    await browser.sign_in()
    started = await browser.post("/host/link/google", {}, csrf_from="/host")
    assert started.status_code == 303
    assert started.headers["location"].startswith("https://accounts.example/google/authorize")


async def test_callback_shows_the_message_and_the_chooser_then_saves(browser: Browser, fakes: Fakes) -> None:
    await browser.sign_in()
    back = await browser.get("/v1/calendar-connections/google/callback", params={"code": "c", "state": "s"})
    assert back.status_code == 200
    assert "Googleカレンダーと連携しました。" in back.text
    assert 'id="chooser"' in back.text and "本社ビル" in back.text
    assert fakes.world.callbacks == [{"code": "c", "state": "s"}]
    saved = await browser.post("/host/rooms", {"room_group_id": "hq"}, csrf_from="/host")
    assert saved.status_code == 303 and fakes.world.room_group == "hq"
    rooms = await browser.get(saved.headers["location"])
    assert 'id="saved"' in rooms.text and "Room 1" in rooms.text


async def test_refusals_are_explained_on_the_callback_page(browser: Browser, fakes: Fakes) -> None:
    fakes.world.link_refusal = ApiError(
        403,
        "email_mismatch",
        detail="登録されているメールアドレス（a@x.example）と…（b@y.example）が一致しません。",
    )
    page = await browser.get("/v1/calendar-connections/google/callback", params={"code": "c", "state": "s"})
    assert page.status_code == 403
    assert "a@x.example" in page.text and "b@y.example" in page.text
    fakes.world.link_refusal = ApiError(
        403, "admin_consent_required", extra={"admin_consent_url": "https://login.example/adminconsent?x=1"}
    )
    page = await browser.get(
        "/v1/calendar-connections/microsoft/callback", params={"error": "consent_required"}
    )
    assert page.status_code == 403 and 'id="admin-consent-url"' in page.text
    assert "管理者の承認が必要です" in page.text
    fakes.world.link_refusal = ApiError(
        403, "admin_consent_required", extra={"admin_consent_url": "javascript:alert(1)"}
    )
    page = await browser.get("/v1/calendar-connections/microsoft/callback", params={"state": "s"})
    assert "javascript:" not in page.text


@pytest.mark.parametrize(
    ("code", "title"),
    [("link_cancelled", "連携がキャンセルされました"), ("link_refused", "連携が許可されませんでした")],
)
async def test_provider_errors_on_the_callback_are_explained(
    browser: Browser, fakes: Fakes, code: str, title: str
) -> None:
    # auth answers a provider error= on the callback with a 400 and one of these codes.
    fakes.world.link_refusal = ApiError(400, code, detail="…")
    page = await browser.get(
        "/v1/calendar-connections/google/callback", params={"state": "s", "error": "server_error"}
    )
    assert page.status_code == 400
    assert title in page.text


async def test_new_appointment_prompts_for_rooms_previews_and_sends(browser: Browser, fakes: Fakes) -> None:
    await browser.sign_in()
    await browser.get("/v1/calendar-connections/google/callback", params={"code": "c", "state": "s"})
    form = await browser.get("/host/appointments/new")
    assert 'id="chooser"' in form.text
    fakes.world.selection_required = False
    fields = {
        "title": "ACME visit",
        "guest0_name": "Sato",
        "guest0_email": "sato@acme.example",
        "duration": "30",
        "tz": "Asia/Tokyo",
        "slot0_date": "2030-01-07",
        "slot0_start": "10:00",
        "slot1_date": "2030-01-07",
        "slot1_start": "11:00",
        "slot1_room": "room1@example.com",
        "hold": "on",
    }
    preview = await browser.post("/host/appointments", {**fields, "action": "preview"}, csrf_from="/host")
    assert preview.status_code == 200
    assert 'data-testid="host-0"' in preview.text and 'data-testid="host-1"' in preview.text
    sent = await browser.post("/host/appointments", {**fields, "action": "create"}, csrf_from="/host")
    assert sent.status_code == 303
    body = fakes.world.created[0]
    assert body["candidates"][0]["start"] == "2030-01-07T10:00:00+09:00"
    assert body["candidates"][1]["room"] == {"email": "room1@example.com"}
    assert body["hold_candidates"] is True
    detail = await browser.get(sent.headers["location"])
    assert 'id="guest-url"' in detail.text and "https://web.example/g/" in detail.text
    assert 'id="drift"' in detail.text and 'id="restore"' in detail.text
    listing = await browser.get("/host")
    assert "ACME visit" in listing.text


async def test_an_invalid_form_is_shown_again_with_422(browser: Browser) -> None:
    await browser.sign_in()
    page = await browser.post(
        "/host/appointments", {"title": "", "slot0_date": "2030-13-45", "slot0_start": "x"}, csrf_from="/host"
    )
    assert page.status_code == 422 and 'id="form-problems"' in page.text
