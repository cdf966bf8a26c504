"""End to end within the service, on Tansu: a cancellation made while the bound connection is
unlinked reaches the lifecycle topic at once and the bound provider's topic only after the
auth service announces the same account linked again (R8, decision 0004)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from appointments_testkit import (
    FakeDirectory,
    Harness,
    connection_event,
    consume_for,
    publish_raw,
    status_event,
    unit_settings,
)

from visitor_common import topics
from visitor_common.events import ConnectionStatus, Provider

pytestmark = pytest.mark.broker

APPOINTMENT_TOPICS = [topics.APPOINTMENT_LIFECYCLE, topics.GOOGLE_APPOINTMENTS, topics.OUTLOOK_APPOINTMENTS]


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


async def poll(h: Harness, appointment_id: str, done: Any, timeout: float = 30.0) -> dict[str, Any]:
    body: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        body = (await h.client.get(f"/v1/appointments/{appointment_id}", headers=h.auth())).json()
        if done(body):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"never reached the awaited state: {body}")


def kinds(envelopes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["type"].split(".")[-2], e["appointmentversion"]) for e in envelopes]


async def test_held_cancellation_is_released_to_the_bound_calendar_on_relink(
    make_harness: Any, kafka_bootstrap: str
) -> None:
    directory = FakeDirectory()
    connection = directory.link("t1", "e1", Provider.GOOGLE)
    async with make_harness(broker_settings(kafka_bootstrap), directory=directory) as h:
        created = await h.create()
        appointment_id = created["appointment_id"]
        slot = created["candidates"][0]["slot_id"]
        await publish_raw(
            kafka_bootstrap,
            topics.SYNC_STATUS,
            appointment_id,
            status_event(created, provider_event_ids={f"hold:{slot}": "g-hold-1"}),
        )
        await poll(h, appointment_id, lambda b: b["calendar_sync"]["state"] == "synced")

        directory.set_status(connection, ConnectionStatus.UNLINKED)
        await publish_raw(
            kafka_bootstrap,
            topics.CONNECTIONS,
            connection,
            connection_event(directory, connection, "unlinked"),
        )
        blocked = await poll(h, appointment_id, lambda b: b["calendar_sync"]["state"] == "blocked")
        assert blocked["calendar_sync"]["action"] == "relink_google"

        cancelled = await h.client.post(
            f"/v1/appointments/{appointment_id}/cancel", headers=h.auth() | {"If-Match": '"1"'}
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["held_calendar_change"]["provider_event_ids"] == {f"hold:{slot}": "g-hold-1"}
        held = await consume_for(
            kafka_bootstrap,
            APPOINTMENT_TOPICS,
            appointment_id,
            expect={topics.APPOINTMENT_LIFECYCLE: 2, topics.GOOGLE_APPOINTMENTS: 1},
            settle=1.0,
        )
        assert kinds(held[topics.APPOINTMENT_LIFECYCLE]) == [("created", 1), ("cancelled", 2)]
        assert kinds(held[topics.GOOGLE_APPOINTMENTS]) == [("created", 1)]  # the calendar side waits

        directory.set_status(connection, ConnectionStatus.ACTIVE)  # the host links the same account
        await publish_raw(
            kafka_bootstrap, topics.CONNECTIONS, connection, connection_event(directory, connection)
        )
        released = await poll(h, appointment_id, lambda b: b["held_calendar_change"] is None)
        assert released["version"] == 3 and released["calendar_sync"]["state"] == "pending"
        found = await consume_for(
            kafka_bootstrap,
            APPOINTMENT_TOPICS,
            appointment_id,
            expect={topics.GOOGLE_APPOINTMENTS: 2},
            settle=1.0,
        )
        assert kinds(found[topics.GOOGLE_APPOINTMENTS]) == [("created", 1), ("cancelled", 3)]
        assert kinds(found[topics.APPOINTMENT_LIFECYCLE]) == [("created", 1), ("cancelled", 2)]
        assert found[topics.OUTLOOK_APPOINTMENTS] == []
        cancellation = found[topics.GOOGLE_APPOINTMENTS][1]["data"]["appointment"]
        assert (
            cancellation["status"] == "cancelled" and cancellation["binding"]["connection_id"] == connection
        )

        await publish_raw(
            kafka_bootstrap, topics.SYNC_STATUS, appointment_id, status_event(released, provider_event_ids={})
        )
        await poll(h, appointment_id, lambda b: b["calendar_sync"]["state"] == "synced")
