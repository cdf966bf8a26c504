"""Repository rules on both adapters: in memory always, MongoDB when MONGODB_URI is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from auth_service.adapters.repositories import Repositories
from auth_service.domain import errors
from auth_service.domain.models import CalendarConnection, Employee, LinkState, Role
from visitor_common.events import ConnectionStatus, Provider
from visitor_common.persistence import (
    DocumentStore,
    DuplicateKeyError,
    InMemoryDocumentStore,
    VersionConflictError,
)

NOW = datetime.now(UTC)


@pytest.fixture(params=["memory", pytest.param("mongodb", marks=pytest.mark.mongodb)])
async def repos(request: pytest.FixtureRequest) -> AsyncIterator[Repositories]:
    store: DocumentStore
    if request.param == "memory":
        store = InMemoryDocumentStore()
    else:
        uri = os.environ.get("MONGODB_URI")
        if not uri:
            pytest.skip("MONGODB_URI is not set (no MongoDB server on this machine)")
        from visitor_common.persistence.mongo import MongoDocumentStore

        store = MongoDocumentStore(uri, f"auth_test_{uuid.uuid4().hex[:8]}")
    repositories = Repositories(store)
    await repositories.ensure_indexes()
    yield repositories
    await store.close()


def _employee(email: str) -> Employee:
    return Employee(
        tenant_id="t", name="n", email=email, email_key=email.lower(), role=Role.MEMBER, created_at=NOW
    )


def _connection(status: ConnectionStatus = ConnectionStatus.ACTIVE) -> CalendarConnection:
    return CalendarConnection(
        tenant_id="t",
        employee_id="e",
        provider=Provider.GOOGLE,
        account_email="a@example.com",
        account_subject=uuid.uuid4().hex,
        status=status,
        linked_at=NOW,
        updated_at=NOW,
    )


async def test_email_unique_per_tenant(repos: Repositories) -> None:
    await repos.employees.add(_employee("a@example.com"))
    with pytest.raises(errors.AuthServiceError) as taken:
        await repos.employees.add(_employee("a@example.com"))
    assert taken.value.code == "employee_email_taken"


async def test_one_active_connection_per_employee(repos: Repositories) -> None:
    await repos.connections.insert(_connection())
    await repos.connections.insert(_connection(ConnectionStatus.INACTIVE))  # kept ones do not count
    with pytest.raises(DuplicateKeyError):
        await repos.connections.insert(_connection())


async def test_state_consumption_is_compare_and_set(repos: Repositories) -> None:
    state = LinkState.start("h1", _employee("a@example.com"), Provider.GOOGLE, NOW, timedelta(minutes=10), {})
    await repos.link_states.insert(state)
    first = await repos.link_states.get("h1")
    second = await repos.link_states.get("h1")
    assert first is not None and second is not None
    first.consume(Provider.GOOGLE, NOW)
    second.consume(Provider.GOOGLE, NOW)
    await repos.link_states.save(first)
    with pytest.raises(VersionConflictError):
        await repos.link_states.save(second)


async def test_events_land_in_the_documents_outbox(repos: Repositories) -> None:
    from auth_service.service_layer import events

    connection = _connection()
    await repos.connections.insert(connection, [events.linked(connection, "/services/auth")])
    pending = await repos.connections.collection.find_with_outbox(limit=10)
    assert [d["_id"] for d in pending] == [connection.id]
    assert pending[0]["outbox"][0]["key"] == connection.id
