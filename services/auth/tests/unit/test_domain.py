"""Pure rules: R1/R7 at link time, single-use expiring state, connection life cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth_service.domain import errors
from auth_service.domain.models import (
    MICROSOFT_CONSUMER_TENANT,
    CalendarConnection,
    Employee,
    EncryptedSecret,
    LinkState,
    ProviderIdentity,
    Role,
    check_linkable,
)
from visitor_common.events import ConnectionStatus, Provider

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def employee(email: str = "alice@example.com") -> Employee:
    return Employee(
        tenant_id="t1", name="Alice", email=email, email_key=email.lower(), role=Role.MEMBER, created_at=NOW
    )


def identity(provider: Provider, email: str, workspace: str | None) -> ProviderIdentity:
    return ProviderIdentity(provider=provider, subject="s1", email=email, workspace=workspace)


@pytest.mark.parametrize(
    ("provider", "workspace"),
    [(Provider.GOOGLE, None), (Provider.OUTLOOK, MICROSOFT_CONSUMER_TENANT), (Provider.OUTLOOK, None)],
)
def test_personal_accounts_are_refused(provider: Provider, workspace: str | None) -> None:
    with pytest.raises(errors.AuthServiceError) as refused:
        check_linkable(identity(provider, "alice@example.com", workspace), employee())
    assert refused.value.code == "personal_account"
    assert refused.value.status == 403


def test_email_mismatch_names_both() -> None:
    with pytest.raises(errors.AuthServiceError) as refused:
        check_linkable(identity(Provider.GOOGLE, "bob@example.com", "example.com"), employee())
    assert refused.value.code == "email_mismatch"
    assert "alice@example.com" in refused.value.message and "bob@example.com" in refused.value.message


def test_work_account_with_same_email_is_linkable() -> None:
    check_linkable(identity(Provider.OUTLOOK, "ALICE@example.com", "tenant-id"), employee())


def _state() -> LinkState:
    return LinkState.start("h", employee(), Provider.GOOGLE, NOW, timedelta(minutes=10), {"v": "secret"})


def test_state_is_single_use_and_forgets_its_verifier() -> None:
    state = _state()
    state.consume(Provider.GOOGLE, NOW + timedelta(minutes=9))
    assert state.flow == {}
    with pytest.raises(errors.AuthServiceError) as replay:
        state.consume(Provider.GOOGLE, NOW)
    assert replay.value.code == "link_state_used"


def test_state_expires_after_ten_minutes() -> None:
    with pytest.raises(errors.AuthServiceError) as expired:
        _state().consume(Provider.GOOGLE, NOW + timedelta(minutes=10))
    assert expired.value.code == "link_state_expired"


def test_state_belongs_to_one_provider() -> None:
    with pytest.raises(errors.AuthServiceError) as wrong:
        _state().consume(Provider.OUTLOOK, NOW)
    assert wrong.value.code == "link_state_unknown"


def _connection() -> CalendarConnection:
    return CalendarConnection(
        tenant_id="t1",
        employee_id="e1",
        provider=Provider.GOOGLE,
        account_email="alice@example.com",
        account_subject="s1",
        refresh_token=EncryptedSecret(kid="k", nonce="n", ciphertext="c"),
        linked_at=NOW,
        updated_at=NOW,
    )


def test_connection_life_cycle() -> None:
    connection = _connection()
    assert connection.room_selection_required
    connection.choose_room_group("hq", NOW)
    assert not connection.room_selection_required
    connection.ensure_usable()
    connection.deactivate("other", NOW)
    assert connection.status is ConnectionStatus.INACTIVE
    with pytest.raises(errors.AuthServiceError) as inactive:
        connection.ensure_usable()
    assert inactive.value.code == "connection_inactive"


def test_reauth_required_drops_the_token() -> None:
    connection = _connection()
    connection.require_reauth(NOW)
    assert connection.refresh_token is None
    with pytest.raises(errors.AuthServiceError) as reauth:
        connection.ensure_usable()
    assert reauth.value.code == "reauth_required"
    assert reauth.value.status == 409
