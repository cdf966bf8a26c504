"""Drift (R9) pushed through Graph subscriptions, and polled when push is off."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


async def _synced_hold(
    fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> tuple[Any, Any, str]:
    conn = fake_auth.link(graph_emulator.world.host)
    snapshot = h.make_snapshot(conn)
    await h.publish_snapshot(producer, snapshot)
    synced = await statuses.wait_state(snapshot.appointment_id, "synced", 1)
    return conn, snapshot, synced.provider_event_ids["slot:s1"]


async def _settled(connector: Any, conn: Any, h: Any) -> None:
    """The drift syncs our own writes triggered are done: a delta cursor is stored, none runs."""
    monitor = connector.components.monitor

    async def settled() -> bool:
        current = await monitor.connections.get(conn.connection_id)
        return current is not None and current.cursor is not None and not monitor.syncing

    await h.until(settled)


def _subscriptions(graph_emulator: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = graph_emulator.control.state()["subscriptions"]
    return result


async def test_a_direct_deletion_is_pushed_as_drift(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    # Polling every 60 s (the harness default): within the wait only a notification reports drift.
    connector = await start_connector()
    conn, snapshot, event_id = await _synced_hold(fake_auth, graph_emulator, producer, statuses, h)
    # The first appointment of a connection starts watching it: a subscription, validated by Graph.
    await h.until(lambda: len(_subscriptions(graph_emulator)) == 1)
    sub = _subscriptions(graph_emulator)[0]
    assert sub["notification_url"] == f"{connector.url}/notifications/outlook"
    assert sub["client_state"] and len(sub["client_state"]) >= 32
    await _settled(connector, conn, h)

    graph_emulator.control.delete_event(graph_emulator.world.host, event_id)
    drifted = await statuses.wait_state(snapshot.appointment_id, "drifted")
    assert [(d.kind.value, d.provider_event_id, d.entry_key) for d in drifted.drift] == [
        ("deleted", event_id, "slot:s1")
    ]
    assert drifted.appointment_version == 1


async def test_a_direct_edit_is_polled_as_drift_when_push_is_off(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    connector = await start_connector(drift_push_enabled=False, drift_poll_seconds=1.0)
    conn, snapshot, event_id = await _synced_hold(fake_auth, graph_emulator, producer, statuses, h)
    await _settled(connector, conn, h)  # one poll: the first full listing set the delta cursor
    assert _subscriptions(graph_emulator) == []
    graph_emulator.control.edit_event(graph_emulator.world.host, event_id, {"subject": "Lunch instead"})
    drifted = await statuses.wait_state(snapshot.appointment_id, "drifted")
    change = next(d for d in drifted.drift if d.field == "title")
    assert change.kind.value == "edited" and change.actual == "Lunch instead"


async def test_restore_policy_writes_the_system_version_back(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    connector = await start_connector(drift_policy="restore")
    conn, snapshot, event_id = await _synced_hold(fake_auth, graph_emulator, producer, statuses, h)
    await h.until(lambda: len(_subscriptions(graph_emulator)) == 1)
    await _settled(connector, conn, h)  # a deltaLink is stored before Graph invalidates it
    # The stored deltaLink is no longer valid (Graph reset): the next sync is a full resync.
    graph_emulator.control.invalidate_delta(graph_emulator.world.host)
    graph_emulator.control.delete_event(graph_emulator.world.host, event_id)
    await statuses.wait_state(snapshot.appointment_id, "drifted")
    await h.until(lambda: len(h.ours(graph_emulator.host_events(), snapshot.appointment_id)) == 1)
    restored = h.ours(graph_emulator.host_events(), snapshot.appointment_id)[0]
    assert restored["id"] != event_id and restored["showAs"] == "tentative"


async def test_a_wrong_client_state_changes_nothing(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    connector = await start_connector()
    conn, snapshot, event_id = await _synced_hold(fake_auth, graph_emulator, producer, statuses, h)
    await h.until(lambda: len(_subscriptions(graph_emulator)) == 1)
    await _settled(connector, conn, h)
    sub = _subscriptions(graph_emulator)[0]
    monitor = connector.components.monitor
    forged_before, delta_before = monitor.forged_notifications, _delta_calls(graph_emulator)
    body = {
        "value": [
            {
                "subscriptionId": sub["id"],
                "clientState": "not-the-secret",
                "changeType": "deleted",
                "resource": f"Users/x/Events/{event_id}",
                "resourceData": {"id": event_id},
            },
            {
                "subscriptionId": sub["id"],
                "clientState": "not-the-secret",
                "lifecycleEvent": "subscriptionRemoved",
            },
        ]
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{connector.url}/notifications/outlook", json=body)
    assert response.status_code == 202
    await h.until(lambda: monitor.forged_notifications == forged_before + 2)
    assert not monitor.syncing  # a rejected notification triggers no sync
    # Proving an absence: a deliberate pause in which a (wrongly) triggered sync would call delta.
    await asyncio.sleep(0.3)
    assert _delta_calls(graph_emulator) == delta_before
    assert _subscriptions(graph_emulator)[0]["id"] == sub["id"]
    assert all(s.state.value == "synced" for s in statuses.by_appointment[snapshot.appointment_id])


async def test_lifecycle_notifications_and_unlink(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    connector = await start_connector()
    conn = fake_auth.link(graph_emulator.world.host)
    await h.publish_connection_event(producer, conn, "linked")
    await h.until(lambda: len(_subscriptions(graph_emulator)) == 1)
    first = _subscriptions(graph_emulator)[0]
    monitor = connector.components.monitor

    # reauthorizationRequired → renewed in place (PATCH), same subscription
    await asyncio.to_thread(graph_emulator.control.lifecycle, first["id"], "reauthorizationRequired")
    await h.until(lambda: monitor.lifecycle_handled >= 1)
    await h.until(
        lambda: graph_emulator.control.requests().get(f"PATCH /v1.0/subscriptions/{first['id']}", 0) == 1
    )

    # missed → a delta resync
    delta_before = _delta_calls(graph_emulator)
    await asyncio.to_thread(graph_emulator.control.lifecycle, first["id"], "missed")
    await h.until(lambda: _delta_calls(graph_emulator) > delta_before)

    # subscriptionRemoved → a new subscription
    await asyncio.to_thread(graph_emulator.control.lifecycle, first["id"], "subscriptionRemoved")
    await h.until(lambda: [s["id"] for s in _subscriptions(graph_emulator)] not in ([], [first["id"]]))
    assert len(_subscriptions(graph_emulator)) == 1

    # unlink → the subscription is deleted
    await h.publish_connection_event(producer, conn, "unlinked")
    await h.until(lambda: _subscriptions(graph_emulator) == [])


def _delta_calls(graph_emulator: Any) -> int:
    return sum(n for k, n in graph_emulator.control.requests().items() if "calendarView/delta" in k)
