"""Outbox: a change made while Kafka is down is stored at once and published, exactly once,
when the broker is back (SPEC section 4: no change without its event, no event without its
change)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from appointments_testkit import FakeDirectory, consume_for, restart_broker_with_topics, unit_settings

from devstack.tansu import TansuBroker
from visitor_common import topics
from visitor_common.events import Provider

pytestmark = pytest.mark.broker

UPDATED = "jp.visitor-scheduling.appointment.details-updated.v1"
CANCELLED = "jp.visitor-scheduling.appointment.cancelled.v1"


async def test_changes_while_broker_down_are_published_once_it_is_back(
    make_harness: Callable[..., Any], fresh_kafka: TansuBroker
) -> None:
    directory = FakeDirectory()
    directory.link("t1", "e1", Provider.GOOGLE)
    settings = unit_settings(
        kafka_enabled=True,
        kafka_bootstrap_servers=fresh_kafka.bootstrap_servers,
        kafka_idempotent_producer=False,
        kafka_partitions=6,
        outbox_poll_seconds=0.2,
        kafka_session_timeout_ms=1500,
        kafka_heartbeat_interval_ms=300,
    )
    restarted: TansuBroker | None = None
    try:
        async with make_harness(settings, directory=directory) as h:
            created = await h.create()
            appointment_id = created["appointment_id"]
            for _ in range(50):  # the creation goes out while the broker is up
                if not await h.outbox(appointment_id):
                    break
                await asyncio.sleep(0.1)
            assert await h.outbox(appointment_id) == []

            fresh_kafka.stop()
            url = f"/v1/appointments/{appointment_id}"
            updated = await h.client.patch(
                url, json={"title": "Moved to the big room"}, headers={**h.auth(), "If-Match": '"1"'}
            )
            assert updated.status_code == 200, updated.text
            cancelled = await h.client.post(
                f"{url}/cancel", json={"reason": "host ill"}, headers={**h.auth(), "If-Match": '"2"'}
            )
            assert cancelled.status_code == 200, cancelled.text

            # Stored at once, events waiting in the outbox: two changes x (lifecycle + google).
            await asyncio.sleep(0.5)
            stored = (await h.client.get(url, headers=h.auth())).json()
            assert stored["status"] == "cancelled" and stored["version"] == 3
            assert len(await h.outbox(appointment_id)) == 4

            # The broker is back on the same address, with its topics (see the helper).
            restarted = restart_broker_with_topics(fresh_kafka.port, partitions=6)
            found = await consume_for(
                restarted.bootstrap_servers,
                [topics.APPOINTMENT_LIFECYCLE, topics.GOOGLE_APPOINTMENTS, topics.OUTLOOK_APPOINTMENTS],
                appointment_id,
                expect={topics.APPOINTMENT_LIFECYCLE: 2, topics.GOOGLE_APPOINTMENTS: 2},
                timeout=45.0,
                settle=1.5,
            )
            for topic in (topics.APPOINTMENT_LIFECYCLE, topics.GOOGLE_APPOINTMENTS):
                assert [(e["type"], e["appointmentversion"]) for e in found[topic]] == [
                    (UPDATED, 2),
                    (CANCELLED, 3),
                ]
            assert found[topics.OUTLOOK_APPOINTMENTS] == []
            assert await h.outbox(appointment_id) == []
    finally:
        if restarted is not None:
            restarted.stop()
