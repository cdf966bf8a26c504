"""Routing in one place (R8): the lifecycle topic always, the bound provider's topic only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from appointments_testkit import make_appointment

from appointments_service.service_layer import events
from visitor_common import topics
from visitor_common.events import (
    AppointmentConfirmed,
    AppointmentRescheduled,
    CalendarBinding,
    Provider,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
GOOGLE = CalendarBinding(provider=Provider.GOOGLE, connection_id="c1", account_email="host@example.co.jp")
OUTLOOK = GOOGLE.model_copy(update={"provider": Provider.OUTLOOK})


def test_an_unbound_appointment_goes_to_the_lifecycle_topic_only() -> None:
    appointment = make_appointment(NOW)
    data = AppointmentRescheduled(appointment=appointment.snapshot())
    assert events.provider_topic(appointment) is None
    assert events.routes(appointment, data) == [(topics.APPOINTMENT_LIFECYCLE, data)]


def test_a_bound_appointment_also_goes_to_its_providers_topic_and_no_other() -> None:
    for binding, topic in [(GOOGLE, topics.GOOGLE_APPOINTMENTS), (OUTLOOK, topics.OUTLOOK_APPOINTMENTS)]:
        appointment = make_appointment(NOW, binding=binding)
        data = AppointmentRescheduled(appointment=appointment.snapshot())
        assert events.routes(appointment, data) == [(topics.APPOINTMENT_LIFECYCLE, data), (topic, data)]


def test_the_provider_copy_of_a_confirmation_carries_no_reception_code() -> None:
    appointment = make_appointment(NOW, binding=GOOGLE)
    data = AppointmentConfirmed(appointment=appointment.snapshot(), reception_code="123456")
    (lifecycle, provider) = events.routes(appointment, data)
    assert lifecycle[1] == data
    assert provider[1] == data.model_copy(update={"reception_code": None})


def test_entries_keep_the_events_order_and_both_copies_share_one_event_id() -> None:
    appointment = make_appointment(NOW, binding=OUTLOOK, version=4)
    first = AppointmentRescheduled(appointment=appointment.snapshot())
    second = AppointmentConfirmed(appointment=appointment.snapshot(), reception_code="123456")
    entries = events.routed_entries(appointment, [first, second], "/test")
    payloads = [json.loads(e["payload"]) for e in entries]
    assert [(e["topic"], p["type"].split(".")[-2]) for e, p in zip(entries, payloads, strict=True)] == [
        (topics.APPOINTMENT_LIFECYCLE, "rescheduled"),
        (topics.OUTLOOK_APPOINTMENTS, "rescheduled"),
        (topics.APPOINTMENT_LIFECYCLE, "confirmed"),
        (topics.OUTLOOK_APPOINTMENTS, "confirmed"),
    ]
    ids = [p["id"] for p in payloads]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert all(p["subject"] == "a1" and p["appointmentversion"] == 4 for p in payloads)
    assert payloads[2]["data"]["reception_code"] == "123456"
    assert payloads[3]["data"]["reception_code"] is None
