"""Repositories on the shared document store (MongoDB or in memory).

Every write is a compare-and-set on ``version`` that advances it by one; a connection's events
are appended to its own document's ``outbox`` in the same write (``visitor_common.outbox``): a
save never writes back the outbox it read, which the relay may have emptied meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from auth_service.domain import errors
from auth_service.domain.models import (
    CalendarConnection,
    Employee,
    LinkState,
    ReceptionDevice,
    RefreshSession,
    Tenant,
    _Aggregate,
)
from visitor_common.events import CloudEvent, ConnectionStatus
from visitor_common.outbox import outbox_entries
from visitor_common.persistence import (
    DocumentCollection,
    DocumentStore,
    DuplicateKeyError,
    UniqueIndex,
    VersionConflictError,
)
from visitor_common.topics import CONNECTIONS

A = TypeVar("A", bound=_Aggregate)

TENANTS = "tenants"
EMPLOYEES = "employees"
CONNECTIONS_COLLECTION = "calendar_connections"
LINK_STATES = "link_states"
REFRESH_SESSIONS = "refresh_sessions"
RECEPTION_DEVICES = "reception_devices"

EMPLOYEE_EMAIL_INDEX = "employee_email_per_tenant"
ONE_ACTIVE_CONNECTION_INDEX = "one_active_connection_per_employee"
DEVICE_CLIENT_ID_INDEX = "reception_device_client_id"


def to_document(aggregate: _Aggregate) -> dict[str, Any]:
    return aggregate.model_dump(mode="json", by_alias=True)


def _changed_fields(aggregate: _Aggregate) -> dict[str, Any]:
    """The document a save writes: everything but the outbox (appended to, never rewritten)."""
    return aggregate.model_dump(mode="json", by_alias=True, exclude={"outbox"})


class Repository(Generic[A]):
    model: type[A]

    def __init__(self, collection: DocumentCollection) -> None:
        self.collection = collection

    def _load(self, doc: dict[str, Any] | None) -> A | None:
        return None if doc is None else self.model.model_validate(doc)

    async def get(self, aggregate_id: str) -> A | None:
        return self._load(await self.collection.get(aggregate_id))

    async def find(self, filter: dict[str, Any], *, sort: str | None = None) -> list[A]:
        return [self.model.model_validate(d) for d in await self.collection.find(filter, sort=sort)]

    async def insert(self, aggregate: A, events: Sequence[CloudEvent[Any]] = ()) -> None:
        aggregate.outbox = [*aggregate.outbox, *outbox_entries((CONNECTIONS, e) for e in events)]
        await self.collection.insert(to_document(aggregate))

    async def save(self, aggregate: A, events: Sequence[CloudEvent[Any]] = ()) -> None:
        """Compare-and-set write; raises ``VersionConflictError`` when someone wrote first."""
        expected = aggregate.version
        entries = outbox_entries((CONNECTIONS, e) for e in events)
        aggregate.version = expected + 1
        try:
            await self.collection.replace(
                _changed_fields(aggregate), expected_version=expected, append_outbox=entries
            )
        except (VersionConflictError, DuplicateKeyError):
            aggregate.version = expected
            raise
        aggregate.outbox = [*aggregate.outbox, *entries]


class TenantRepository(Repository[Tenant]):
    model = Tenant


class EmployeeRepository(Repository[Employee]):
    model = Employee

    async def by_email(self, tenant_id: str, email_key: str) -> Employee | None:
        found = await self.find({"tenant_id": tenant_id, "email_key": email_key})
        return found[0] if found else None

    async def in_tenant(self, tenant_id: str, employee_id: str) -> Employee | None:
        employee = await self.get(employee_id)
        return employee if employee is not None and employee.tenant_id == tenant_id else None

    async def add(self, employee: Employee) -> None:
        try:
            await self.insert(employee)
        except DuplicateKeyError as error:
            raise errors.employee_email_taken(employee.email) from error


class ConnectionRepository(Repository[CalendarConnection]):
    model = CalendarConnection

    async def active_for(self, tenant_id: str, employee_id: str) -> CalendarConnection | None:
        found = await self.find(
            {"tenant_id": tenant_id, "employee_id": employee_id, "status": ConnectionStatus.ACTIVE.value}
        )
        return found[0] if found else None

    async def current_for(self, tenant_id: str, employee_id: str) -> CalendarConnection | None:
        """The active connection, or else one waiting to be re-authorised (the user must see it)."""
        active = await self.active_for(tenant_id, employee_id)
        if active is not None:
            return active
        waiting = await self.find(
            {
                "tenant_id": tenant_id,
                "employee_id": employee_id,
                "status": ConnectionStatus.REAUTH_REQUIRED.value,
            },
            sort="-updated_at",
        )
        return waiting[0] if waiting else None

    async def of_employee(self, tenant_id: str, employee_id: str) -> list[CalendarConnection]:
        return await self.find({"tenant_id": tenant_id, "employee_id": employee_id}, sort="linked_at")


class LinkStateRepository(Repository[LinkState]):
    model = LinkState


class RefreshSessionRepository(Repository[RefreshSession]):
    model = RefreshSession


class ReceptionDeviceRepository(Repository[ReceptionDevice]):
    model = ReceptionDevice

    async def in_tenant(self, tenant_id: str, device_id: str) -> ReceptionDevice | None:
        device = await self.get(device_id)
        return device if device is not None and device.tenant_id == tenant_id else None

    async def by_client_id(self, client_id: str) -> ReceptionDevice | None:
        found = await self.find({"client_id": client_id})
        return found[0] if found else None

    async def of_tenant(self, tenant_id: str) -> list[ReceptionDevice]:
        return await self.find({"tenant_id": tenant_id}, sort="created_at")


class Repositories:
    """Every repository of the service on one store."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.tenants = TenantRepository(store.collection(TENANTS))
        self.employees = EmployeeRepository(store.collection(EMPLOYEES))
        self.connections = ConnectionRepository(store.collection(CONNECTIONS_COLLECTION))
        self.link_states = LinkStateRepository(store.collection(LINK_STATES))
        self.refresh_sessions = RefreshSessionRepository(store.collection(REFRESH_SESSIONS))
        self.reception_devices = ReceptionDeviceRepository(store.collection(RECEPTION_DEVICES))

    async def ensure_indexes(self) -> None:
        await self.employees.collection.ensure_indexes(
            [UniqueIndex(EMPLOYEE_EMAIL_INDEX, ("tenant_id", "email_key"))], lookup=["tenant_id"]
        )
        await self.connections.collection.ensure_indexes(
            [
                UniqueIndex(
                    ONE_ACTIVE_CONNECTION_INDEX,
                    ("tenant_id", "employee_id"),
                    partial={"status": ConnectionStatus.ACTIVE.value},
                )
            ],
            lookup=["employee_id"],
        )
        await self.link_states.collection.ensure_indexes([], lookup=["expires_at"])
        await self.refresh_sessions.collection.ensure_indexes([], lookup=["employee_id", "family_id"])
        await self.reception_devices.collection.ensure_indexes(
            [UniqueIndex(DEVICE_CLIENT_ID_INDEX, ("client_id",))], lookup=["tenant_id"]
        )

    @property
    def outbox_collections(self) -> list[DocumentCollection]:
        return [self.connections.collection]
