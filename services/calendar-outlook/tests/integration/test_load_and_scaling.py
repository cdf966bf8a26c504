"""Throttling storms, the per-mailbox concurrency limit, and scaling out by consumer group.

``OUTLOOK_LOAD_APPOINTMENTS`` sets the size of the storm (default 200).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from calendar_sync.testing import group_settled
from visitor_common import topics
from visitor_common.persistence import InMemoryDocumentStore

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

LOAD = int(os.environ.get("OUTLOOK_LOAD_APPOINTMENTS", "200"))


def _snapshots(h: Any, conn: Any, count: int) -> list[Any]:
    return [
        h.make_snapshot(conn, slots=[("s1", h.slot_time(2 + i // 20, i % 20), None)]) for i in range(count)
    ]


def _all_synced(statuses: Any, snapshots: list[Any]) -> bool:
    return all(
        (latest := statuses.latest(s.appointment_id)) is not None and latest.state.value == "synced"
        for s in snapshots
    )


def _events_per_appointment(h: Any, graph_emulator: Any, snapshots: list[Any]) -> dict[str, int]:
    events = graph_emulator.host_events()
    return {s.appointment_id: len(h.ours(events, s.appointment_id)) for s in snapshots}


async def test_a_429_storm_ends_synced_with_one_event_each_and_at_most_four_in_flight(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    control = graph_emulator.control
    control.settings(enforce_mailbox_concurrency=True, graph_latency_ms=15)
    control.add_fault(r"^/v1\.0/", status=429, retry_after=1, probability=0.3, seed=7)
    # more consumers than the mailbox's four slots, so the limiter, not the worker count, is what
    # holds the fifth request back (and the storm's Retry-After waits overlap)
    connector = await start_connector(retry_max_attempts=8, consumer_max_workers=6)
    conn = fake_auth.link(graph_emulator.world.host)
    snapshots = _snapshots(h, conn, LOAD)
    await asyncio.gather(*(h.publish_snapshot(producer, s) for s in snapshots))

    await statuses.wait_for(lambda c: _all_synced(c, snapshots), timeout=90)

    counts = _events_per_appointment(h, graph_emulator, snapshots)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    host = graph_emulator.world.host
    concurrency = graph_emulator.concurrency()
    assert 1 <= concurrency["max_in_flight"][host] <= 4
    assert concurrency["throttled"].get(host, 0) == 0  # the emulator never had to refuse a 5th request
    assert connector.components.provider.client.limiter.max_in_flight[host] <= 4
    faults = control.call("GET", "/faults")["faults"]
    assert faults[0]["hits"] > LOAD * 0.2  # the storm really happened


async def test_two_instances_split_the_work_without_duplicates(
    start_connector: Any, fake_auth: Any, graph_emulator: Any, producer: Any, statuses: Any, h: Any
) -> None:
    store = InMemoryDocumentStore()  # the database both instances share
    first = await start_connector(store=store, consumer_max_workers=3)
    second = await start_connector(store=store, consumer_max_workers=3)
    brokers = [c.components.broker for c in (first, second)]
    # The topic may come from an earlier suite with another partition count: count what it has.
    await h.until(lambda: group_settled(brokers, topics.OUTLOOK_APPOINTMENTS))
    conn = fake_auth.link(graph_emulator.world.host)
    snapshots = _snapshots(h, conn, 30)
    await asyncio.gather(*(h.publish_snapshot(producer, s) for s in snapshots))
    await statuses.wait_for(lambda c: _all_synced(c, snapshots), timeout=60)

    assert set(_events_per_appointment(h, graph_emulator, snapshots).values()) == {1}
    handled = [c.components.consumer.stats.synced for c in (first, second)]
    assert all(n > 0 for n in handled), handled
    assert sum(handled) == len(snapshots), handled
