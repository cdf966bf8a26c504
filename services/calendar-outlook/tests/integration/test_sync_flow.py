"""Consume → Graph (emulator, HTTPS) → sync status on Kafka: the core path and idempotency."""

from __future__ import annotations

from typing import Any

import pytest

from visitor_common.events import AppointmentStatus

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def test_holds_confirmation_redelivery_and_cancellation(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    connector = await start_connector()
    world = graph_emulator.world
    conn = fake_auth.link(world.host)
    room1, room2 = world.rooms[0], world.rooms[1]
    slots = [("s1", h.slot_time(3), room1), ("s2", h.slot_time(4), room2)]
    v1 = h.make_snapshot(conn, slots=slots)
    ap = v1.appointment_id

    await h.publish_snapshot(producer, v1)
    synced = await statuses.wait_state(ap, "synced", 1)
    assert set(synced.provider_event_ids) == {"slot:s1", "slot:s2"}
    events = h.ours(graph_emulator.host_events(), ap)
    assert len(events) == 2
    assert {e["showAs"] for e in events} == {"tentative"}
    by_id = {e["id"]: e for e in events}
    hold1 = by_id[synced.provider_event_ids["slot:s1"]]
    assert hold1["attendees"][0]["emailAddress"]["address"] == room1
    assert hold1["attendees"][0]["type"] == "resource"
    assert hold1["location"]["displayName"] == "room1"
    assert hold1["transactionId"]

    # Redelivery of the same event: nothing new in the calendar, the outcome is reported again.
    await h.publish_snapshot(producer, v1)
    await statuses.wait_for(
        lambda c: len([s for s in c.by_appointment[ap] if s.appointment_version == 1]) >= 2
    )
    assert len(h.ours(graph_emulator.host_events(), ap)) == 2

    # Confirmation: the chosen hold becomes the confirmed event (same id, room kept), the other goes.
    v2 = v1.model_copy(
        update={"version": 2, "status": AppointmentStatus.CONFIRMED, "confirmed_slot_id": "s2"}
    )
    await h.publish_snapshot(producer, v2, "confirmed")
    confirmed = await statuses.wait_state(ap, "synced", 2)
    assert confirmed.provider_event_ids == {"slot:s2": synced.provider_event_ids["slot:s2"]}
    events = h.ours(graph_emulator.host_events(), ap)
    assert len(events) == 1
    assert events[0]["showAs"] == "busy" and events[0]["subject"] == v1.title
    assert events[0]["attendees"][0]["emailAddress"]["address"] == room2

    # A stale version (replayed v1) changes nothing.
    before = graph_emulator.control.requests()
    await h.publish_snapshot(producer, v1)
    v3 = v2.model_copy(update={"version": 3, "status": AppointmentStatus.CANCELLED})
    await h.publish_snapshot(producer, v3, "cancelled")
    cancelled = await statuses.wait_state(ap, "synced", 3)
    assert cancelled.provider_event_ids == {}
    assert h.ours(graph_emulator.host_events(), ap) == []
    after = graph_emulator.control.requests()
    writes = sum(n for k, n in after.items() if k.startswith(("POST /v1.0/me/events", "PATCH"))) - sum(
        n for k, n in before.items() if k.startswith(("POST /v1.0/me/events", "PATCH"))
    )
    assert writes == 0  # the stale v1 did not re-create holds; v3 only deleted
    # Drift syncs triggered by our own writes' notifications: wait until they are done.
    monitor = connector.components.monitor
    await h.until(lambda: monitor.notifications >= 1 and not monitor.syncing)
    assert [s for s in statuses.by_appointment[ap] if s.state.value == "drifted"] == []


async def test_a_declined_room_fails_naming_the_room(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    await start_connector()
    world = graph_emulator.world
    conn = fake_auth.link(world.host)
    busy_room = world.rooms[2]
    when = h.slot_time(5)
    graph_emulator.control.create_event(
        busy_room,
        {
            "subject": "Board meeting",
            "start": {"dateTime": when.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (when.replace(hour=when.hour + 1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
        },
    )
    snapshot = h.make_snapshot(conn, slots=[("s1", when, busy_room)])
    await h.publish_snapshot(producer, snapshot)
    failed = await statuses.wait_state(snapshot.appointment_id, "failed", 1)
    assert failed.reason_code.value == "room_unavailable"
    assert busy_room in (failed.message or "")
    assert failed.provider_event_ids  # the event exists; the room said no


async def test_reauth_required_fails_without_a_retry_storm(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    connector = await start_connector()
    conn = fake_auth.link(graph_emulator.world.host)
    fake_auth.connections[conn.connection_id].reauth_required = True
    snapshot = h.make_snapshot(conn)
    await h.publish_snapshot(producer, snapshot)
    failed = await statuses.wait_state(snapshot.appointment_id, "failed", 1)
    assert failed.reason_code.value == "reauth_required" and failed.retriable is False
    assert fake_auth.token_requests <= 3  # the sync and the drift registration; no retry storm
    assert connector.components.consumer.stats.sent_to_retry == 0
    assert h.ours(graph_emulator.host_events(), snapshot.appointment_id) == []


async def test_an_expired_token_is_refreshed_once(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    await start_connector()
    conn = fake_auth.link(graph_emulator.world.host)
    graph_emulator.control.expire_access_tokens(graph_emulator.world.host)
    snapshot = h.make_snapshot(conn)
    await h.publish_snapshot(producer, snapshot)
    await statuses.wait_state(snapshot.appointment_id, "synced", 1)
    assert fake_auth.forced_refreshes == 1
    assert len(h.ours(graph_emulator.host_events(), snapshot.appointment_id)) == 1


async def test_poison_messages_go_to_the_dead_letter_topic(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    from visitor_common import topics

    connector = await start_connector()
    conn = fake_auth.link(graph_emulator.world.host)
    await h.publish_raw(producer, topics.OUTLOOK_APPOINTMENTS, b"{not json", b"bad")
    snapshot = h.make_snapshot(conn)
    await h.publish_snapshot(producer, snapshot)
    await statuses.wait_state(snapshot.appointment_id, "synced", 1)
    await h.until(lambda: connector.components.consumer.stats.dead_lettered >= 1)
