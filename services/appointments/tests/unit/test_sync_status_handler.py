"""The sync-status consumer (TestKafkaBroker): synced / failed / drifted, idempotent and
version-aware, other providers ignored, poison messages dead-lettered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from appointments_testkit import Harness, status_event
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from visitor_common import topics
from visitor_common.events import Provider

CREATED_TYPE = "jp.visitor-scheduling.appointment.created.v1"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def sync_of(h: Harness, created: dict[str, Any]) -> dict[str, Any]:
    body = (await h.client.get(f"/v1/appointments/{created['appointment_id']}", headers=h.auth())).json()
    result: dict[str, Any] = body["calendar_sync"]
    return result


async def test_synced_failed_drifted(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    slot_id = created["candidates"][0]["slot_id"]
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(
            status_event(created, observed_at=T0, provider_event_ids={f"hold:{slot_id}": "g-1"}),
            topic=topics.SYNC_STATUS,
            key=created["appointment_id"].encode(),
        )
        synced = await sync_of(h, created)
        assert synced["state"] == "synced"
        assert synced["provider"] == "google" and synced["provider_event_ids"] == {f"hold:{slot_id}": "g-1"}
        assert synced["appointment_version"] == 1

        await broker.publish(
            status_event(
                created,
                "failed",
                observed_at=T0 + timedelta(minutes=1),
                reason_code="room_unavailable",
                message="The room was booked by someone else.",
            ),
            topic=topics.SYNC_STATUS,
        )
        failed = await sync_of(h, created)
        assert (failed["state"], failed["reason_code"]) == ("failed", "room_unavailable")
        assert failed["message"] == "The room was booked by someone else."

        drift = [
            {
                "entry_key": f"hold:{slot_id}",
                "provider_event_id": "g-1",
                "kind": "edited",
                "field": "start",
                "expected": "10:00",
                "actual": "11:00",
            }
        ]
        await broker.publish(
            status_event(created, "drifted", observed_at=T0 + timedelta(minutes=2), drift=drift),
            topic=topics.SYNC_STATUS,
        )
        drifted = await sync_of(h, created)
        assert drifted["state"] == "drifted"
        assert drifted["drift"][0]["field"] == "start" and drifted["drift"][0]["kind"] == "edited"


async def test_stale_and_duplicate_reports_change_nothing(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.OUTLOOK)
    created = await h.create()
    url = f"/v1/appointments/{created['appointment_id']}"
    await h.client.patch(url, json={"title": "v2"}, headers=h.auth() | {"If-Match": '"1"'})
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(status_event(created, version=2, observed_at=T0), topic=topics.SYNC_STATUS)
        assert (await sync_of(h, created))["state"] == "synced"
        # An older version reported late never overwrites the newer status.
        late = status_event(
            created, "failed", version=1, observed_at=T0 + timedelta(hours=1), reason_code="rate_limited"
        )
        await broker.publish(late, topic=topics.SYNC_STATUS)
        # Same version, older observation: ignored too.
        older = status_event(created, "drifted", version=2, observed_at=T0 - timedelta(minutes=1))
        await broker.publish(older, topic=topics.SYNC_STATUS)
        # Redelivery of the very same event: idempotent.
        await broker.publish(status_event(created, version=2, observed_at=T0), topic=topics.SYNC_STATUS)
        current = await sync_of(h, created)
        assert (current["state"], current["appointment_version"]) == ("synced", 2)


async def test_pending_after_a_change_until_the_new_version_is_reported(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(status_event(created, observed_at=T0), topic=topics.SYNC_STATUS)
        assert (await sync_of(h, created))["state"] == "synced"
        url = f"/v1/appointments/{created['appointment_id']}"
        await h.client.patch(url, json={"title": "v2"}, headers=h.auth() | {"If-Match": '"1"'})
        pending = await sync_of(h, created)
        assert (pending["state"], pending["appointment_version"]) == ("pending", 2)
        await broker.publish(status_event(created, version=2, observed_at=T0), topic=topics.SYNC_STATUS)
        assert (await sync_of(h, created))["state"] == "synced"


async def test_reports_from_another_provider_are_ignored(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(status_event(created, provider="outlook"), topic=topics.SYNC_STATUS)
        await broker.publish(status_event(created, connection_id="conn-other"), topic=topics.SYNC_STATUS)
        await broker.publish(status_event(created, tenant_id="t2"), topic=topics.SYNC_STATUS)
    assert (await sync_of(h, created))["state"] == "pending"


async def test_reports_for_unknown_or_unlinked_appointments_are_ignored(h: Harness) -> None:
    created = await h.create()
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(status_event(created), topic=topics.SYNC_STATUS)
        await broker.publish(
            status_event({**created, "appointment_id": "apt-missing"}), topic=topics.SYNC_STATUS
        )
    assert (await sync_of(h, created))["state"] == "not_linked"


async def test_poison_messages_go_to_the_dead_letter_topic(h: Harness) -> None:
    broker = h.container.broker
    dead: list[tuple[bytes, str]] = []

    @broker.subscriber(topics.dead_letter_topic(topics.SYNC_STATUS))
    async def collect(message: KafkaMessage) -> None:
        dead.append((message.body, message.headers["x-error"]))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"not json", topic=topics.SYNC_STATUS, key=b"k1")
        await test_broker.publish(b'{"type": "jp.visitor-scheduling.nope.v1"}', topic=topics.SYNC_STATUS)
        created = await h.create()
        status = json.loads(status_event(created))
        wrong_type = {**status, "type": "jp.visitor-scheduling.appointment.created.v1"}
        await test_broker.publish(json.dumps(wrong_type).encode(), topic=topics.SYNC_STATUS)
        # A malformed field whose value looks like a secret: the reason names the field only.
        leaky = {**status, "data": {**status["data"], "appointment_version": "guest-token-SECRET"}}
        await test_broker.publish(json.dumps(leaky).encode(), topic=topics.SYNC_STATUS)
    assert len(dead) == 4
    assert dead[0] == (b"not json", "malformed event: JSONDecodeError")
    assert "unknown event type" in dead[1][1]
    assert dead[2][1].startswith("malformed event: ")  # a created event lacks the status fields
    assert "data.appointment_version" in dead[3][1] and "SECRET" not in dead[3][1]
