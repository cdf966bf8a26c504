"""The demo world of the local stack: who exists at the emulated providers and in our tenant.

The emulators keep their state in memory, so this runs on every start. The same world is what
the end-to-end tests and ``make bench`` use, so a developer can replay any test by hand.
The services' own data is durable (SQLite under the state dir, or MongoDB), so on a restart the
tenant is kept, and the demo hosts' calendar links, whose grants died with the emulators, are
unlinked (``unlink_stale_calendars``): after a restart they link again, as after a first start.

* Google Workspace ``example.com``: ``alice@example.com`` (directory permission),
  ``bob@example.com``, the personal account ``carol@gmail.com``; buildings ``hq`` and ``annex``
  with three rooms. OAuth client registered with the callback of the web pages.
* Microsoft 365 ``contoso.example``: ``host@contoso.example`` and colleagues, room list
  ``tokyo-rooms@contoso.example`` with three rooms (``Place.Read.All`` admin-consented);
  ``fabrikam.example`` requires admin consent (R6).
* Our tenant ``demo``: administrator ``alice@example.com`` and member ``host@contoso.example``.
  Their passwords are written to ``<state-dir>/demo.json`` (mode 600), never printed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from provider_emulators.google.testing import GoogleControl, seed_world
from provider_emulators.microsoft.testing import MicrosoftControl, seed_ms_world

DEMO_TENANT = "demo"
GOOGLE_HOST = "alice@example.com"
OUTLOOK_HOST = "host@contoso.example"


@dataclass(frozen=True)
class ProviderApps:
    """OAuth client registrations at the emulators, handed to the auth service's settings."""

    google_client_id: str
    google_client_secret: str
    microsoft_client_id: str
    microsoft_client_secret: str


@dataclass(frozen=True)
class DemoAccounts:
    tenant_id: str
    admin_email: str
    admin_password: str
    outlook_host_email: str
    outlook_host_password: str

    def credentials(self, provider: str) -> tuple[str, str]:
        """E-mail and password of the demo host of ``provider`` (``google`` / ``microsoft``)."""
        if provider == "google":
            return self.admin_email, self.admin_password
        if provider == "microsoft":
            return self.outlook_host_email, self.outlook_host_password
        raise ValueError(f"no demo host for {provider!r}")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> DemoAccounts:
        return cls(**json.loads(path.read_text()))


def seed_providers(
    google: tuple[str, str],
    microsoft: tuple[str, str],
    auth_public_url: str,
    link_redirect_base: str | None = None,
) -> ProviderApps:
    """Create the provider-side world; ``google``/``microsoft`` are ``(base_url, ca_file)``. The
    OAuth clients' redirect URI is under ``link_redirect_base`` (the web pages) when given, as
    ``AUTH_LINK_REDIRECT_BASE_URL`` says, else under the auth service."""
    callback = f"{link_redirect_base or auth_public_url}/v1/calendar-connections/{{}}/callback"
    google_control = GoogleControl(google[0], Path(google[1]))
    try:
        google_world = seed_world(google_control, redirect_uri=callback.format("google"))
    finally:
        google_control.close()
    ms_control = MicrosoftControl(microsoft[0], Path(microsoft[1]))
    try:
        ms_world = seed_ms_world(ms_control, redirect_uri=callback.format("microsoft"))
        # Place.Read.All always needs an administrator; Contoso's has granted it.
        ms_control.grant_admin_consent(ms_world.contoso_id, ms_world.client_id, ["Place.Read.All"])
    finally:
        ms_control.close()
    return ProviderApps(
        google_client_id=google_world.client_id,
        google_client_secret=google_world.client_secret,
        microsoft_client_id=ms_world.client_id,
        microsoft_client_secret=ms_world.client_secret,
    )


def seed_tenant(auth_url: str, operator_key: str, state_file: Path) -> DemoAccounts:
    """Create tenant ``demo`` once per state dir (auth keeps it while its store lives)."""
    accounts = _existing_or_new(state_file)
    with httpx.Client(base_url=auth_url, timeout=10) as http:
        created = http.post(
            "/operator/v1/tenants",
            headers={"X-Operator-Key": operator_key},
            json={
                "tenant_id": accounts.tenant_id,
                "name": "Demo Company",
                "admin_name": "Alice Admin",
                "admin_email": accounts.admin_email,
                "admin_password": accounts.admin_password,
            },
        )
        if created.status_code == 409:  # kept from an earlier run (durable store)
            unlink_stale_calendars(http, accounts)
            return accounts
        created.raise_for_status()
        token = _sign_in(http, accounts.tenant_id, accounts.admin_email, accounts.admin_password)
        member = http.post(
            "/v1/employees",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "name": "Hana Host",
                "email": accounts.outlook_host_email,
                "role": "member",
                "password": accounts.outlook_host_password,
            },
        )
        member.raise_for_status()
    accounts.save(state_file)
    return accounts


def unlink_stale_calendars(http: httpx.Client, accounts: DemoAccounts) -> list[str]:
    """Unlink the demo hosts' calendars kept from an earlier run; returns the hosts unlinked.

    The emulators start empty, so a kept link holds a refresh token no provider knows any more:
    left alone it would read ``active`` until its first use turned it ``reauth_required``.
    Unlinking through the public API (revocation at the provider fails quietly) tells the
    connectors too, through the usual ``unlinked`` event.
    """
    unlinked = []
    for provider in ("google", "microsoft"):
        email, password = accounts.credentials(provider)
        bearer = {"Authorization": f"Bearer {_sign_in(http, accounts.tenant_id, email, password)}"}
        response = http.delete("/v1/calendar-connections/current", headers=bearer)
        if response.status_code == 404:  # nothing linked
            continue
        response.raise_for_status()
        unlinked.append(email)
    return unlinked


def _existing_or_new(state_file: Path) -> DemoAccounts:
    if state_file.exists():
        return DemoAccounts.load(state_file)
    return DemoAccounts(
        tenant_id=DEMO_TENANT,
        admin_email=GOOGLE_HOST,
        admin_password=secrets.token_urlsafe(18),
        outlook_host_email=OUTLOOK_HOST,
        outlook_host_password=secrets.token_urlsafe(18),
    )


def _sign_in(http: httpx.Client, tenant_id: str, email: str, password: str) -> str:
    body = {"tenant_id": tenant_id, "email": email, "password": password}
    response = http.post("/auth/v1/sign-in", json=body)
    response.raise_for_status()
    return str(response.json()["access_token"])
