"""Test kit of the auth service's suites (imported by conftest.py and the tests).

The service in process (ASGI) wired to the provider emulators over real HTTPS, a controllable
clock, a browser that clicks through the provider's sign-in pages, and helpers to bootstrap
tenants and employees."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from argon2 import profiles as argon2_profiles

from auth_service.adapters import passwords
from auth_service.adapters.google import GoogleClient
from auth_service.adapters.microsoft import MicrosoftClient
from auth_service.adapters.providers import (
    AuthorizationStart,
    InvalidGrant,
    LinkedAccount,
    ProviderAccessToken,
)
from auth_service.bootstrap import create_app
from auth_service.domain.models import ProviderIdentity
from auth_service.settings import Settings
from provider_emulators.core import EmulatorServer
from provider_emulators.google.app import create_app as create_google
from provider_emulators.google.testing import GoogleControl
from provider_emulators.microsoft.app import create_app as create_microsoft
from provider_emulators.microsoft.testing import MicrosoftControl, parse_forms
from visitor_common.events import CloudEvent, Provider, parse_event
from visitor_common.outbox import OutboxEntry

SERVICE_URL = "https://auth.test"
OPERATOR_KEY = "operator-key-for-tests-only"
PASSWORD = "correct horse battery staple"
GOOGLE_CLIENT_ID = "auth-test.apps.googleusercontent.com"
GOOGLE_SECRET = "google-client-secret-value"
MS_CLIENT_ID = "3f1c2b7e-0000-4000-8000-00000000a0b1"
MS_SECRET = "microsoft-client-secret-value"
CONTOSO = "11111111-2222-3333-4444-555555555555"
FABRIKAM = "66666666-7777-8888-9999-000000000000"
EXAMPLE_MS = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SERVICE_CLIENT = {"calendar-google": {"secret": "svc-secret-google", "scopes": ["connections"]}}
ENC_KEYS = {"k1": base64.b64encode(b"k" * 32).decode()}


class MutableClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Emulators:
    google: EmulatorServer
    microsoft: EmulatorServer
    google_control: GoogleControl
    ms_control: MicrosoftControl

    @property
    def ca_file(self) -> str:
        return str(self.google.ca_path)


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    # One data dir, so both emulators serve certificates of the same CA.
    data_dir = tmp_path_factory.mktemp("emulators")
    google = EmulatorServer(app_factory=create_google, data_dir=data_dir).start()
    microsoft = EmulatorServer(app_factory=create_microsoft, data_dir=data_dir).start()
    assert google.ca_path == microsoft.ca_path
    emus = Emulators(
        google,
        microsoft,
        GoogleControl(google.base_url, google.ca_path),
        MicrosoftControl(microsoft.base_url, microsoft.ca_path),
    )
    yield emus
    emus.google_control.close()
    emus.ms_control.close()
    google.stop()
    microsoft.stop()


def seed_google(control: GoogleControl) -> None:
    control.reset()
    control.add_domain("example.com", customer_id="C01")
    control.add_client(
        GOOGLE_CLIENT_ID, GOOGLE_SECRET, [f"{SERVICE_URL}/v1/calendar-connections/google/callback"]
    )
    control.add_user("alice@example.com", name="Alice Admin", directory_permission=True)
    control.add_user("bob@example.com", name="Bob Member")
    control.add_user("carol@gmail.com", name="Carol Personal", personal=True)


def seed_microsoft(control: MicrosoftControl) -> None:
    control.reset()
    control.add_app(
        [f"{SERVICE_URL}/v1/calendar-connections/microsoft/callback"],
        client_id=MS_CLIENT_ID,
        client_secret=MS_SECRET,
        name="Visitor Scheduling",
    )
    control.add_tenant("contoso.example", id=CONTOSO, display_name="Contoso")
    control.add_tenant("fabrikam.example", id=FABRIKAM, admin_consent_required=True)
    control.add_tenant("example.com", id=EXAMPLE_MS, display_name="Example (both providers)")
    # Place.Read.All always needs an administrator: Contoso's and Example's have granted it.
    control.grant_admin_consent(CONTOSO, MS_CLIENT_ID, ["Place.Read.All"])
    control.grant_admin_consent(EXAMPLE_MS, MS_CLIENT_ID, ["Place.Read.All"])
    control.add_user("alice@example.com", "Alice Admin", tenant=EXAMPLE_MS)
    control.add_user("hana@contoso.example", "Hana Host", tenant=CONTOSO)
    control.add_user("colin@contoso.example", "Colin League", tenant=CONTOSO)
    control.add_user("fabi@fabrikam.example", "Fabi User", tenant=FABRIKAM)
    control.add_user("admin@fabrikam.example", "Fabi Admin", tenant=FABRIKAM, is_admin=True)
    control.add_user("vic@outlook.example", "Vic Visitor", personal=True)


def service_settings(emus: Emulators, **extra: Any) -> Settings:
    g, m = emus.google.base_url, emus.microsoft.base_url
    values: dict[str, Any] = {
        "public_base_url": SERVICE_URL,
        "kafka_enabled": False,
        "operator_key": OPERATOR_KEY,
        "service_clients": SERVICE_CLIENT,
        "token_encryption_keys": ENC_KEYS,
        "token_encryption_active_kid": "k1",
        "provider_ca_file": emus.ca_file,
        "provider_timeout_seconds": 5.0,
        "google_client_id": GOOGLE_CLIENT_ID,
        "google_client_secret": GOOGLE_SECRET,
        "google_auth_url": f"{g}/o/oauth2/v2/auth",
        "google_token_url": f"{g}/token",
        "google_revoke_url": f"{g}/revoke",
        "google_certs_url": f"{g}/oauth2/v3/certs",
        "microsoft_client_id": MS_CLIENT_ID,
        "microsoft_client_secret": MS_SECRET,
        "microsoft_authority_host": m,
        "microsoft_graph_url": f"{m}/v1.0",
        **extra,
    }
    return Settings(**values)


class Browser:
    """Clicks through the providers' sign-in pages like a user (no JavaScript needed)."""

    def __init__(self, ca_file: str) -> None:
        self.http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file), timeout=10)

    async def sign_in(self, url: str, account: str, *, accept: bool = True) -> str:
        """Follow the flow until the provider redirects to the service; return that URL."""
        response = await self.http.get(url)
        for _ in range(8):
            if response.is_redirect:
                location = urljoin(str(response.request.url), response.headers["location"])
                if location.startswith(SERVICE_URL):
                    return location
                response = await self.http.get(location)
                continue
            assert response.status_code == 200, f"sign-in page {response.status_code}: {response.text[:400]}"
            response = await self._click(response, account, accept)
        raise AssertionError("the sign-in flow did not finish")

    async def _click(self, page: httpx.Response, account: str, accept: bool) -> httpx.Response:
        forms = parse_forms(page.text)
        labels = ("許可", "承諾") if accept else ("キャンセル",)
        for form in forms:
            for name, value, label in form.buttons:
                if value.lower() == account.lower() or label in labels:
                    data = {**form.fields, name: value}
                    return await self.http.post(urljoin(str(page.request.url), form.action), data=data)
        raise AssertionError(f"no button for {account!r} on the page: {page.text[:600]}")

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class Harness:
    client: httpx.AsyncClient
    app: Any
    settings: Settings
    clock: MutableClock
    browser: Browser | None
    emus: Emulators | None
    published: list[OutboxEntry] = field(default_factory=list)

    @property
    def context(self) -> Any:
        return self.app.state.context

    def reconfigure(self, provider: Provider, **overrides: Any) -> None:
        """Swap a provider client for one with other settings (say, a dead token URL)."""
        settings = self.settings.model_copy(update=overrides)
        client = GoogleClient(settings) if provider is Provider.GOOGLE else MicrosoftClient(settings)
        self.context.providers[provider] = client

    # --- accounts ------------------------------------------------------------------------------

    async def create_tenant(self, tenant_id: str, admin_email: str) -> dict[str, Any]:
        response = await self.client.post(
            "/operator/v1/tenants",
            headers={"X-Operator-Key": OPERATOR_KEY},
            json={
                "tenant_id": tenant_id,
                "name": f"Tenant {tenant_id}",
                "admin_name": "Admin",
                "admin_email": admin_email,
                "admin_password": PASSWORD,
            },
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def sign_in(self, tenant_id: str, email: str, password: str = PASSWORD) -> str:
        response = await self.client.post(
            "/auth/v1/sign-in", json={"tenant_id": tenant_id, "email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def employee(self, tenant_id: str, email: str, role: str = "member") -> tuple[str, str]:
        """Register an employee (as the tenant's admin, created on first use); return (id, token)."""
        admin_email = f"admin@{tenant_id}.example"
        tenants = self.app.state.context.repos.tenants
        if await tenants.get(tenant_id) is None:
            await self.create_tenant(tenant_id, admin_email)
        admin_token = await self.sign_in(tenant_id, admin_email)
        if email == admin_email:
            me = await self.client.get("/v1/me", headers=bearer(admin_token))
            return str(me.json()["id"]), admin_token
        response = await self.client.post(
            "/v1/employees",
            headers=bearer(admin_token),
            json={"name": email.split("@")[0], "email": email, "role": role, "password": PASSWORD},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"]), await self.sign_in(tenant_id, email)

    # --- linking -------------------------------------------------------------------------------

    async def authorize(self, provider: str, token: str) -> str:
        response = await self.client.post(
            f"/v1/calendar-connections/{provider}/authorize", headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["authorization_url"])

    async def callback(self, location: str, **headers: str) -> httpx.Response:
        parts = urlsplit(location)
        return await self.client.get(f"{parts.path}?{parts.query}", headers=headers)

    async def link(self, provider: str, token: str, account: str, *, accept: bool = True) -> httpx.Response:
        url = await self.authorize(provider, token)
        assert self.browser is not None
        return await self.callback(await self.browser.sign_in(url, account, accept=accept))

    # --- events --------------------------------------------------------------------------------

    async def events(self) -> list[CloudEvent[Any]]:
        relay = self.app.state.runtime.relay
        await relay.drain()
        return [parse_event(e.payload) for e in self.published]

    async def event_types(self) -> list[str]:
        return [type(e.data).__name__ for e in await self.events()]

    async def service_token(self) -> str:
        response = await self.client.post(
            "/internal/v1/service-token",
            data={
                "grant_type": "client_credentials",
                "client_id": "calendar-google",
                "client_secret": "svc-secret-google",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def harness(emulators: Emulators, clock: MutableClock) -> AsyncIterator[Harness]:
    seed_google(emulators.google_control)
    seed_microsoft(emulators.ms_control)
    published: list[OutboxEntry] = []

    async def publish(entry: OutboxEntry) -> None:
        published.append(entry)

    settings = service_settings(emulators, outbox_poll_seconds=0.05)
    app = create_app(settings, publish=publish, clock=clock)
    browser = Browser(emulators.ca_file)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SERVICE_URL) as client:
            yield Harness(client, app, settings, clock, browser, emulators, published)
    await browser.close()


class FakeProvider:
    """A provider double for unit tests: counts refreshes, can refuse the grant."""

    def __init__(self, provider: Provider, identity: ProviderIdentity) -> None:
        self.provider = provider
        self.identity = identity
        self.refreshes = 0
        self.revoked: list[str] = []
        self.invalid_grant = False
        self.delay = 0.05
        self.ttl = timedelta(hours=1)

    async def begin(self, state: str, login_hint: str | None) -> AuthorizationStart:
        return AuthorizationStart(url=f"https://provider.test/authorize?state={state}", flow={"v": "x"})

    async def finish(self, flow: dict[str, Any], params: dict[str, str]) -> LinkedAccount:
        access = ProviderAccessToken(token="at-link", expires_in=self.ttl.total_seconds())
        return LinkedAccount(identity=self.identity, refresh_token="rt-secret-1", access=access, scopes=["s"])

    async def refresh(self, refresh_token: str) -> ProviderAccessToken:
        self.refreshes += 1
        await asyncio.sleep(self.delay)
        if self.invalid_grant:
            raise InvalidGrant()
        return ProviderAccessToken(token=f"at-{self.refreshes}", expires_in=self.ttl.total_seconds())

    async def revoke(self, refresh_token: str) -> bool:
        self.revoked.append(refresh_token)
        return True

    def admin_consent_url(self, state: str) -> str | None:
        return None


@pytest.fixture
def fake_google() -> FakeProvider:
    identity = ProviderIdentity(
        provider=Provider.GOOGLE, subject="g-1", email="alice@example.com", workspace="example.com"
    )
    return FakeProvider(Provider.GOOGLE, identity)


@pytest.fixture
async def unit_harness(clock: MutableClock, fake_google: FakeProvider) -> AsyncIterator[Harness]:
    """The service with a fake Google and no emulators (fast unit tests)."""
    published: list[OutboxEntry] = []

    async def publish(entry: OutboxEntry) -> None:
        published.append(entry)

    settings = Settings(
        public_base_url=SERVICE_URL,
        kafka_enabled=False,
        operator_key=OPERATOR_KEY,
        service_clients=SERVICE_CLIENT,
        token_encryption_keys=ENC_KEYS,
        token_encryption_active_kid="k1",
        outbox_poll_seconds=0.05,
    )
    app = create_app(settings, publish=publish, clock=clock, providers={Provider.GOOGLE: fake_google})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SERVICE_URL) as client:
            yield Harness(client, app, settings, clock, None, None, published)


async def link_fake(h: Harness, token: str, provider: str = "google") -> httpx.Response:
    url = await h.authorize(provider, token)
    return await h.client.get(
        f"/v1/calendar-connections/{provider}/callback", params={"code": "c", **query_of(url)}
    )


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at RFC 9106 cost (64 MiB, 3 passes) takes 0.1-1.5 s per hash on these machines and
    the suites hash hundreds of times; the tests are about who may sign in, not about argon2.
    Hashes carry their parameters, so verifying works the same. ``production_cost`` opts out."""
    if "production_cost" in request.keywords:
        return
    cheapest = PasswordHasher.from_parameters(argon2_profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheapest)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheapest.hash("not-a-real-password-just-for-timing"))


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read AUTH_* from the environment; a developer's shell must not change the tests.
    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)
