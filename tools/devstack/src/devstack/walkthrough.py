"""Drive a running local stack the way its users do, over its public HTTP APIs only.

An employee signs in, links a calendar by clicking through the provider's sign-in pages (plain
HTML forms, no JavaScript), proposes candidate slots, and a guest picks one; an administrator
registers a reception tablet, which checks the guest in by the code; the mails the stack sent
are read from the mail sink's folder. Used by the
end-to-end tests and by ``make bench``; nothing here reaches into a service's internals.
"""

from __future__ import annotations

import asyncio
import email
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import httpx

from provider_emulators.microsoft.testing import parse_forms

ACCEPT_LABELS = ("許可", "承諾")
LINKED_MESSAGES = {
    "google": "Googleカレンダーと連携しました。",
    "microsoft": "Outlookカレンダーと連携しました。",
}


@dataclass(frozen=True)
class StackUrls:
    auth: str
    appointments: str
    ca_file: str


class Employee:
    """One signed-in employee with an HTTP client per service."""

    def __init__(self, urls: StackUrls, email: str, access_token: str) -> None:
        self.urls = urls
        self.email = email
        headers = {"Authorization": f"Bearer {access_token}"}
        self.auth = httpx.AsyncClient(base_url=urls.auth, headers=headers, timeout=20)
        self.appointments = httpx.AsyncClient(base_url=urls.appointments, headers=headers, timeout=20)

    @classmethod
    async def sign_in(cls, urls: StackUrls, tenant_id: str, email: str, password: str) -> Employee:
        async with httpx.AsyncClient(base_url=urls.auth, timeout=20) as http:
            response = await http.post(
                "/auth/v1/sign-in", json={"tenant_id": tenant_id, "email": email, "password": password}
            )
        _expect(response, 200)
        return cls(urls, email, response.json()["access_token"])

    async def close(self) -> None:
        await self.auth.aclose()
        await self.appointments.aclose()

    # -- calendar linking --------------------------------------------------------------------
    async def link_calendar(self, provider: str) -> str:
        """Link ``provider`` with the account of the employee's own e-mail (R7); returns the
        success message the callback shows."""
        started = await self.auth.post(f"/v1/calendar-connections/{provider}/authorize")
        _expect(started, 200)
        callback_url = await click_through_consent(started.json()["authorization_url"], self.email, self.urls)
        done = await self.auth.get(callback_url)
        _expect(done, 200)
        return done.text

    async def ensure_linked(self, provider: str) -> None:
        """Link ``provider`` unless the employee already has an active connection."""
        if (await self.auth.get("/v1/calendar-connections/current")).status_code != 200:
            await self.link_calendar(provider)

    async def current_connection(self) -> dict[str, Any]:
        response = await self.auth.get("/v1/calendar-connections/current")
        _expect(response, 200)
        result: dict[str, Any] = response.json()
        return result

    # -- appointments ------------------------------------------------------------------------
    async def propose(self, *starts: datetime, minutes: int = 30, title: str = "Visit") -> dict[str, Any]:
        body = {
            "title": title,
            "guests": [{"name": "Sato Hanako", "company": "ACME KK", "email": "sato@acme.example"}],
            "duration_minutes": minutes,
            "candidates": [
                {"start": s.isoformat(), "end": (s + timedelta(minutes=minutes)).isoformat()} for s in starts
            ],
            "hold_candidates": True,
        }
        response = await self.appointments.post("/v1/appointments", json=body)
        _expect(response, 201)
        result: dict[str, Any] = response.json()
        return result

    async def appointment(self, appointment_id: str) -> dict[str, Any]:
        response = await self.appointments.get(f"/v1/appointments/{appointment_id}")
        _expect(response, 200)
        result: dict[str, Any] = response.json()
        return result

    async def reschedule(
        self, appointment_id: str, version: int, *starts: datetime, minutes: int = 30
    ) -> dict[str, Any]:
        """Replace the candidates (proposed) or move the confirmed slot (one start), at ``version``."""
        body = {
            "candidates": [
                {"start": s.isoformat(), "end": (s + timedelta(minutes=minutes)).isoformat()} for s in starts
            ]
        }
        response = await self.appointments.post(
            f"/v1/appointments/{appointment_id}/reschedule", json=body, headers={"If-Match": f'"{version}"'}
        )
        _expect(response, 200)
        result: dict[str, Any] = response.json()
        return result

    async def cancel(self, appointment_id: str, version: int, reason: str | None = None) -> dict[str, Any]:
        """Cancel for good, at ``version``."""
        response = await self.appointments.post(
            f"/v1/appointments/{appointment_id}/cancel",
            json={"reason": reason} if reason else None,
            headers={"If-Match": f'"{version}"'},
        )
        _expect(response, 200)
        result: dict[str, Any] = response.json()
        return result

    async def recent_appointments(self) -> list[dict[str, Any]]:
        """The employee's own appointments, newest first (at most 100)."""
        response = await self.appointments.get("/v1/appointments")
        _expect(response, 200)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def reissue_guest_link(self, appointment_id: str, version: int) -> dict[str, Any]:
        """Withdraw the guest link and issue a new one (its token is in the answer)."""
        response = await self.appointments.post(
            f"/v1/appointments/{appointment_id}/guest-link", headers={"If-Match": f'"{version}"'}
        )
        _expect(response, 201)
        result: dict[str, Any] = response.json()
        return result

    async def add_colleague(self, name: str, email: str, password: str) -> dict[str, Any]:
        """As a tenant administrator: add a member employee who signs in with ``password``."""
        body = {"name": name, "email": email, "role": "member", "password": password}
        response = await self.auth.post("/v1/employees", json=body)
        _expect(response, 201)
        result: dict[str, Any] = response.json()
        return result

    async def wait_sync(
        self, appointment_id: str, state: str, version: int, within: float = 30.0, every: float = 0.1
    ) -> dict[str, Any]:
        """Poll until ``calendar_sync`` reports ``state`` for at least appointment ``version``."""
        deadline = time.monotonic() + within
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = await self.appointment(appointment_id)
            sync = body["calendar_sync"]
            if sync["state"] == state and (sync.get("appointment_version") or 0) >= version:
                return body
            await asyncio.sleep(every)
        sync = body.get("calendar_sync")
        raise AssertionError(f"{appointment_id} never reached {state} v{version}: {sync}")


