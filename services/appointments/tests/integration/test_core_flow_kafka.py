"""Create → outbox → Kafka (routed by binding) → a connector's status → ``synced``, on Tansu."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from appointments_testkit import (
    FakeDirectory,
    Harness,
    consume_for,
    future,
    publish_raw,
    slot_json,
    status_event,
    unit_settings,
)

from visitor_common import topics
from visitor_common.events import Provider

pytestmark = pytest.mark.broker

ALL_APPOINTMENT_TOPICS = [
    topics.APPOINTMENT_LIFECYCLE,
    topics.GOOGLE_APPOINTMENTS,
    topics.OUTLOOK_APPOINTMENTS,
]


def broker_settings(bootstrap: str) -> Any:
    return unit_settings(
        kafka_enabled=True,
        kafka_bootstrap_servers=bootstrap,
        kafka_idempotent_producer=False,
        kafka_partitions=6,
        outbox_poll_seconds=0.2,
        kafka_session_timeout_ms=1500,
        kafka_heartbeat_interval_ms=300,
    )


@pytest.fixture
def on_broker(make_harness: Callable[..., Any], kafka_bootstrap: str) -> Callable[..., Any]:
    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[Harness]:
        async with make_harness(broker_settings(kafka_bootstrap), **overrides) as harness:
            yield harness

    return build


async def wait_for_state(
    h: Harness, appointment_id: str, state: str, timeout: float = 20.0
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(int(timeout / 0.2)):
        body = (await h.client.get(f"/v1/appointments/{appointment_id}", headers=h.auth())).json()
        if body["calendar_sync"]["state"] == state:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"never reached {state}: {body.get('calendar_sync')}")


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.OUTLOOK])
async def test_bound_appointment_reaches_synced(
    on_broker: Callable[..., Any], kafka_bootstrap: str, provider: Provider
) -> None:
    directory = FakeDirectory()
    directory.link("t1", "e1", provider)
    async with on_broker(directory=directory) as h:
        created = await h.create()
        appointment_id = created["appointment_id"]
        assert created["calendar_sync"]["state"] == "pending"
        assert created["binding"]["provider"] == provider.value

        own = topics.appointments_topic_for(provider)
        other = next(t for t in (topics.GOOGLE_APPOINTMENTS, topics.OUTLOOK_APPOINTMENTS) if t != own)
        found = await consume_for(
            kafka_bootstrap,
            ALL_APPOINTMENT_TOPICS,
            appointment_id,
            expect={topics.APPOINTMENT_LIFECYCLE: 1, own: 1},
        )
        assert [e["type"] for e in found[topics.APPOINTMENT_LIFECYCLE]] == [
            "jp.visitor-scheduling.appointment.created.v1"
        ]
        assert len(found[own]) == 1
        assert found[other] == []
        envelope = found[own][0]
        assert envelope["subject"] == appointment_id
        assert envelope["appointmentversion"] == 1
        assert envelope["tenantid"] == "t1"
        assert envelope["data"]["appointment"]["binding"]["provider"] == provider.value

        await publish_raw(
            kafka_bootstrap,
            topics.SYNC_STATUS,
            appointment_id,
            status_event(
                created, provider_event_ids={"hold:" + created["candidates"][0]["slot_id"]: "evt-1"}
            ),
        )
        synced = await wait_for_state(h, appointment_id, "synced")
        assert synced["calendar_sync"]["provider"] == provider.value
        assert synced["calendar_sync"]["appointment_version"] == 1
        assert list(synced["calendar_sync"]["provider_event_ids"].values()) == ["evt-1"]


async def test_unlinked_appointment_goes_to_lifecycle_only(
    on_broker: Callable[..., Any], kafka_bootstrap: str
) -> None:
    async with on_broker() as h:
        created = await h.create()
        appointment_id = created["appointment_id"]
        assert created["calendar_sync"]["state"] == "not_linked"
        found = await consume_for(
            kafka_bootstrap, ALL_APPOINTMENT_TOPICS, appointment_id, expect={topics.APPOINTMENT_LIFECYCLE: 1}
        )
        assert len(found[topics.APPOINTMENT_LIFECYCLE]) == 1
        assert found[topics.GOOGLE_APPOINTMENTS] == []
        assert found[topics.OUTLOOK_APPOINTMENTS] == []
        assert found[topics.APPOINTMENT_LIFECYCLE][0]["data"]["appointment"]["binding"] is None

        # A (misrouted) status for an unbound appointment changes nothing.
        await publish_raw(kafka_bootstrap, topics.SYNC_STATUS, appointment_id, status_event(created))
        await asyncio.sleep(1.0)
        body = (await h.client.get(f"/v1/appointments/{appointment_id}", headers=h.auth())).json()
        assert body["calendar_sync"]["state"] == "not_linked"


async def test_r8_after_relinking_to_outlook_nothing_reaches_the_outlook_topic(
    on_broker: Callable[..., Any], kafka_bootstrap: str
) -> None:
    directory = FakeDirectory()
    directory.link("t1", "e1", Provider.GOOGLE)
    async with on_broker(directory=directory) as h:
        created = await h.create()
        appointment_id = created["appointment_id"]
        directory.link("t1", "e1", Provider.OUTLOOK)  # the host switched providers

        refused = await h.client.post(
            f"/v1/appointments/{appointment_id}/reschedule",
            json={"candidates": [slot_json(future(9))]},
            headers=h.auth() | {"If-Match": '"1"'},
        )
        assert refused.status_code == 409
        assert refused.json()["code"] == "bound_connection_unusable"
        assert refused.json()["provider"] == "google"

        newer = await h.create()  # a new appointment is bound to Outlook and goes there
        found = await consume_for(
            kafka_bootstrap,
            ALL_APPOINTMENT_TOPICS,
            appointment_id,
            expect={topics.GOOGLE_APPOINTMENTS: 1, topics.APPOINTMENT_LIFECYCLE: 1},
            settle=1.0,
        )
        assert [e["type"].split(".")[-2] for e in found[topics.GOOGLE_APPOINTMENTS]] == ["created"]
        assert found[topics.OUTLOOK_APPOINTMENTS] == []
        outlook = await consume_for(
            kafka_bootstrap,
            [topics.OUTLOOK_APPOINTMENTS],
            newer["appointment_id"],
            expect={topics.OUTLOOK_APPOINTMENTS: 1},
        )
        assert len(outlook[topics.OUTLOOK_APPOINTMENTS]) == 1
