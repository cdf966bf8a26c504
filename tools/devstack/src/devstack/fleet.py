"""Many linked calendars on a running local stack, for the drift bench and its test (issue 18).

Two ways, both ending in real grants at the emulators and real ``linked`` events on the broker:

- :func:`link_hosts` — the real link path, host by host: auth's ``authorize``, the emulator's
  sign-in and consent pages, auth's callback (code exchange, id token, sealed refresh token,
  the ``linked`` event through auth's outbox). Measured on the 2-core development machine under
  load: 3–4 links/s, so 2,000 would take ~10 minutes; the integration test uses it.
- :func:`seed_hosts` — the bench's bulk path: the grant is minted at the emulator's control API
  (``POST /__emulator/tokens``: the token endpoint's own answer, refresh token included, as if
  the host had consented) and the connection is written into auth's own store by auth's own
  code (``ConnectionRepository.insert`` with the ``linked`` event in its outbox, the refresh
  token sealed with the stack's key), where auth's running outbox relay finds and publishes it.
  Only the local stack offers either step: the emulators' control API, and auth's store file
  and encryption key under the state dir. Auth first refreshes the access token at the emulator
  when a connector asks for one, as after any restart of auth. Each host is one job (provider
  user, employee, grant, connection), 16 at once: 2,000 in about 2.5 minutes at load 10 on the
  2-core machine.

Both create the hosts without a password through the demo administrator (auth's registration
allows that) and, for the link path, sign each host's access token with the stack's own signing
key (``Secrets.signing_key_pem``, the key auth signs with) with the claims auth's sign-in puts
in it, instead of an argon2 sign-in per host. The hosts are users added to the emulators' demo
directories: ``host-NNNN@example.com`` at Google, ``host-NNNN@contoso.example`` at Microsoft.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import jwt

from auth_service.adapters.crypto import TokenCipher
from auth_service.adapters.repositories import Repositories
from auth_service.adapters.signing import SigningKey
from auth_service.domain.models import CalendarConnection, new_id
from auth_service.service_layer import events
from auth_service.settings import Settings as AuthSettings
from devstack.testing import RunningStack
from devstack.walkthrough import Employee, click_through_consent
from provider_emulators.microsoft.testing import MS_CONTOSO_ID
from visitor_common.events import Provider
from visitor_common.persistence.sqlite import SqliteDocumentStore
from visitor_common.settings import ServiceSettings

DOMAINS = {"google": "example.com", "microsoft": "contoso.example"}
CONCURRENCY = 16
SEAL_KID = "local-1"  # the stack's TOKEN_ENCRYPTION_ACTIVE_KID (devstack.stack)
AUTH_SOURCE = "/services/auth"  # auth's CloudEvents source (ServiceContext.source)
T = TypeVar("T")


@dataclass(frozen=True)
class LinkedHost:
    provider: str
    email: str
    employee_id: str
    connection_id: str


def host_email(provider: str, n: int) -> str:
    return f"host-{n:04}@{DOMAINS[provider]}"


async def _bounded(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int = CONCURRENCY) -> list[T]:
    slots = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with slots:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


_DROPPED = (httpx.ReadError, httpx.RemoteProtocolError)  # a kept-alive connection closed under us


def _retrying(call: Callable[[], T], attempts: int = 3) -> T:
    """A control-API call, again when the emulator closed the kept-alive connection under it."""
    for attempt in range(attempts):
        try:
            return call()
        except _DROPPED:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _add_provider_user(running: RunningStack, provider: str, email: str) -> None:
    name = email.split("@")[0]
    try:
        if provider == "google":
            _retrying(lambda: running.google.add_user(email, name=name))
        else:
            _retrying(lambda: running.microsoft.add_user(email, name, tenant=MS_CONTOSO_ID))
    except httpx.HTTPStatusError as error:  # a dropped first attempt got through after all
        if error.response.status_code != 409:
            raise


def _add_provider_users(running: RunningStack, provider: str, emails: list[str]) -> None:
    for email in emails:
        _add_provider_user(running, provider, email)


async def register_host(admin: Employee, email: str) -> str:
    """Register ``email`` as a member without a password; its employee id. A kept-alive
    connection the server closed under the request is retried; if the first attempt got through
    after all (409), the employee is looked up."""
    body = {"name": email.split("@")[0], "email": email, "role": "member"}
    for attempt in range(3):
        try:
            created = await admin.auth.post("/v1/employees", json=body)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if attempt == 2:
                raise
            continue
        if created.status_code == 409 and attempt:
            listed = (await admin.auth.get("/v1/employees")).json()
            return str(next(e["id"] for e in listed if e["email"] == email))
        created.raise_for_status()
        return str(created.json()["id"])
    raise AssertionError("unreachable")


class _Minter:
    """Employee access tokens signed with the stack's key, with the claims of auth's sign-in."""

    def __init__(self, running: RunningStack) -> None:
        self._key = SigningKey.from_pem(running.stack.secrets.signing_key_pem)
        defaults = ServiceSettings.model_fields
        self._issuer = str(defaults["jwt_issuer"].default)
        self._audience = str(defaults["jwt_audience"].default)

    def token(self, tenant_id: str, employee_id: str, email: str) -> str:
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": employee_id,
            "tid": tenant_id,
            "role": "member",
            "email": email,
            "typ": "employee",
        }
        return self._key.sign(claims, now=datetime.now(UTC), ttl=timedelta(hours=1))


async def link_hosts(
    running: RunningStack, per_provider: dict[str, int], say: Callable[[str], None] = print
) -> list[LinkedHost]:
    """Create ``per_provider[p]`` hosts per provider and link each one's calendar."""
    emails = {p: [host_email(p, n) for n in range(count)] for p, count in per_provider.items()}
    for provider, addresses in emails.items():
        await asyncio.to_thread(_add_provider_users, running, provider, addresses)
    admin = await running.sign_in("google")  # the demo administrator
    linker = _Linker(running, admin)
    try:
        jobs = [
            functools.partial(linker.link, provider, email)
            for provider, addresses in emails.items()
            for email in addresses
        ]
        started = time.monotonic()
        linked = await _bounded(jobs)
        say(f"  linked {len(linked)} calendars in {time.monotonic() - started:.0f} s")
        return linked
    finally:
        await linker.close()
        await admin.close()


