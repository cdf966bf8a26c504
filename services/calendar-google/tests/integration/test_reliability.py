"""Reliability over real sockets: 429/503 storms, two instances in one consumer group, poison
records, other providers' records, reauth_required and declined rooms."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import pytest

from calendar_sync.testing import group_settled, wait_until
from visitor_common import topics
from visitor_common.events import Provider, SyncFailureReason, SyncState

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

STORM_APPOINTMENTS = int(os.environ.get("CALENDAR_GOOGLE_STORM_APPOINTMENTS", "200"))


def all_synced(ids: set[str]) -> Any:
    def check(statuses: Any) -> bool:
        done = {s.appointment_id for s in statuses if s.state is SyncState.SYNCED}
        return ids <= done

    return check


def one_event_per_appointment(harness: Any, ids: set[str], per_appointment: int = 1) -> None:
    events = [e for e in harness.ours() if e["status"] != "cancelled"]
    owners = Counter(e["extendedProperties"]["private"]["vsAppointmentId"] for e in events)
    assert set(owners) == ids
    assert set(owners.values()) == {per_appointment}, owners.most_common(3)


async def test_a_429_503_storm_ends_synced_with_exactly_one_event_each(harness: Any) -> None:
    connector = await harness.start_connector(push=False, consumer_max_workers=4, retry_max_attempts=8)
    conn = harness.connection()
    events_path = r"^/calendar/v3/calendars/[^/]+/events"
    harness.control.add_fault(
        events_path, status=429, reason="rateLimitExceeded", retry_after=0, probability=0.15, seed=1
    )
    harness.control.add_fault(events_path, status=503, probability=0.18, seed=2)
    ids = {f"{harness.run_id}-storm-{i}" for i in range(STORM_APPOINTMENTS)}
    for i, appt in enumerate(sorted(ids)):
        await harness.publish(harness.snapshot(appt, conn, slots=1, day=i % 10, rooms=False))
    await harness.wait_for(all_synced(ids), timeout=180)  # how fast is `make bench`'s question
    one_event_per_appointment(harness, ids)
    faults = harness.control.http.get("/__emulator/faults").json()
    assert sum(rule["hits"] for rule in faults["faults"]) > STORM_APPOINTMENTS * 0.15
    assert connector.consumer.stats.synced >= STORM_APPOINTMENTS


async def test_two_instances_split_the_work_without_duplicates(harness: Any) -> None:
    first = await harness.start_connector(push=False, consumer_max_workers=2)
    second = await harness.start_connector(push=False, consumer_max_workers=2)
    brokers = [first.broker, second.broker]
    partitions = first.settings.kafka_partitions
    await wait_until(
        lambda: group_settled(brokers, harness.appointments_topic, partitions), what="both instances' share"
    )
    conn = harness.connection()
    ids = {f"{harness.run_id}-pair-{i}" for i in range(40)}
    for appt in sorted(ids):
        await harness.publish(harness.snapshot(appt, conn, slots=2, rooms=False))
    await harness.wait_for(all_synced(ids), timeout=60)
    one_event_per_appointment(harness, ids, per_appointment=2)
    assert first.consumer.stats.handled > 0 and second.consumer.stats.handled > 0
    assert first.consumer.stats.handled + second.consumer.stats.handled == len(ids)


async def test_poison_goes_to_the_dead_letter_topic_and_the_partition_moves_on(harness: Any) -> None:
    from aiokafka import AIOKafkaConsumer

    connector = await harness.start_connector(push=False)
    conn = harness.connection()
    await harness.publish_raw(harness.appointments_topic, b"{definitely not json", b"poison")
    appt = f"{harness.run_id}-after-poison"
    await harness.publish(harness.snapshot(appt, conn, slots=1, rooms=False))
    await harness.wait_for(all_synced({appt}))
    dlq = AIOKafkaConsumer(
        topics.dead_letter_topic(harness.appointments_topic),
        bootstrap_servers=harness.bootstrap,
        auto_offset_reset="earliest",
    )
    await dlq.start()
    try:
        records = await dlq.getmany(timeout_ms=3000)
    finally:
        await dlq.stop()
    values = [r for batch in records.values() for r in batch]
    assert [r.value for r in values] == [b"{definitely not json"]
    assert dict(values[0].headers)["x-error"] == b"malformed event: JSONDecodeError"
    assert connector.consumer.stats.dead_lettered == 1


async def test_other_providers_appointments_are_ignored(harness: Any) -> None:
    connector = await harness.start_connector(push=False)
    conn = harness.connection()
    foreign = f"{harness.run_id}-outlook"
    mine = f"{harness.run_id}-google"
    await harness.publish(harness.snapshot(foreign, conn, slots=1, provider=Provider.OUTLOOK, rooms=False))
    await harness.publish(harness.snapshot(mine, conn, slots=1, rooms=False))
    await harness.wait_for(all_synced({mine}))
    # One partition per appointment id: the foreign record may sit on another partition than
    # ours, so it is waited for by itself.
    await wait_until(lambda: connector.consumer.stats.ignored_other_provider == 1)
    assert harness.latest(foreign) is None
    assert {e["extendedProperties"]["private"]["vsAppointmentId"] for e in harness.ours()} == {mine}


async def test_reauth_required_fails_once_without_a_retry_storm(harness: Any) -> None:
    connector = await harness.start_connector(push=False)
    conn = harness.connection()
    harness.auth.connections[conn].reauth_required = True
    appt = f"{harness.run_id}-reauth"
    await harness.publish(harness.snapshot(appt, conn, slots=1, rooms=False))
    statuses = await harness.wait_for(lambda s: harness.latest(appt) is not None)
    # Proving an absence (no retry, no second status): a deliberate pause a retry would fill.
    await asyncio.sleep(1.0)
    statuses = await harness.wait_for(lambda s: True)  # read what arrived meanwhile
    status = harness.latest(appt)
    assert status.state is SyncState.FAILED and status.reason_code is SyncFailureReason.REAUTH_REQUIRED
    assert not status.retriable
    assert len([s for s in statuses if s.appointment_id == appt]) == 1
    assert connector.consumer.stats.sent_to_retry == 0
    assert harness.ours() == []


async def test_a_declined_room_fails_with_room_unavailable(harness: Any) -> None:
    await harness.start_connector(push=False)
    conn = harness.connection()
    first, second = f"{harness.run_id}-room-1", f"{harness.run_id}-room-2"
    await harness.publish(harness.snapshot(first, conn, slots=1))
    await harness.wait_for(all_synced({first}))
    await harness.publish(harness.snapshot(second, conn, slots=1))
    await harness.wait_for(lambda s: harness.latest(second) is not None)
    status = harness.latest(second)
    assert status.state is SyncState.FAILED and status.reason_code is SyncFailureReason.ROOM_UNAVAILABLE
    assert harness.world.room_email(1) in (status.message or "")
    assert status.provider_event_ids
