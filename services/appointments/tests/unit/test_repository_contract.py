"""The repository on both adapters: in memory always, MongoDB when ``MONGODB_URI`` is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from appointments_service.adapters.repository import AppointmentRepository, Conflict, ReceptionCodeTaken
from appointments_service.domain.model import Appointment, Availability, AvailabilityState, Reception
from visitor_common.events import AppointmentStatus, CandidateSlot, Guest
from visitor_common.persistence import DocumentStore, InMemoryDocumentStore

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def mongo_store() -> DocumentStore:
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        pytest.skip("MongoDB not available: set MONGODB_URI to run the MongoDB adapter contract")
    from visitor_common.persistence.mongo import MongoDocumentStore

    return MongoDocumentStore(uri, f"appointments_test_{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["memory", pytest.param("mongodb", marks=pytest.mark.mongodb)])
async def repo(request: pytest.FixtureRequest) -> AsyncIterator[AppointmentRepository]:
    store = InMemoryDocumentStore() if request.param == "memory" else mongo_store()
    repository = AppointmentRepository(store)
    await repository.ensure_indexes()
    yield repository
    await store.close()


def appointment(tenant: str = "t1", code: str | None = None) -> Appointment:
    start = NOW + timedelta(days=2)
    return Appointment(
        appointment_id=f"apt-{uuid.uuid4().hex}",
        tenant_id=tenant,
        version=1,
        host_employee_id="e1",
        host_email="host@example.co.jp",
        title="Visit",
        guests=(Guest(name="G", email="g@example.com"),),
        duration_minutes=60,
        candidates=(CandidateSlot(slot_id="s1", start=start, end=start + timedelta(hours=1)),),
        availability=Availability(state=AvailabilityState.NOT_CHECKED),
        reception=Reception(code=code, issued_at=NOW) if code else None,
        status=AppointmentStatus.CONFIRMED if code else AppointmentStatus.PROPOSED,
        confirmed_slot_id="s1" if code else None,
        created_at=NOW,
        updated_at=NOW,
    )


async def test_round_trip_and_tenant_scoping(repo: AppointmentRepository) -> None:
    stored = appointment()
    await repo.add(stored, [{"id": "e1:t", "topic": "t", "key": "k", "payload": "{}"}])
    loaded = await repo.get("t1", stored.appointment_id)
    assert loaded is not None and loaded[0] == stored and len(loaded[1]) == 1
    assert await repo.get("t2", stored.appointment_id) is None


async def test_compare_and_set(repo: AppointmentRepository) -> None:
    stored = appointment()
    await repo.add(stored, [])
    await repo.save(stored.model_copy(update={"version": 2, "title": "B"}), [], expected_version=1)
    with pytest.raises(Conflict):
        await repo.save(stored.model_copy(update={"version": 2, "title": "C"}), [], expected_version=1)


async def test_active_reception_codes_are_unique_per_tenant(repo: AppointmentRepository) -> None:
    await repo.add(appointment(code="123456"), [])
    await repo.add(appointment(tenant="t2", code="123456"), [])
    second = appointment()
    await repo.add(second, [])
    confirmed = second.model_copy(update={"version": 2, "reception": Reception(code="123456", issued_at=NOW)})
    with pytest.raises(ReceptionCodeTaken):
        await repo.save(confirmed, [], expected_version=1)
    inactive = Reception(code="123456", issued_at=NOW, active=False)
    await repo.save(confirmed.model_copy(update={"reception": inactive}), [], expected_version=1)
