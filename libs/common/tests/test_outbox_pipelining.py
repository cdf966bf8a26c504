"""The relay's send path (issue 14): the entries of different topics and keys go out without
waiting for each other's acknowledgement, the entries of one topic and key still one after
another, and nothing counts as sent before the broker acknowledged it."""

from __future__ import annotations

import asyncio
from typing import Any

from visitor_common.outbox import OutboxEntry, OutboxRelay
from visitor_common.persistence import InMemoryDocumentStore


def entry(entry_id: str, topic: str, key: str) -> dict[str, Any]:
    return OutboxEntry(id=entry_id, topic=topic, key=key, payload="{}").model_dump()


class Broker:
    """A publish whose acknowledgements the test releases one by one; records what was in
    flight at once and in which order each ``(topic, key)`` was sent."""

    def __init__(self) -> None:
        self.in_flight: dict[str, asyncio.Future[None]] = {}
        self.sent: list[str] = []
        self.most_in_flight = 0
        self.arrived = asyncio.Event()

    async def publish(self, outgoing: OutboxEntry) -> None:
        ack = asyncio.get_running_loop().create_future()
        self.in_flight[outgoing.id] = ack
        self.sent.append(outgoing.id)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        self.arrived.set()
        try:
            await ack
        finally:
            del self.in_flight[outgoing.id]
            self.arrived.set()

    async def until_in_flight(self, *ids: str) -> None:
        while not set(ids) <= set(self.in_flight):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=5)

    async def until_acknowledged(self, entry_id: str) -> None:
        while entry_id in self.in_flight:  # the publish returns in the step that removes it
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout=5)

    def ack(self, entry_id: str, error: Exception | None = None) -> None:
        future = self.in_flight[entry_id]
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


async def outbox_of(store: InMemoryDocumentStore, doc_id: str) -> list[str]:
    doc = await store.collection("docs").get(doc_id)
    assert doc is not None
    return [e["id"] for e in doc.get("outbox", [])]


async def test_two_topics_of_one_change_are_in_flight_at_once_and_one_lane_stays_in_order() -> None:
    store = InMemoryDocumentStore()
    docs = store.collection("docs")
    outbox = [
        entry("life-1", "lifecycle", "a1"),
        entry("google-1", "google", "a1"),
        entry("life-2", "lifecycle", "a1"),
    ]
    await docs.insert({"_id": "a1", "version": 1, "outbox": outbox})
    broker = Broker()
    relay = OutboxRelay([docs], broker.publish)
    drain = asyncio.create_task(relay.drain())

    await broker.until_in_flight("life-1", "google-1")  # the provider copy does not wait
    assert "life-2" not in broker.sent  # ... but the lifecycle's second waits for its first ack
    broker.ack("google-1")
    broker.ack("life-1")
    await broker.until_in_flight("life-2")
    broker.ack("life-2")

    assert await drain == 3
    assert broker.sent.index("life-1") < broker.sent.index("life-2")
    assert await outbox_of(store, "a1") == []


async def test_documents_of_one_round_go_out_together() -> None:
    store = InMemoryDocumentStore()
    docs = store.collection("docs")
    for doc_id in ("a1", "a2", "a3"):
        await docs.insert({"_id": doc_id, "version": 1, "outbox": [entry(f"{doc_id}-1", "t", doc_id)]})
    broker = Broker()
    drain = asyncio.create_task(OutboxRelay([docs], broker.publish).drain())

    await broker.until_in_flight("a1-1", "a2-1", "a3-1")
    for doc_id in ("a3", "a1", "a2"):
        broker.ack(f"{doc_id}-1")
    assert await drain == 3
    assert broker.most_in_flight == 3


async def test_a_failed_send_keeps_it_and_the_rest_of_its_lane_while_other_lanes_are_done() -> None:
    store = InMemoryDocumentStore()
    docs = store.collection("docs")
    outbox = [
        entry("life-1", "lifecycle", "a1"),
        entry("google-1", "google", "a1"),
        entry("life-2", "lifecycle", "a1"),
    ]
    await docs.insert({"_id": "a1", "version": 1, "outbox": outbox})
    broker = Broker()
    relay = OutboxRelay([docs], broker.publish)
    drain = asyncio.create_task(relay.drain())

    await broker.until_in_flight("life-1", "google-1")
    broker.ack("life-1", ConnectionError("broker down"))
    broker.ack("google-1")

    assert await drain == 1
    assert "life-2" not in broker.sent  # never sent ahead of the one that failed
    assert await outbox_of(store, "a1") == ["life-1", "life-2"]  # kept, in order, for the next round


async def test_an_entry_in_flight_when_the_relay_stops_stays_in_the_outbox() -> None:
    store = InMemoryDocumentStore()
    docs = store.collection("docs")
    outbox = [entry("life-1", "lifecycle", "a1"), entry("google-1", "google", "a1")]
    await docs.insert({"_id": "a1", "version": 1, "outbox": outbox})
    broker = Broker()
    relay = OutboxRelay([docs], broker.publish, poll_interval=60)
    relay.start()
    relay.notify()

    await broker.until_in_flight("life-1", "google-1")
    broker.ack("google-1")
    await broker.until_acknowledged("google-1")  # seen by the relay before the stop
    await relay.stop()

    assert await outbox_of(store, "a1") == ["life-1"]  # never acknowledged: sent again later


async def test_a_drain_asked_while_one_runs_sends_nothing_twice() -> None:
    """The relay's own round and a caller's ``drain`` (a test reading what was published, say)
    read the same pending entries: one waits for the other, and the second reads only what the
    first left."""
    store = InMemoryDocumentStore()
    docs = store.collection("docs")
    await docs.insert({"_id": "a1", "version": 1, "outbox": [entry("life-1", "lifecycle", "a1")]})
    sent: list[str] = []
    publishing, acknowledge = asyncio.Event(), asyncio.Event()

    async def publish(outgoing: OutboxEntry) -> None:
        sent.append(outgoing.id)
        publishing.set()
        await acknowledge.wait()

    relay = OutboxRelay([docs], publish)
    first = asyncio.create_task(relay.drain())
    await asyncio.wait_for(publishing.wait(), timeout=5)
    second = asyncio.create_task(relay.drain())
    for _ in range(10):  # no I/O in the in-memory store: a few steps take the second drain its whole way
        await asyncio.sleep(0)
    acknowledge.set()

    assert (await first, await second) == (1, 0)
    assert sent == ["life-1"]
