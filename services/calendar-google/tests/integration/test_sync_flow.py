"""Core path over real sockets: Kafka → connector → emulator (HTTPS) → sync status on Kafka."""

from __future__ import annotations

from typing import Any

import pytest

from visitor_common.events import AppointmentConfirmed, AppointmentStatus, SyncState

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


def synced(appointment_id: str, version: int = 1) -> Any:
    def check(statuses: Any) -> bool:
        return any(
            s.appointment_id == appointment_id
            and s.appointment_version == version
            and s.state is SyncState.SYNCED
            for s in statuses
        )

    return check


async def test_holds_then_confirmation_then_redelivery(harness: Any) -> None:
    await harness.start_connector()
    conn = harness.connection()
    appt = f"{harness.run_id}-a1"
    raw = await harness.publish(harness.snapshot(appt, conn, slots=3))
    await harness.wait_for(synced(appt))
    events = harness.ours()
    assert len(events) == 3 and all(e["status"] == "tentative" for e in events)
    status = harness.latest(appt)
    assert status.appointment_version == 1
    assert set(status.provider_event_ids) == {"slot:s1", "slot:s2", "slot:s3"}
    assert {e["id"] for e in events} == set(status.provider_event_ids.values())
    rooms = [a for e in events for a in e.get("attendees", []) if a.get("resource")]
    assert len(rooms) == 3 and all(a["responseStatus"] == "accepted" for a in rooms)

    # Redelivery of the same record: no second calendar event.
    await harness.publish_raw(harness.appointments_topic, raw, appt.encode())
    confirmed = harness.snapshot(
        appt, conn, slots=3, version=2, status=AppointmentStatus.CONFIRMED, confirmed="s2"
    )
    await harness.publish(confirmed, AppointmentConfirmed(appointment=confirmed))
    await harness.wait_for(synced(appt, 2))
    events = harness.ours()
    live = [e for e in events if e["status"] != "cancelled"]
    assert len(events) == 3  # ids are never reused; released holds stay as cancelled
    assert len(live) == 1 and live[0]["status"] == "confirmed"
    assert live[0]["id"] == status.provider_event_ids["slot:s2"]
    assert harness.latest(appt).provider_event_ids == {"slot:s2": live[0]["id"]}