async def guest_pick(appointments_url: str, guest_token: str, slot_id: str) -> dict[str, Any]:
    """The guest's side: open the link, pick ``slot_id``; returns the confirmation."""
    async with httpx.AsyncClient(base_url=appointments_url, timeout=20) as http:
        shown = await http.get(f"/v1/guest/appointments/{guest_token}")
        _expect(shown, 200)
        picked = await http.post(f"/v1/guest/appointments/{guest_token}/pick", json={"slot_id": slot_id})
    _expect(picked, 200)
    result: dict[str, Any] = picked.json()
    return result


# -- the visit day: reception and mail ---------------------------------------------------------


@dataclass(frozen=True)
class ReceptionDevice:
    """A registered front-desk tablet and its credential (the secret is shown once)."""

    device_id: str
    client_id: str
    client_secret: str


async def register_reception_device(admin: Employee, name: str = "1F lobby") -> ReceptionDevice:
    """A tenant administrator registers a tablet (``POST /v1/reception-devices``)."""
    response = await admin.auth.post("/v1/reception-devices", json={"name": name})
    _expect(response, 201)
    body = response.json()
    return ReceptionDevice(body["device_id"], body["client_id"], body["client_secret"])


async def reception_token(auth_url: str, device: ReceptionDevice) -> str:
    """The tablet exchanges its credential for a short-lived reception token."""
    async with httpx.AsyncClient(base_url=auth_url, timeout=20) as http:
        response = await http.post(
            "/auth/v1/reception-token",
            json={"client_id": device.client_id, "client_secret": device.client_secret},
        )
    _expect(response, 200)
    return str(response.json()["access_token"])


