"""CSRF refusals, security headers, the sealed cookie, and no 5xx from odd input."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from web_testkit import GUEST_TOKEN, Browser, FakeAppointments, FakeAuth, FakeConnector, Fakes, World

from web_service.adapters.api import Apis
from web_service.adapters.session import COOKIE_NAME
from web_service.bootstrap import create_app

POSTS = [
    "/host/sign-in",
    "/host/sign-out",
    "/host/link/google",
    "/host/rooms",
    "/host/appointments",
    "/host/appointments/a0/restore",
    "/host/appointments/a0/guest-link",
    f"/g/{GUEST_TOKEN}/pick",
]


@pytest.mark.parametrize("path", POSTS)
async def test_every_form_refuses_a_missing_or_wrong_csrf_token(browser: Browser, path: str) -> None:
    await browser.sign_in()
    assert (await browser.http.post(path, data={"slot_id": "s1"})).status_code == 403
    refused = await browser.http.post(path, data={"csrf_token": "forged", "slot_id": "s1"})
    assert refused.status_code == 403 and "このフォームは期限切れです" in refused.text


async def test_a_csrf_token_of_another_browser_is_refused(browser: Browser, fakes: Fakes) -> None:
    token = await browser.csrf(f"/g/{GUEST_TOKEN}")
    browser.http.cookies.clear()
    refused = await browser.http.post(f"/g/{GUEST_TOKEN}/pick", data={"csrf_token": token, "slot_id": "s1"})
    assert refused.status_code == 403 and fakes.world.confirmed is None


@pytest.mark.parametrize("path", ["/host/sign-in", f"/g/{GUEST_TOKEN}", "/g/unknown-link-0000000", "/nope"])
async def test_security_headers_on_every_page(browser: Browser, path: str) -> None:
    page = await browser.get(path)
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_the_session_cookie_is_sealed_httponly_and_lax(browser: Browser) -> None:
    page = await browser.get("/host/sign-in")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http base URL; https turns it on (next test)
    await browser.sign_in()
    assert "access-1" not in str(browser.http.cookies.get(COOKIE_NAME))


def test_cookies_are_secure_behind_https() -> None:
    from web_service.settings import Settings

    assert Settings(public_base_url="https://visitors.example").secure_cookies


async def test_a_forged_cookie_is_a_fresh_session(browser: Browser) -> None:
    browser.http.cookies.set(COOKIE_NAME, "not-a-fernet-token")
    page = await browser.get("/host")
    assert page.status_code == 303


def _fuzz_app() -> object:
    world = World()
    apis = Apis(
        auth=FakeAuth(world),
        appointments=FakeAppointments(world),
        connectors={"google": FakeConnector(world, "google"), "outlook": FakeConnector(world, "outlook")},
    )
    return create_app(apis=apis)


schema = schemathesis.openapi.from_asgi("/openapi.json", _fuzz_app())


# In-process calls; a loaded machine (two test workers on two cores) can take longer than
# schemathesis's 10 s default, which is about sockets, not about the answers under test.
FUZZ_CALL_TIMEOUT = 60


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_produces_a_5xx(case: schemathesis.Case) -> None:
    response = case.call(timeout=FUZZ_CALL_TIMEOUT)
    assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
