"""Drift (R9) over real sockets: push channel notifications from the emulator, polling
fallback, forged notifications, restore policy, unlink stopping the channel."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from calendar_sync.testing import wait_until
from visitor_common.events import (
    CalendarConnectionUnlinked,
    DriftKind,
    Provider,
    SyncState,
    new_event,
    serialize_event,
)

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


def state_of(harness: Any, appointment_id: str, state: SyncState):
    return lambda statuses: any(s.appointment_id == appointment_id and s.state is state for s in statuses)


async def synced_appointment(
    harness: Any, conn: str, name: str, slots: int = 1
) -> tuple[str, dict[str, str]]:
    appt = f"{harness.run_id}-{name}"
    await harness.publish(harness.snapshot(appt, conn, slots=slots, rooms=False))
    await harness.wait_for(state_of(harness, appt, SyncState.SYNCED))
    return appt, dict(harness.latest(appt).provider_event_ids)


async def wait_channel(connector: Any, conn: str) -> None:
    async def opened() -> bool:
        current = await connector.monitor.connections.get(conn)
        return current is not None and bool(current.channel_id)

    await wait_until(opened, what="a push channel")


async def wait_settled(connector: Any, conn: str) -> None:
    """The drift syncs our own writes triggered are done: a cursor is stored, none is running."""

    async def settled() -> bool:
        current = await connector.monitor.connections.get(conn)
        return current is not None and current.cursor is not None and not connector.monitor.syncing

    await wait_until(settled, what="the first drift sync")


async def test_a_direct_deletion_is_reported_through_push(harness: Any) -> None:
    # Polling every 300 s: within the wait below only a push notification can report the drift.
    connector = await harness.start_connector(push=True, drift_poll_seconds=300)
    conn = harness.connection()
    appt, ids = await synced_appointment(harness, conn, "push")
    await wait_channel(connector, conn)
    await wait_settled(connector, conn)
    harness.control.direct_delete(harness.world.admin, ids["slot:s1"])
    await harness.wait_for(state_of(harness, appt, SyncState.DRIFTED))
    drifted = harness.latest(appt)
    assert drifted.appointment_version == 1 and drifted.provider_event_ids == ids
    assert [(c.kind, c.provider_event_id) for c in drifted.drift] == [(DriftKind.DELETED, ids["slot:s1"])]


async def test_a_direct_deletion_is_reported_by_polling_with_push_off(harness: Any) -> None:
    connector = await harness.start_connector(push=False, drift_poll_seconds=1.0)
    conn = harness.connection()
    appt, ids = await synced_appointment(harness, conn, "poll", slots=2)
    await wait_settled(connector, conn)  # one poll: the full listing set the cursor
    harness.control.direct_delete(harness.world.admin, ids["slot:s1"])
    await harness.wait_for(state_of(harness, appt, SyncState.DRIFTED))
    (change,) = harness.latest(appt).drift
    assert (change.kind, change.provider_event_id) == (DriftKind.DELETED, ids["slot:s1"])

    # An expired sync token (410 fullSyncRequired) falls back to a full resync; edits are drift too.
    harness.control.invalidate_sync_tokens(harness.world.admin)
    harness.control.direct_edit(harness.world.admin, ids["slot:s2"], {"summary": "Moved by hand"})
    statuses = await harness.wait_for(
        lambda s: any(x.appointment_id == appt and len(x.drift) == 2 for x in s)
    )
    latest = [x for x in statuses if x.appointment_id == appt][-1]
    edited = next(c for c in latest.drift if c.kind is DriftKind.EDITED)
    assert (edited.field, edited.actual) == ("title", "Moved by hand")


async def test_forged_notifications_change_nothing(harness: Any) -> None:
    connector = await harness.start_connector(push=True, drift_poll_seconds=300)
    conn = harness.connection()
    await synced_appointment(harness, conn, "forged")
    await wait_channel(connector, conn)
    channel = await connector.monitor.connections.get(conn)
    assert channel is not None and channel.channel_id
    await wait_settled(connector, conn)
    listings = "GET /calendar/v3/calendars/primary/events"
    listed_before = harness.control.requests().get(listings, 0)
    genuine_before = connector.monitor.notifications
    # measured right before: a stale channel of an earlier instance on a reused port may knock too
    forged_before = connector.monitor.forged_notifications
    url = f"{connector.monitor.push_address}"
    async with httpx.AsyncClient() as client:
        wrong_token = await client.post(
            url,
            headers={
                "X-Goog-Channel-ID": channel.channel_id,
                "X-Goog-Channel-Token": "forged",
                "X-Goog-Resource-State": "exists",
            },
        )
        unknown = await client.post(
            url,
            headers={
                "X-Goog-Channel-ID": "not-a-channel",
                "X-Goog-Channel-Token": channel.channel_token or "",
                "X-Goog-Resource-State": "exists",
            },
        )
        bare = await client.post(url)
    assert [wrong_token.status_code, unknown.status_code, bare.status_code] == [403, 403, 403]
    assert wrong_token.json()["code"] == "notification_rejected"
    assert connector.monitor.forged_notifications == forged_before + 3
    assert connector.monitor.notifications == genuine_before
    assert not connector.monitor.syncing  # a rejected notification triggers no sync
    # Proving an absence: a deliberate pause in which a (wrongly) triggered sync would list.
    await asyncio.sleep(0.3)
    assert harness.control.requests().get(listings, 0) == listed_before
    assert not any(s.state is SyncState.DRIFTED for s in harness.statuses)


async def test_restore_policy_writes_the_system_version_back(harness: Any) -> None:
    await harness.start_connector(push=True, drift_poll_seconds=300, drift_restore_tenants="tenant-1")
    conn = harness.connection()
    appt, ids = await synced_appointment(harness, conn, "restore")
    harness.control.direct_delete(harness.world.admin, ids["slot:s1"])
    await harness.wait_for(
        lambda s: (
            [x.state for x in s if x.appointment_id == appt][-2:] == [SyncState.DRIFTED, SyncState.SYNCED]
        )
    )
    restored = harness.latest(appt)
    assert restored.provider_event_ids["slot:s1"] != ids["slot:s1"]
    live = [e for e in harness.ours() if e["status"] != "cancelled"]
    assert [e["id"] for e in live] == [restored.provider_event_ids["slot:s1"]]


async def test_unlink_stops_the_push_channel(harness: Any) -> None:
    connector = await harness.start_connector(push=True, drift_poll_seconds=300)
    conn = harness.connection()
    await synced_appointment(harness, conn, "unlink")
    await wait_channel(connector, conn)
    unlinked = CalendarConnectionUnlinked(
        connection_id=conn,
        tenant_id="tenant-1",
        employee_id=f"emp-{harness.world.admin}",
        provider=Provider.GOOGLE,
        account_email=harness.world.admin,
    )
    event = new_event(unlinked, source="urn:test", subject=conn, tenant_id="tenant-1")
    await harness.publish_raw(harness.connections_topic, serialize_event(event), conn.encode())

    async def inactive() -> Any:
        current = await connector.monitor.connections.get(conn)
        return current if current is not None and not current.active else None

    current = await wait_until(inactive, what="the connection's deactivation")
    assert current.channel_id is None
    channels = harness.control.state().get("channels", {})
    assert all(conn not in str(c) for c in (channels.values() if isinstance(channels, dict) else channels))
