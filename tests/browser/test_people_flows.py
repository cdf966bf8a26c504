"""Done as a person would, in headless Chromium on the running local stack with the emulators:
link Google (許可) and choose a building, link Outlook (承諾) and choose a room list, get past
"administrator approval needed", propose two candidates in the console, pick as the guest,
compare the reception code with the host's view, reopen the link, open an unknown link."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack.testing import RunningStack

pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed (uv sync)")
from people import Person  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.timeout(300)
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def person(
    stack: RunningStack, chromium: object, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator:
    made: list[Person] = []

    def make(who: str) -> Person:
        p = Person(chromium, stack.stack.config.url("web"), screenshots, who)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def test_google_host_links_through_allow_and_chooses_a_building(stack: RunningStack, person) -> None:
    host = person("google-host")
    email, password = stack.demo.credentials("google")
    host.sign_in(stack.demo.tenant_id, email, password)
    host.link("google", email)
    expect(host.page.locator("#message")).to_have_text("Googleカレンダーと連携しました。")
    expect(host.page.locator("#chooser")).to_be_visible()
    host.shot("linked-chooser")
    host.page.locator("#chooser label").first.click()
    host.page.locator("#save-room-group").click()
    expect(host.page.locator("#saved")).to_be_visible()
    expect(host.page.locator("#selected-group")).not_to_have_text("—")
    host.shot("rooms-saved")


def test_outlook_host_links_through_accept_and_chooses_a_room_list(stack: RunningStack, person) -> None:
    host = person("outlook-host")
    email, password = stack.demo.credentials("microsoft")
    host.sign_in(stack.demo.tenant_id, email, password)
    host.link("microsoft", email)
    expect(host.page.locator("#message")).to_have_text("Outlookカレンダーと連携しました。")
    expect(host.page.locator("#chooser")).to_contain_text("Tokyo HQ")
    host.shot("linked-chooser")
    host.page.get_by_label("Tokyo HQ").check()
    host.page.locator("#save-room-group").click()
    expect(host.page.locator("#selected-group")).to_have_text("Tokyo HQ")
    expect(host.page.locator("table")).to_contain_text("Room 1")
    host.shot("rooms-saved")


def _fabrikam_employee(stack: RunningStack) -> tuple[str, str]:
    """An employee of our demo tenant whose Microsoft 365 tenant needs admin consent (R6)."""
    email, password = "user@fabrikam.example", secrets.token_urlsafe(18)
    admin_email, admin_password = stack.demo.credentials("google")
    with httpx.Client(base_url=stack.urls.auth, timeout=20) as http:
        signed = http.post(
            "/auth/v1/sign-in",
            json={"tenant_id": stack.demo.tenant_id, "email": admin_email, "password": admin_password},
        )
        signed.raise_for_status()
        created = http.post(
            "/v1/employees",
            headers={"Authorization": f"Bearer {signed.json()['access_token']}"},
            json={"name": "Fabi User", "email": email, "role": "member", "password": password},
        )
        created.raise_for_status()
    return email, password


def test_admin_approval_needed_then_granted_then_linking_succeeds(stack: RunningStack, person) -> None:
    email, password = _fabrikam_employee(stack)
    host = person("fabrikam-host")
    host.sign_in(stack.demo.tenant_id, email, password)
    host.link("microsoft", email)
    refusal = host.page.locator("#refusal-title")
    expect(refusal).to_contain_text("管理者の承認が必要です")
    expect(refusal).to_contain_text("Administrator approval needed")
    host.shot("admin-approval-needed")
    # The administrator opens the approval link (here in the same browser) and accepts.
    host.page.locator("#admin-consent-url").click()
    host.through_provider("admin@fabrikam.example", "admin-consent")
    expect(host.page.locator("#message")).to_contain_text("管理者による承認が完了しました")
    host.shot("admin-consent-done")
    host.link("microsoft", email)
    expect(host.page.locator("#message")).to_have_text("Outlookカレンダーと連携しました。")
    host.shot("linked-after-consent")


def _candidate_days() -> list[datetime]:
    day = (datetime.now(TOKYO) + timedelta(days=9)).replace(hour=10, minute=0, second=0, microsecond=0)
    return [day, day + timedelta(hours=2)]


def test_console_proposes_two_slots_and_the_guest_picks_one(stack: RunningStack, person) -> None:
    host = person("console")
    email, password = stack.demo.credentials("google")
    host.sign_in(stack.demo.tenant_id, email, password)
    if not host.page.locator("#connection").count():  # the Google test above normally linked it
        host.link("google", email)
    host.open("/host/appointments/new")
    expect(host.page.locator("#chooser")).to_have_count(0)
    host.shot("new-appointment")
    page = host.page
    page.get_by_label("件名").fill("ACME 来訪")
    page.locator("#guest0_name").fill("佐藤 花子")
    page.locator("#guest0_company").fill("ACME株式会社")
    page.locator("#guest0_email").fill("sato@acme.example")
    for i, start in enumerate(_candidate_days()):
        page.locator(f"#slot{i}_date").fill(start.strftime("%Y-%m-%d"))
        page.locator(f"#slot{i}_start").fill(start.strftime("%H:%M"))
    expect(page.locator("#hold")).to_be_checked()
    page.locator("#preview").click()
    expect(page.locator('[data-testid="host-0"]')).to_be_visible()
    expect(page.locator('[data-testid="host-1"]')).to_be_visible()
    host.shot("availability-preview")
    page.locator("#send").click()
    guest_url = page.locator("#guest-url").input_value()
    assert guest_url.startswith(host.web + "/g/")
    host.shot("appointment-created")
    detail_url = page.url

    guest = person("guest")
    guest.open(guest_url)
    expect(guest.page.locator("h1")).to_have_text("ACME 来訪")
    expect(guest.page.locator('input[name="slot_id"]')).to_have_count(2)
    guest.shot("choose")
    guest.page.locator("#tz").select_option("Europe/London")
    guest.page.get_by_role("button", name=re.compile("切り替え")).click()
    expect(guest.page.locator(".hint").first).to_contain_text("Europe/London")
    guest.shot("choose-london")
    guest.page.locator('label[for="slot-2"]').click()
    guest.page.locator("#confirm").click()
    code = guest.page.locator("#reception-code")
    expect(code).to_have_text(re.compile(r"^\d{6}$"))
    reception_code = code.inner_text()
    assert reception_code not in guest.page.title()
    guest.shot("confirmed")
    with guest.page.expect_download() as download:
        guest.page.get_by_role("link", name=re.compile(r"\.ics")).click()
    assert "BEGIN:VEVENT" in Path(download.value.path()).read_text()

    host.open(detail_url)
    expect(host.page.locator("#host-reception-code")).to_have_text(reception_code)
    expect(host.page.locator("#status")).to_have_text("confirmed")
    host.shot("appointment-confirmed")

    guest.open(guest_url)  # the guest opens the link again, in the same browser
    expect(guest.page.locator("#reception-code")).to_have_text(reception_code)
    expect(guest.page.locator("#confirmed-slot")).to_be_visible()
    guest.shot("reopened")
    elsewhere = person("guest-elsewhere")  # a browser that never picked: the link's holder is the guest
    assert elsewhere.open(guest_url).status == 200
    expect(elsewhere.page.locator("#confirmed-slot")).to_be_visible()
    expect(elsewhere.page.locator("#reception-code")).to_have_text(reception_code)
    elsewhere.shot("reopened")


def test_an_unknown_link_is_a_clear_404(stack: RunningStack, person) -> None:
    guest = person("unknown-link")
    answer = guest.open("/g/" + secrets.token_urlsafe(24))
    assert answer.status == 404
    expect(guest.page.locator("h1")).to_contain_text("このリンクは見つかりません")
    guest.shot("not-found")
    headers = answer.headers
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
