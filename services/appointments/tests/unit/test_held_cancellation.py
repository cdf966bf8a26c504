"""Rows 9 and the frozen appointment (R8, decision 0004): while the bound connection is
unusable the guest cannot book, the host sees ``blocked`` with the reason and the fix, and a
cancellation is made at once with its calendar side held until that same account is linked
again — then released to that calendar only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from appointments_testkit import Harness, connection_event, status_event
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from visitor_common import topics
from visitor_common.events import ConnectionStatus, Provider

ADMIN = {"employee": "e9", "email": "admin@example.co.jp", "role": "admin"}


def url(created: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/appointments/{created['appointment_id']}{suffix}"


def kinds(outbox: list[dict[str, Any]], topic: str) -> list[tuple[str, int]]:
    return [
        (json.loads(e["payload"])["type"].split(".")[-2], json.loads(e["payload"])["appointmentversion"])
        for e in outbox
        if e["topic"] == topic
    ]


async def synced_then_unlinked(h: Harness, status: ConnectionStatus = ConnectionStatus.UNLINKED) -> Any:
    """A Google-bound appointment the connector reported synced, then the host unlinked."""
    connection = h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    slot = created["candidates"][0]["slot_id"]
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(
            status_event(created, provider_event_ids={f"hold:{slot}": "g-hold-1"}), topic=topics.SYNC_STATUS
        )
    assert (await h.client.get(url(created), headers=h.auth())).json()["calendar_sync"]["state"] == "synced"
    h.directory.set_status(connection, status)
    return connection, created


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ConnectionStatus.UNLINKED, "connection_inactive"),
        (ConnectionStatus.INACTIVE, "connection_inactive"),
        (ConnectionStatus.REAUTH_REQUIRED, "reauth_required"),
    ],
)
async def test_the_host_sees_blocked_with_the_reason_and_the_fix(
    h: Harness, status: ConnectionStatus, reason: str
) -> None:
    _, created = await synced_then_unlinked(h, status)
    sync = (await h.client.get(url(created), headers=h.auth())).json()["calendar_sync"]
    assert sync["state"] == "blocked"
    assert (sync["reason_code"], sync["connection_status"]) == (reason, status.value)
    assert sync["action"] == "relink_google"
    assert "Google calendar host@example.co.jp again" in sync["message"]
    listed = (await h.client.get("/v1/appointments", headers=h.auth())).json()["items"]
    assert [a["calendar_sync"]["state"] for a in listed] == ["blocked"]


async def test_the_guest_is_told_it_cannot_be_booked_now_instead_of_offered_candidates(h: Harness) -> None:
    _, created = await synced_then_unlinked(h)
    view = (await h.client.get(f"/v1/guest/appointments/{created['guest_token']}")).json()
    assert view["bookable"] is False and view["candidates"] == []
    assert "cannot be booked right now" in view["notice"]
    assert "host@example.co.jp" not in json.dumps(view)


async def test_a_usable_binding_stays_bookable(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    view = (await h.client.get(f"/v1/guest/appointments/{created['guest_token']}")).json()
    assert view["bookable"] is True and len(view["candidates"]) == 2 and view.get("notice") is None


async def test_a_view_does_not_fail_when_the_auth_service_is_down(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    h.directory.unavailable = True
    assert (await h.client.get(url(created), headers=h.auth())).json()["calendar_sync"]["state"] == "pending"
    view = (await h.client.get(f"/v1/guest/appointments/{created['guest_token']}")).json()
    assert view["bookable"] is True


async def cancel_held(h: Harness, created: dict[str, Any], version: int, **who: Any) -> dict[str, Any]:
    response = await h.client.post(
        url(created, "/cancel"),
        json={"reason": "host left"},
        headers=h.auth(**who) | {"If-Match": f'"{version}"'},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_cancel_while_unlinked_cancels_at_once_and_holds_the_calendar_side(h: Harness) -> None:
    connection = h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    slot = created["candidates"][0]["slot_id"]
    picked = await h.client.post(
        f"/v1/guest/appointments/{created['guest_token']}/pick", json={"slot_id": slot}
    )
    code = picked.json()["reception_code"]
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(
            status_event(created, version=2, provider_event_ids={"visit": "g-visit-1"}),
            topic=topics.SYNC_STATUS,
        )
    h.directory.set_status(connection, ConnectionStatus.UNLINKED)

    body = await cancel_held(h, created, 2)
    assert body["status"] == "cancelled" and body["version"] == 3
    assert body["reception_code"] == code
    assert await h.container.repository.active_code_holder("t1", code) is None  # the code is free
    held = body["held_calendar_change"]
    assert held["change"] == "cancellation" and held["appointment_version"] == 3
    assert (held["provider"], held["connection_id"]) == ("google", connection)
    assert held["provider_event_ids"] == {"visit": "g-visit-1"}
    assert held["connection_status"] == "unlinked"
    assert body["calendar_sync"]["state"] == "blocked"
    assert "cancellation is written there" in body["calendar_sync"]["message"]

    outbox = await h.outbox(created["appointment_id"])
    assert kinds(outbox, topics.APPOINTMENT_LIFECYCLE)[-1] == ("cancelled", 3)
    assert kinds(outbox, topics.GOOGLE_APPOINTMENTS) == [("created", 1), ("confirmed", 2)]
    assert kinds(outbox, topics.OUTLOOK_APPOINTMENTS) == []


async def test_an_administrator_may_cancel_a_frozen_appointment_too(h: Harness) -> None:
    _, created = await synced_then_unlinked(h)
    body = await cancel_held(h, created, 1, **ADMIN)
    assert body["status"] == "cancelled" and body["held_calendar_change"]["provider_event_ids"]


async def test_relinking_the_same_account_releases_the_cancellation_to_that_calendar_only(h: Harness) -> None:
    connection, created = await synced_then_unlinked(h)
    await cancel_held(h, created, 1)
    h.directory.set_status(connection, ConnectionStatus.ACTIVE)  # the host linked it again
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(connection_event(h.directory, connection), topic=topics.CONNECTIONS)
    body = (await h.client.get(url(created), headers=h.auth())).json()
    assert body["held_calendar_change"] is None and body["version"] == 3
    assert body["calendar_sync"]["state"] == "pending"
    outbox = await h.outbox(created["appointment_id"])
    assert kinds(outbox, topics.GOOGLE_APPOINTMENTS) == [("created", 1), ("cancelled", 3)]
    assert kinds(outbox, topics.APPOINTMENT_LIFECYCLE) == [("created", 1), ("cancelled", 2)]
    released = json.loads(outbox[-1]["payload"])["data"]
    assert released["appointment"]["status"] == "cancelled" and released["reason"] == "host left"
    assert released["appointment"]["binding"]["connection_id"] == connection


async def test_another_account_or_a_stale_link_event_releases_nothing(h: Harness) -> None:
    connection, created = await synced_then_unlinked(h)
    await cancel_held(h, created, 1)
    outlook = h.directory.link("t1", "e1", Provider.OUTLOOK, email="other@example.co.jp")
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(connection_event(h.directory, outlook), topic=topics.CONNECTIONS)
        # Same connection id but another address, and the true one while auth still says unlinked:
        await broker.publish(
            connection_event(h.directory, connection, account_email="someone@example.co.jp"),
            topic=topics.CONNECTIONS,
        )
        await broker.publish(connection_event(h.directory, connection), topic=topics.CONNECTIONS)
        await broker.publish(connection_event(h.directory, connection, "unlinked"), topic=topics.CONNECTIONS)
    body = (await h.client.get(url(created), headers=h.auth())).json()
    assert body["held_calendar_change"] is not None and body["version"] == 2
    outbox = await h.outbox(created["appointment_id"])
    assert kinds(outbox, topics.GOOGLE_APPOINTMENTS) == [("created", 1)]
    assert kinds(outbox, topics.OUTLOOK_APPOINTMENTS) == []


async def test_a_poison_connection_event_is_dead_lettered(h: Harness) -> None:
    broker = h.container.broker
    dead: list[bytes] = []

    @broker.subscriber(topics.dead_letter_topic(topics.CONNECTIONS))
    async def collect(message: KafkaMessage) -> None:
        dead.append(message.body)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"not json", topic=topics.CONNECTIONS, key=b"k1")
    assert dead == [b"not json"]


async def test_cancel_of_an_unlinked_appointment_is_not_held(h: Harness) -> None:
    created = await h.create()
    body = await cancel_held(h, created, 1)
    assert body["held_calendar_change"] is None and body["calendar_sync"]["state"] == "not_linked"


async def test_cancel_when_the_auth_service_cannot_be_asked_is_503(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    h.directory.unavailable = True
    response = await h.client.post(url(created, "/cancel"), headers=h.auth() | {"If-Match": '"1"'})
    assert response.status_code == 503