async def check_in(appointments_url: str, token: str, code: str) -> httpx.Response:
    """The guest types ``code`` at the tablet; the answer as it came (200, 404, 409, 429)."""
    async with httpx.AsyncClient(base_url=appointments_url, timeout=20) as http:
        return await http.post(
            "/v1/reception/check-ins",
            json={"reception_code": code},
            headers={"Authorization": f"Bearer {token}"},
        )


def read_mails(mail_dir: Path) -> list[EmailMessage]:
    """Every mail the sink kept, in arrival order (``<state-dir>/mail/*.eml``)."""
    return [
        cast(EmailMessage, email.message_from_bytes(path.read_bytes(), policy=default_policy))
        for path in sorted(mail_dir.glob("*.eml"))
    ]


def mail_text(message: EmailMessage) -> str:
    """The plain-text body of a mail (decoded)."""
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def mail_calendar(message: EmailMessage) -> str | None:
    """The .ics attached to a mail, if any."""
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            return content.decode() if isinstance(content, bytes) else str(content)
    return None


async def wait_mails(
    mail_dir: Path, match: Callable[[EmailMessage], bool], count: int = 1, within: float = 60.0
) -> list[EmailMessage]:
    """Poll the sink's folder until ``count`` mails ``match`` (more may follow; callers that
    need "exactly" look again after their own wait)."""
    deadline = time.monotonic() + within
    while True:
        found = [m for m in read_mails(mail_dir) if match(m)]
        if len(found) >= count or time.monotonic() >= deadline:
            if len(found) < count:
                raise AssertionError(f"{len(found)} of {count} mails arrived within {within} s")
            return found
        await asyncio.sleep(0.2)


async def click_through_consent(
    authorization_url: str, account: str, urls: StackUrls, verify: ssl.SSLContext | None = None
) -> str:
    """Choose ``account`` and press 許可 / 承諾; return the redirect back to the auth service.
    ``verify``: a context trusting the emulators' CA, to share between many flows (each flow
    still has a browser, cookies included, of its own)."""
    context = verify or ssl.create_default_context(cafile=urls.ca_file)
    async with httpx.AsyncClient(verify=context, timeout=20) as browser:
        response = await browser.get(authorization_url)
        for _ in range(8):
            if response.is_redirect:
                location = urljoin(str(response.request.url), response.headers["location"])
                back = urlsplit(location)
                if back.path.startswith("/v1/calendar-connections/"):
                    # The redirect URI may be the web pages' callback (same path); this API walk
                    # hands the same query to auth's callback directly.
                    return f"{urls.auth}{back.path}?{back.query}"
                response = await browser.get(location)
                continue
            _expect(response, 200)
            response = await _press(browser, response, account)
    raise AssertionError("the provider's sign-in flow did not come back to the auth service")


async def _press(browser: httpx.AsyncClient, page: httpx.Response, account: str) -> httpx.Response:
    for form in parse_forms(page.text):
        for name, value, label in form.buttons:
            if value.lower() == account.lower() or label in ACCEPT_LABELS:
                action = urljoin(str(page.request.url), form.action)
                return await browser.post(action, data={**form.fields, name: value})
    raise AssertionError(f"no button for {account!r} on the provider's page")


def slots_from(start: datetime, count: int) -> list[datetime]:
    """Starts of ``count`` slots one hour apart from ``start`` (proposals last 30 minutes)."""
    return [start + timedelta(hours=i) for i in range(count)]


def morning_in(days_ahead: int = 7) -> datetime:
    """10:00 in Tokyo (01:00 UTC), ``days_ahead`` days from now."""
    return (datetime.now(UTC) + timedelta(days=days_ahead)).replace(hour=1, minute=0, second=0, microsecond=0)


class UnexpectedStatus(AssertionError):
    """A call answered another status than expected; ``status`` says which (callers that ride
    out restarts retry 5xx and give up on 4xx)."""

    def __init__(self, response: httpx.Response, expected: int) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}, "
            f"expected {expected}: {response.text[:500]}"
        )
        self.status = response.status_code


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise UnexpectedStatus(response, status)


def event_ids(sync: Mapping[str, Any]) -> dict[str, str]:
    return dict(sync.get("provider_event_ids") or {})
