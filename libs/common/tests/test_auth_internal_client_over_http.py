"""The client of auth's internal API against the shared fake auth service over a real socket:
what the server decodes from the client's URLs, and the contract's answers end to end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.fake_auth import FakeAuth, FakeConnection, IssuedToken
from visitor_common.contracts.auth_internal_client import (
    AuthInternalClient,
    AuthRequestRefused,
    ConnectionNotUsable,
)
from visitor_common.events import Provider

CLIENT = ("calendar-google", "s3cret")


class CountingTokens:
    """Provider tokens ``token-<n>``; refreshes are refused once ``refusing`` is set."""

    def __init__(self) -> None:
        self.issued = 0
        self.refusing = False

    def linked(self, connection: FakeConnection) -> None:
        pass

    def grant(self, connection: FakeConnection, *, force_refresh: bool) -> IssuedToken | None:
        if force_refresh and self.refusing:
            return None
        self.issued += 1
        return IssuedToken(f"token-{self.issued}")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAuth]:
    auth = FakeAuth(Provider.GOOGLE, CountingTokens(), service_client=CLIENT)
    with auth.serving():
        yield auth


def client(fake: FakeAuth, secret: str = CLIENT[1]) -> AuthInternalClient:
    return AuthInternalClient(fake.url, CLIENT[0], secret, timeout=5.0)


@pytest.mark.parametrize("connection_id", ["a?b=c", "..", ".", "x#y", "50%"])
async def test_ids_reach_the_server_as_they_are(fake: FakeAuth, connection_id: str) -> None:
    fake.link("odd@example.com", connection_id=connection_id, tenant_id="t?1")
    auth = client(fake)
    try:
        found = await auth.connection(connection_id)
        assert found is not None and found.connection_id == connection_id
        active = await auth.active_connection("t?1", "emp-odd@example.com")
        assert active is not None and active.connection_id == connection_id
        assert (await auth.access_token(connection_id)).connection_id == connection_id
    finally:
        await auth.aclose()


async def test_tokens_refresh_and_reauth_over_http(fake: FakeAuth) -> None:
    info = fake.link("host@example.com")
    auth = client(fake)
    try:
        first = await auth.access_token(info.connection_id)
        assert (await auth.access_token(info.connection_id)) == first  # cached
        refreshed = await auth.access_token(info.connection_id, force_refresh=True)
        assert refreshed.access_token != first.access_token and fake.forced_refreshes >= 1
        assert isinstance(fake.tokens, CountingTokens)
        fake.tokens.refusing = True
        with pytest.raises(ConnectionNotUsable) as caught:
            await auth.access_token(info.connection_id, force_refresh=True)
        assert caught.value.reauth_required
        fake.tokens.refusing = False
    finally:
        await auth.aclose()


async def test_a_relinked_employees_old_connection_is_inactive(fake: FakeAuth) -> None:
    old = fake.link("mover@example.com")
    new = fake.link("mover@example.com")
    auth = client(fake)
    try:
        with pytest.raises(ConnectionNotUsable) as caught:
            await auth.access_token(old.connection_id)
        assert caught.value.code == "connection_inactive" and not caught.value.reauth_required
        active = await auth.active_connection(new.tenant_id, new.employee_id)
        assert active is not None and active.connection_id == new.connection_id
        assert await auth.connection("never-linked") is None
    finally:
        await auth.aclose()


async def test_a_wrong_service_secret_is_refused(fake: FakeAuth) -> None:
    auth = client(fake, secret="wrong")
    try:
        with pytest.raises(AuthRequestRefused) as caught:
            await auth.connection("any")
        assert caught.value.status == 401
    finally:
        await auth.aclose()