class _Linker:
    """One host's link at a time, on clients shared between the hosts (a TLS context costs
    milliseconds of CPU to build; the hosts' tokens go in each request's header)."""

    def __init__(self, running: RunningStack, admin: Employee) -> None:
        self._running = running
        self._admin = admin
        self._minter = _Minter(running)
        self._auth = httpx.AsyncClient(base_url=running.urls.auth, timeout=60)
        self._tls = ssl.create_default_context(cafile=running.urls.ca_file)

    async def close(self) -> None:
        await self._auth.aclose()

    async def link(self, provider: str, email: str) -> LinkedHost:
        employee_id = await register_host(self._admin, email)
        token = self._minter.token(self._running.demo.tenant_id, employee_id, email)
        bearer = {"Authorization": f"Bearer {token}"}
        started = await self._auth.post(f"/v1/calendar-connections/{provider}/authorize", headers=bearer)
        started.raise_for_status()
        callback = await click_through_consent(
            started.json()["authorization_url"], email, self._running.urls, verify=self._tls
        )
        done = await self._auth.get(callback, headers={"Accept": "application/json"})
        done.raise_for_status()
        connection_id = str(done.json()["connection"]["connection_id"])
        return LinkedHost(provider, email, employee_id, connection_id)


# ---------------------------------------------------------------- the bench's bulk path


async def seed_hosts(
    running: RunningStack, per_provider: dict[str, int], say: Callable[[str], None] = print
) -> list[LinkedHost]:
    """Like :func:`link_hosts`, through the emulators' control API and auth's own store."""
    if running.stack.config.overrides.get("auth", {}).get("MONGODB_URI") or os.environ.get("MONGODB_URI"):
        raise RuntimeError("seed_hosts writes auth's SQLite store; unset MONGODB_URI")
    started = time.monotonic()
    emails = {p: [host_email(p, n) for n in range(count)] for p, count in per_provider.items()}
    admin = await running.sign_in("google")
    store = SqliteDocumentStore(running.stack.sqlite_path("auth"))
    seeder = _Seeder(running, admin, Repositories(store))
    try:
        # both providers at once, so both connectors' registrations progress together
        pairs = itertools.zip_longest(*([(p, e) for e in addresses] for p, addresses in emails.items()))
        jobs = [functools.partial(seeder.seed, *pair) for pair in itertools.chain(*pairs) if pair]
        seeded = await _bounded(jobs)
    finally:
        await store.close()
        await admin.close()
    say(f"  seeded {len(seeded)} linked calendars in {time.monotonic() - started:.0f} s")
    return seeded


class _Seeder:
    def __init__(self, running: RunningStack, admin: Employee, repos: Repositories) -> None:
        self._running = running
        self._admin = admin
        self._repos = repos
        self._cipher = TokenCipher.from_config({SEAL_KID: running.stack.secrets.encryption_key}, SEAL_KID)
        defaults = AuthSettings.model_fields
        google_scopes = defaults["google_scopes"].default_factory  # type: ignore[misc]
        microsoft_scopes = defaults["microsoft_scopes"].default_factory  # type: ignore[misc]
        self._scopes = {
            "google": list(google_scopes()),
            "microsoft": ["openid", "profile", "email", "offline_access", *microsoft_scopes()],
        }

    def _mint(self, provider: str, email: str) -> dict[str, Any]:
        apps = self._running.stack.apps
        assert apps is not None
        if provider == "google":
            return self._running.google.mint_token(email, apps.google_client_id, self._scopes[provider])
        return self._running.microsoft.mint_tokens(email, apps.microsoft_client_id, self._scopes[provider])

    async def seed(self, provider: str, email: str) -> LinkedHost:
        # Each host in one job (the provider's user, the employee, the grant, the connection),
        # so the jobs overlap instead of adding every user first, one call after another.
        await asyncio.to_thread(_add_provider_user, self._running, provider, email)
        employee_id = await register_host(self._admin, email)
        minted = await asyncio.to_thread(_retrying, lambda: self._mint(provider, email))
        claims = jwt.decode(minted["id_token"], options={"verify_signature": False})
        connection_id = new_id()
        now = datetime.now(UTC)
        connection = CalendarConnection(
            _id=connection_id,
            tenant_id=self._running.demo.tenant_id,
            employee_id=employee_id,
            provider=Provider.GOOGLE if provider == "google" else Provider.OUTLOOK,
            account_email=email,
            # what auth's provider adapters take from the id token
            account_subject=str(claims.get("oid") or claims["sub"]),
            account_workspace=claims.get("hd") if provider == "google" else str(claims["tid"]),
            refresh_token=self._cipher.seal(str(minted["refresh_token"]), context=connection_id),
            scopes=str(minted.get("scope", "")).split(),
            linked_at=now,
            updated_at=now,
        )
        await self._repos.connections.insert(connection, [events.linked(connection, AUTH_SOURCE)])
        return LinkedHost(provider, email, employee_id, connection_id)
