"""The long poll on the sync state (answered when a connector report is stored) and the
connection-status view fed by the connections topic (the R8 check without a call to auth)."""

from __future__ import annotations

import asyncio
from typing import Any

from appointments_testkit import Harness, connection_event, status_event
from faststream.kafka import TestKafkaBroker

from appointments_service.service_layer.connection_view import ConnectionStatusView
from visitor_common import topics
from visitor_common.events import (
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    ConnectionStatus,
    Provider,
    RoomPreferenceChanged,
)


def sync_url(created: dict[str, Any], **query: Any) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/v1/appointments/{created['appointment_id']}/sync?{params}"


def pick_url(created: dict[str, Any]) -> str:
    return f"/v1/guest/appointments/{created['guest_token']}/pick"


async def test_long_poll_answers_when_the_report_is_stored(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    now = (await h.client.get(sync_url(created), headers=h.auth())).json()
    assert now["revision"] == 0 and now["calendar_sync"]["state"] == "pending"
    async with TestKafkaBroker(h.container.broker) as broker:
        waiting = asyncio.create_task(
            h.client.get(sync_url(created, after_revision=0, wait=20), headers=h.auth())
        )
        await asyncio.sleep(0.05)  # let the request start waiting (the answer below is awaited)
        assert not waiting.done()
        await broker.publish(
            status_event(created), topic=topics.SYNC_STATUS, key=created["appointment_id"].encode()
        )
        answered = (await asyncio.wait_for(waiting, timeout=15)).json()
    assert answered["revision"] == 1
    assert answered["calendar_sync"]["state"] == "synced"
    assert answered["calendar_sync"]["appointment_version"] == 1


async def test_long_poll_without_a_change_answers_the_current_state_after_the_wait(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    answered = await h.client.get(sync_url(created, after_revision=0, wait=0.2), headers=h.auth())
    assert answered.status_code == 200 and answered.json()["revision"] == 0


async def test_long_poll_is_the_host_s_only(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    other = await h.client.get(sync_url(created, wait=0), headers=h.auth(employee="e2"))
    assert other.status_code in (403, 404)
    too_long = await h.client.get(sync_url(created, wait=600), headers=h.auth())
    assert too_long.status_code == 422


async def test_the_view_answers_the_pick_s_binding_check_without_asking_auth(h: Harness) -> None:
    connection = h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(
            connection_event(h.directory, connection, "linked"),
            topic=topics.CONNECTIONS,
            key=connection.encode(),
        )
        h.directory.calls.clear()
        picked = await h.client.post(pick_url(created), json={"slot_id": created["candidates"][0]["slot_id"]})
    assert picked.status_code == 200
    assert not [c for c in h.directory.calls if c.startswith("connection:")]


async def test_an_announced_unlink_blocks_the_pick_even_before_auth_is_asked(h: Harness) -> None:
    connection = h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    async with TestKafkaBroker(h.container.broker) as broker:
        await broker.publish(
            connection_event(h.directory, connection, "unlinked"),
            topic=topics.CONNECTIONS,
            key=connection.encode(),
        )
        picked = await h.client.post(pick_url(created), json={"slot_id": created["candidates"][0]["slot_id"]})
    assert picked.status_code == 409


def test_the_view_keeps_the_latest_announced_status() -> None:
    view = ConnectionStatusView()
    assert view.status("c1") is None
    info = {
        "tenant_id": "t1",
        "employee_id": "e1",
        "provider": Provider.GOOGLE,
        "account_email": "a@example.jp",
    }
    view.apply("c1", CalendarConnectionLinked(connection_id="c1", **info))
    assert view.status("c1") is ConnectionStatus.ACTIVE
    view.apply("c1", RoomPreferenceChanged(connection_id="c1", room_group_id="g", **info))
    assert view.status("c1") is ConnectionStatus.ACTIVE
    view.apply("c1", CalendarConnectionReauthRequired(connection_id="c1", **info))
    assert view.status("c1") is ConnectionStatus.REAUTH_REQUIRED
    view.apply("c1", CalendarConnectionUnlinked(connection_id="c1", **info))
    assert view.status("c1") is ConnectionStatus.UNLINKED


async def test_a_connection_the_view_has_not_heard_of_is_asked_of_auth(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    h.directory.calls.clear()
    picked = await h.client.post(pick_url(created), json={"slot_id": created["candidates"][0]["slot_id"]})
    assert picked.status_code == 200
    assert [c for c in h.directory.calls if c.startswith("connection:")]
