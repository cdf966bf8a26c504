"""The guest's page over ASGI with fake APIs: view, pick, confirmation, reopen, refusals."""

from __future__ import annotations

import pytest
from web_testkit import GUEST_TOKEN, Browser, Fakes

from web_service.adapters.api import ApiError

PAGE = f"/g/{GUEST_TOKEN}"


async def test_the_page_lists_the_candidates_in_tokyo_time_by_default(browser: Browser) -> None:
    page = await browser.get(PAGE)
    assert page.status_code == 200
    assert "2030年1月7日(月) 10:00–10:30" in page.text
    assert "UTC+09:00" in page.text
    assert page.text.count('name="slot_id"') == 2
    assert "Room 1" in page.text


async def test_the_time_zone_can_be_switched_and_odd_zones_fall_back(browser: Browser) -> None:
    london = await browser.get(PAGE, params={"tz": "Europe/London"})
    assert "2030年1月7日(月) 01:00–01:30" in london.text
    odd = await browser.get(PAGE, params={"tz": "../../etc/passwd"})
    assert odd.status_code == 200 and "10:00–10:30" in odd.text


async def test_pick_shows_the_code_and_reopening_shows_it_again(browser: Browser, fakes: Fakes) -> None:
    picked = await browser.post(f"{PAGE}/pick", {"slot_id": "s2"}, csrf_from=PAGE)
    assert picked.status_code == 303 and picked.headers["location"].startswith(PAGE)
    shown = await browser.get(PAGE)
    assert 'id="reception-code"' in shown.text and "123456" in shown.text
    assert "11:00–11:30" in shown.text
    again = await browser.get(PAGE)
    assert "123456" in again.text
    ics = await browser.get(f"{PAGE}/visit.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in ics.content and b"DTSTART:20300107T020000Z" in ics.content
    assert "123456" not in shown.text.split("<title>")[1].split("</title>")[0]


async def test_a_slot_taken_meanwhile_is_explained_with_409(browser: Browser, fakes: Fakes) -> None:
    fakes.world.pick_refusal = ApiError(409, "slot_unavailable")
    taken = await browser.post(f"{PAGE}/pick", {"slot_id": "s1"}, csrf_from=PAGE)
    assert taken.status_code == 409
    assert 'id="taken"' in taken.text and "先に埋まりました" in taken.text


async def test_no_choice_is_a_422_page(browser: Browser) -> None:
    page = await browser.post(f"{PAGE}/pick", {}, csrf_from=PAGE)
    assert page.status_code == 422 and 'id="choose-one"' in page.text


@pytest.mark.parametrize(
    ("refusal", "status", "text"),
    [
        (ApiError(404, "guest_link_invalid"), 404, "このリンクは見つかりません"),
        (ApiError(410, "guest_link_expired"), 410, "有効期限が切れたか、取り消されました"),
        (ApiError(429, "rate_limited", extra={"retry_after": 7}), 429, "アクセスが集中しています"),
        (ApiError(503, "dependency_unavailable"), 503, "現在予約できません"),
        (ApiError(409, "invalid_state"), 409, "現在予約できません"),
        (ApiError(503, "service_unavailable"), 503, "現在予約できません"),
    ],
)
async def test_refusals_are_pages_with_the_api_status(
    browser: Browser, fakes: Fakes, refusal: ApiError, status: int, text: str
) -> None:
    fakes.world.guest_refusal = refusal
    page = await browser.get(PAGE)
    assert page.status_code == status
    assert text in page.text
    assert page.headers["content-type"].startswith("text/html")
    if status == 429:
        assert page.headers["retry-after"] == "7"


async def test_unknown_and_malformed_links_are_404(browser: Browser) -> None:
    assert (await browser.get("/g/" + "x" * 40)).status_code == 404
    assert (await browser.get("/g/short")).status_code == 404
    assert (await browser.get("/g/%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00")).status_code == 404


async def test_reopening_in_another_browser_shows_the_code_and_host(browser: Browser, fakes: Fakes) -> None:
    """The link's holder is the guest: the API gives the code once confirmed, so a browser that
    did not pick (another device, cleared cookies) shows it too."""
    fakes.world.confirmed = fakes.world.candidates[0]  # picked elsewhere; this browser never did
    page = await browser.get(PAGE)
    assert 'id="reception-code"' in page.text and "123456" in page.text
    assert 'id="confirmed-host"' in page.text and "host@contoso.example" in page.text
    ics = await browser.get(f"{PAGE}/visit.ics")
    assert b"123456" in ics.content


async def test_without_the_code_in_the_view_the_picking_browser_still_shows_it(
    browser: Browser, fakes: Fakes
) -> None:
    fakes.world.code_in_view = False
    await browser.post(f"{PAGE}/pick", {"slot_id": "s2"}, csrf_from=PAGE)
    assert "123456" in (await browser.get(PAGE)).text
