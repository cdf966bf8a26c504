"""Two outbox relays on one store (two replicas of a service) while 1,000 changes are written
concurrently: every entry is published, no entry comes back after its removal, and no relay
publishes an entry twice. Two relays that read the same pending entry may both publish it once
(at-least-once, consumers drop it by event id); what must never happen is the race of issue 12,
a change writing back an entry the relay already published and removed."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from visitor_common.outbox import OutboxEntry, OutboxRelay
from visitor_common.persistence import DocumentCollection, DocumentStore, UniqueIndex, VersionConflictError
from visitor_common.persistence.base import Document

CHANGES = 1_000
DOCUMENTS = 50


class Watched:
    """A collection that notes every removal, and flags an entry a listing returns although its
    removal had completed before that listing began."""

    def __init__(self, inner: DocumentCollection) -> None:
        self.inner = inner
        self.removed: set[str] = set()
        self.revived: list[str] = []

    async def ensure_indexes(self, unique: Sequence[UniqueIndex], lookup: Sequence[str] = ()) -> None:
        await self.inner.ensure_indexes(unique, lookup)

    async def insert(self, doc: Document) -> None:
        await self.inner.insert(doc)

    async def get(self, doc_id: str) -> Document | None:
        return await self.inner.get(doc_id)

    async def find(
        self, filter: Mapping[str, Any], *, limit: int | None = None, sort: str | None = None
    ) -> list[Document]:
        return await self.inner.find(filter, limit=limit, sort=sort)

    async def replace(
        self, doc: Document, *, expected_version: int, append_outbox: Sequence[Document] = ()
    ) -> None:
        await self.inner.replace(doc, expected_version=expected_version, append_outbox=append_outbox)

    async def delete(self, doc_id: str) -> bool:
        return await self.inner.delete(doc_id)

    async def find_with_outbox(self, *, limit: int) -> list[Document]:
        gone = set(self.removed)
        found = await self.inner.find_with_outbox(limit=limit)
        self.revived += [e["id"] for d in found for e in d["outbox"] if e["id"] in gone]
        return found

    async def remove_from_outbox(self, doc_id: str, event_ids: Sequence[str]) -> None:
        await self.inner.remove_from_outbox(doc_id, event_ids)
        self.removed.update(event_ids)


def entry(i: int, doc_id: str) -> dict[str, Any]:
    return OutboxEntry(id=f"e{i}", topic="t", key=doc_id, payload="{}").model_dump()


async def change(coll: DocumentCollection, doc_id: str, i: int, order: dict[str, list[str]]) -> None:
    """One change of ``doc_id`` with one event: read, then compare-and-set (retried on a race)."""
    while True:
        current = await coll.get(doc_id)
        assert current is not None
        await asyncio.sleep(0.001)  # the use case's own work between its read and its write
        body = {k: v for k, v in current.items() if k != "outbox"}
        try:
            await coll.replace(
                body | {"version": current["version"] + 1, "last": i},
                expected_version=current["version"],
                append_outbox=[entry(i, doc_id)],
            )
        except VersionConflictError:
            await asyncio.sleep(0)
            continue
        order[doc_id].append(f"e{i}")
        return


async def test_two_relays_publish_every_entry_and_none_comes_back(store: DocumentStore) -> None:
    coll = Watched(store.collection(f"c_{uuid.uuid4().hex[:8]}"))
    ids = [f"d{n}" for n in range(DOCUMENTS)]
    for doc_id in ids:
        await coll.insert({"_id": doc_id, "version": 1, "outbox": []})

    published: dict[str, list[str]] = {"a": [], "b": []}

    def recorder(name: str) -> Any:
        async def publish(sent: OutboxEntry) -> None:
            await asyncio.sleep(0)  # the broker's round trip: let the other side interleave
            published[name].append(sent.id)

        return publish

    relays = [OutboxRelay([coll], recorder(name), poll_interval=0.01, batch_size=10) for name in published]
    order: dict[str, list[str]] = defaultdict(list)  # per document, the entries in the order stored

    async def changed(i: int) -> None:
        await change(coll, ids[i % DOCUMENTS], i, order)
        for relay in relays:
            relay.notify()

    for relay in relays:
        relay.start()
    try:
        await asyncio.gather(*(changed(i) for i in range(CHANGES)))
        deadline = asyncio.get_running_loop().time() + 120
        while await coll.find_with_outbox(limit=1):
            assert asyncio.get_running_loop().time() < deadline, "the relays did not drain the outbox"
            await asyncio.sleep(0.05)
    finally:
        for relay in relays:
            await relay.stop()

    counts = Counter(published["a"] + published["b"])
    assert set(counts) == {f"e{i}" for i in range(CHANGES)}, "every entry is published"
    assert coll.revived == [], "an entry came back into the outbox after its removal"
    position = {e: n for entries in order.values() for n, e in enumerate(entries)}
    doc_of = {e: d for d, entries in order.items() for e in entries}
    for name, sent in published.items():
        assert len(sent) == len(set(sent)), f"relay {name} published an entry twice"
        by_doc: dict[str, list[int]] = defaultdict(list)
        for e in sent:
            by_doc[doc_of[e]].append(position[e])
        assert all(p == sorted(p) for p in by_doc.values()), f"relay {name} broke a document's order"
    assert max(counts.values()) <= 2, "at most one copy per relay"
    for doc_id in ids:
        doc = await coll.get(doc_id)
        assert doc is not None and doc["version"] == 1 + len(order[doc_id]) and doc["outbox"] == []
