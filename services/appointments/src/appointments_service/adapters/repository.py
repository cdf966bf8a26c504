"""Appointments on the shared document store.

Two collections: ``appointments`` (the aggregate, its guest-link hash, its reception code and
its embedded outbox — one document write per change) and ``appointment_sync`` (the latest
accepted connector status, written by the sync-status consumer, so status updates never race
the aggregate's version or its outbox).
"""

from __future__ import annotations

from typing import Any

from appointments_service.domain.model import Appointment, SyncReport
from visitor_common.persistence import (
    DocumentCollection,
    DocumentStore,
    DuplicateKeyError,
    UniqueIndex,
    VersionConflictError,
)

APPOINTMENTS = "appointments"
SYNC = "appointment_sync"
RECEPTION_CODE_INDEX = "reception_code_active_per_tenant"

APPOINTMENT_INDEXES = (
    # 6-digit codes are unique among a tenant's active (confirmed, not yet over) appointments.
    UniqueIndex(RECEPTION_CODE_INDEX, ("tenant_id", "reception.code"), partial={"reception.active": True}),
)
APPOINTMENT_LOOKUPS = ("tenant_id", "guest_link.token_hash", "host_employee_id", "held_connection_id")
# Top-level copy of held_calendar_change.connection_id: an equality lookup both adapters index.
HELD_CONNECTION = "held_connection_id"


class ReceptionCodeTaken(Exception):
    """Another active appointment of the tenant holds this reception code."""


class Conflict(Exception):
    """The stored document changed since it was read (compare-and-set failed)."""


def _to_doc(appointment: Appointment) -> dict[str, Any]:
    """The aggregate's document, without its outbox (which only ever grows by appends)."""
    doc = appointment.model_dump(mode="json")
    doc["_id"] = appointment.appointment_id
    held = appointment.held_calendar_change
    doc[HELD_CONNECTION] = held.connection_id if held is not None else None
    return doc


def _from_doc(doc: dict[str, Any]) -> Appointment:
    body = {k: v for k, v in doc.items() if k not in {"_id", "outbox", HELD_CONNECTION}}
    return Appointment.model_validate(body)


class AppointmentRepository:
    def __init__(self, store: DocumentStore) -> None:
        self.appointments: DocumentCollection = store.collection(APPOINTMENTS)
        self.sync: DocumentCollection = store.collection(SYNC)

    async def ensure_indexes(self) -> None:
        await self.appointments.ensure_indexes(APPOINTMENT_INDEXES, APPOINTMENT_LOOKUPS)
        await self.sync.ensure_indexes((), ("tenant_id",))

    async def get(
        self, tenant_id: str, appointment_id: str
    ) -> tuple[Appointment, list[dict[str, Any]]] | None:
        """The appointment and its pending outbox, only if it belongs to ``tenant_id``."""
        loaded = await self.get_any(appointment_id)
        if loaded is None or loaded[0].tenant_id != tenant_id:
            return None
        return loaded

    async def get_any(self, appointment_id: str) -> tuple[Appointment, list[dict[str, Any]]] | None:
        doc = await self.appointments.get(appointment_id)
        if doc is None:
            return None
        return _from_doc(doc), list(doc.get("outbox", []))

    async def by_guest_token_hash(self, token_hash: str) -> tuple[Appointment, list[dict[str, Any]]] | None:
        docs = await self.appointments.find({"guest_link.token_hash": token_hash}, limit=1)
        return (_from_doc(docs[0]), list(docs[0].get("outbox", []))) if docs else None

    async def for_host(self, tenant_id: str, employee_id: str, *, limit: int) -> list[Appointment]:
        docs = await self.appointments.find(
            {"tenant_id": tenant_id, "host_employee_id": employee_id}, limit=limit, sort="-created_at"
        )
        return [_from_doc(d) for d in docs]

    async def holding_for_connection(self, tenant_id: str, connection_id: str) -> list[Appointment]:
        """Appointments whose calendar side waits for ``connection_id`` (R8, decision 0004)."""
        docs = await self.appointments.find({"tenant_id": tenant_id, HELD_CONNECTION: connection_id})
        return [_from_doc(d) for d in docs]

    async def active_code_holder(self, tenant_id: str, code: str) -> Appointment | None:
        docs = await self.appointments.find(
            {"tenant_id": tenant_id, "reception.code": code, "reception.active": True}, limit=1
        )
        return _from_doc(docs[0]) if docs else None

    async def add(self, appointment: Appointment, outbox: list[dict[str, Any]]) -> None:
        await self.appointments.insert({**_to_doc(appointment), "outbox": outbox})

    async def save(
        self, appointment: Appointment, new_entries: list[dict[str, Any]], *, expected_version: int
    ) -> None:
        """Store the changed aggregate (its ``version`` one past ``expected_version``) if the
        stored one is still at ``expected_version``, and append the change's ``new_entries`` to
        the stored outbox — in one conditional write. The outbox the change read is never
        written back: the relay may have published and removed some of it meanwhile.

        Raises ``Conflict`` on a lost race and ``ReceptionCodeTaken`` on a code collision.
        """
        try:
            await self.appointments.replace(
                _to_doc(appointment), expected_version=expected_version, append_outbox=new_entries
            )
        except VersionConflictError as error:
            raise Conflict(appointment.appointment_id) from error
        except DuplicateKeyError as error:
            if error.index == RECEPTION_CODE_INDEX or "reception" in error.index:
                raise ReceptionCodeTaken(appointment.appointment_id) from error
            raise

    async def get_sync(self, appointment_id: str) -> tuple[SyncReport | None, int]:
        doc = await self.sync.get(appointment_id)
        if doc is None:
            return None, 0
        return SyncReport.model_validate(doc["report"]), int(doc["version"])

    async def put_sync(self, appointment: Appointment, report: SyncReport, *, expected_version: int) -> None:
        """Store the accepted report; raises ``Conflict`` when another writer got there first."""
        doc = {
            "_id": appointment.appointment_id,
            "tenant_id": appointment.tenant_id,
            "version": expected_version + 1,
            "report": report.model_dump(mode="json"),
        }
        try:
            if expected_version == 0:
                await self.sync.insert(doc)
            else:
                await self.sync.replace(doc, expected_version=expected_version)
        except (VersionConflictError, DuplicateKeyError) as error:
            raise Conflict(appointment.appointment_id) from error
