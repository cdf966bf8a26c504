"""The event contract: envelopes round-trip, types are versioned, unknown or malformed
messages are rejected (they become dead letters, never half-parsed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from visitor_common.events import (
    EVENT_REGISTRY,
    AppointmentCreated,
    AppointmentSnapshot,
    AppointmentStatus,
    CalendarBinding,
    CalendarSyncStatusReported,
    CandidateSlot,
    Provider,
    SyncState,
    UnknownEventType,
    new_event,
    parse_event,
    serialize_event,
)
from visitor_common.topics import (
    GOOGLE_APPOINTMENTS,
    OUTLOOK_APPOINTMENTS,
    all_topics,
    appointments_topic_for,
    dead_letter_topic,
)

START = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)


def snapshot(provider: Provider | None = Provider.GOOGLE) -> AppointmentSnapshot:
    binding = (
        CalendarBinding(provider=provider, connection_id="c1", account_email="host@example.co.jp")
        if provider
        else None
    )
    return AppointmentSnapshot(
        appointment_id="a1",
        tenant_id="t1",
        version=1,
        host_employee_id="e1",
        host_email="host@example.co.jp",
        title="Visit",
        duration_minutes=60,
        status=AppointmentStatus.PROPOSED,
        candidates=(CandidateSlot(slot_id="s1", start=START, end=START + timedelta(hours=1)),),
        binding=binding,
    )


def test_envelope_round_trips_with_cloudevents_attributes() -> None:
    event = new_event(
        AppointmentCreated(appointment=snapshot()),
        source="/services/appointments",
        subject="a1",
        tenant_id="t1",
        appointment_version=1,
    )
    raw = serialize_event(event)
    parsed = parse_event(raw)
    assert parsed == event
    assert parsed.specversion == "1.0"
    assert parsed.type == "jp.visitor-scheduling.appointment.created.v1"
    assert parsed.key == b"a1"
    assert isinstance(parsed.data, AppointmentCreated)


def test_every_registered_type_is_versioned_and_unique() -> None:
    assert all(t.rsplit(".", 1)[-1].startswith("v") for t in EVENT_REGISTRY)
    assert len({m.event_name for m in EVENT_REGISTRY.values()}) == len(EVENT_REGISTRY)


def test_unknown_type_is_rejected() -> None:
    body = serialize_event(
        new_event(AppointmentCreated(appointment=snapshot()), source="/s", subject="a1", tenant_id="t1")
    ).replace(b".created.v1", b".created.v9")
    with pytest.raises(UnknownEventType):
        parse_event(body)


def test_payload_that_breaks_its_schema_is_rejected() -> None:
    event = new_event(
        CalendarSyncStatusReported(
            appointment_id="a1",
            tenant_id="t1",
            provider=Provider.GOOGLE,
            connection_id="c1",
            appointment_version=1,
            state=SyncState.SYNCED,
        ),
        source="/s",
        subject="a1",
        tenant_id="t1",
    )
    body = event.model_dump(mode="json")
    body["data"]["state"] = "teleported"
    with pytest.raises(ValidationError):
        parse_event(body)


def test_naive_datetimes_are_refused_in_snapshots() -> None:
    with pytest.raises(ValidationError):
        CandidateSlot(slot_id="s", start=datetime(2030, 1, 1), end=datetime(2030, 1, 1, 1))


def test_provider_topics_are_disjoint_and_have_dead_letters() -> None:
    assert appointments_topic_for(Provider.GOOGLE) == GOOGLE_APPOINTMENTS
    assert appointments_topic_for(Provider.OUTLOOK) == OUTLOOK_APPOINTMENTS
    names = {t.name for t in all_topics(3)}
    assert GOOGLE_APPOINTMENTS != OUTLOOK_APPOINTMENTS
    assert dead_letter_topic(GOOGLE_APPOINTMENTS) in names


def test_an_envelope_class_is_built_once_per_payload_class() -> None:
    """Kept strongly (pydantic's own cache of ``Model[T]`` is weak: rebuilt per event under load)."""
    import gc

    from visitor_common.events import GuestCheckedIn, envelope_class

    first = envelope_class(GuestCheckedIn)
    gc.collect()
    assert envelope_class(GuestCheckedIn) is first
