"""The walking skeleton on the real local stack: Tansu over TCP, both emulators over HTTPS, the
four services as separate processes, everything through public HTTP APIs.

appointment created → outbox → Kafka (the bound provider's topic only) → that provider's
connector → tentative holds in the emulated calendar → sync-status event → ``synced``; the
guest picks a slot → the hold becomes the confirmed event, the other hold is released →
``synced`` at version 2. The other provider's connector never acts on it.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from devstack.testing import RunningStack
from devstack.walkthrough import (
    LINKED_MESSAGES,
    event_ids,
    guest_pick,
    morning_in,
    slots_from,
)
from visitor_common import topics
from visitor_common.events import Provider

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

WRITE = re.compile(r"^(POST|PUT|PATCH|DELETE) .*/events(/[^/]+)?$")


@dataclass(frozen=True)
class Host:
    provider: Provider  # what the binding names
    link_as: str  # the auth service's name for it in its linking routes
    days_ahead: int


HOSTS = {
    Provider.GOOGLE: Host(Provider.GOOGLE, "google", 7),
    Provider.OUTLOOK: Host(Provider.OUTLOOK, "microsoft", 8),
}


def calendar_writes(counts: dict[str, int]) -> int:
    """Event writes an emulator has answered (reads such as drift polling are not counted)."""
    return sum(n for key, n in counts.items() if WRITE.match(key))


def own_events(running: RunningStack, host: Host, email: str) -> dict[str, bool]:
    """The live events in the host's calendar at the emulator: provider event id → tentative."""
    return {event.event_id: event.tentative for event in running.live_events(host.link_as, email)}


async def keys_on(bootstrap: str, topic: str, settle: float = 1.0) -> list[str]:
    """Every message key on ``topic`` from the beginning (no group: nothing is committed)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    keys: list[str] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(settle * 1000))
            if not batch:
                return keys
            keys += [m.key.decode() for records in batch.values() for m in records if m.key]
    finally:
        await consumer.stop()


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.OUTLOOK])
async def test_appointment_reaches_the_bound_calendar_and_reads_synced(
    running_stack: RunningStack, provider: Provider
) -> None:
    host = HOSTS[provider]
    other = running_stack.microsoft if provider is Provider.GOOGLE else running_stack.google
    employee = await running_stack.sign_in(host.link_as)
    email = employee.email
    try:
        linked = await employee.link_calendar(host.link_as)
        assert json.loads(linked)["message"] == LINKED_MESSAGES[host.link_as]
        other_writes_before = calendar_writes(other.requests())

        start = morning_in(host.days_ahead)
        created = await employee.propose(*slots_from(start, 2))
        appointment_id = created["appointment_id"]
        assert created["binding"]["provider"] == provider.value
        assert created["calendar_sync"]["state"] == "pending"

        held = await employee.wait_sync(appointment_id, "synced", version=1)
        holds = event_ids(held["calendar_sync"])
        assert len(holds) == 2
        in_calendar = own_events(running_stack, host, email)
        assert set(holds.values()) <= set(in_calendar)
        assert all(in_calendar[event_id] for event_id in holds.values())

        picked_slot = created["candidates"][0]["slot_id"]
        confirmation = await guest_pick(running_stack.urls.appointments, created["guest_token"], picked_slot)
        assert confirmation["status"] == "confirmed"
        assert re.fullmatch(r"\d{6}", confirmation["reception_code"])

        confirmed = await employee.wait_sync(appointment_id, "synced", version=2)
        remaining = event_ids(confirmed["calendar_sync"])
        assert list(remaining.values()) == [holds[f"slot:{picked_slot}"]]
        in_calendar = own_events(running_stack, host, email)
        released = holds[f"slot:{created['candidates'][1]['slot_id']}"]
        assert released not in in_calendar
        assert in_calendar[remaining[f"slot:{picked_slot}"]] is False  # confirmed, not tentative

        # The other provider's connector never acted: no write reached its emulator …
        assert calendar_writes(other.requests()) == other_writes_before
    finally:
        await employee.close()


async def test_each_connector_topic_carries_only_its_providers_appointments(
    running_stack: RunningStack,
) -> None:
    """… and its topic never carried the appointment (so its connector could not act on it)."""
    created: dict[Provider, str] = {}
    for provider in (Provider.GOOGLE, Provider.OUTLOOK):
        employee = await running_stack.sign_in(HOSTS[provider].link_as)
        try:
            await employee.ensure_linked(HOSTS[provider].link_as)
            start = morning_in(HOSTS[provider].days_ahead) + timedelta(hours=5)
            appointment = await employee.propose(*slots_from(start, 1))
            created[provider] = appointment["appointment_id"]
            await employee.wait_sync(created[provider], "synced", version=1)
        finally:
            await employee.close()

    bootstrap = running_stack.kafka_bootstrap
    google_keys, outlook_keys = await asyncio.gather(
        keys_on(bootstrap, topics.GOOGLE_APPOINTMENTS), keys_on(bootstrap, topics.OUTLOOK_APPOINTMENTS)
    )
    assert created[Provider.GOOGLE] in google_keys
    assert created[Provider.GOOGLE] not in outlook_keys
    assert created[Provider.OUTLOOK] in outlook_keys
    assert created[Provider.OUTLOOK] not in google_keys
