"""Lookups through ``ensure_indexes(lookup=...)``: every adapter finds exactly what a scan finds,
while documents move between values, and the embedded adapters serve them from an index."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from visitor_common.persistence import DocumentStore, DuplicateKeyError, InMemoryDocumentStore, UniqueIndex
from visitor_common.persistence.sqlite import SqliteDocumentStore


def name() -> str:
    return f"c_{uuid.uuid4().hex[:8]}"


async def test_indexed_lookups_follow_inserts_replaces_and_deletes(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "before-index", "version": 1, "active": True, "channel_id": "ch-0"})
    await coll.ensure_indexes([], lookup=["active", "channel_id", "meta.owner"])
    for n in range(1, 6):
        await coll.insert({"_id": f"c{n}", "version": 1, "active": n % 2 == 1, "channel_id": f"ch-{n}"})
    await coll.insert({"_id": "listy", "version": 1, "channel_id": ["x"], "meta": {"owner": "a"}})

    assert [d["_id"] for d in await coll.find({"active": True})] == ["before-index", "c1", "c3", "c5"]
    assert [d["_id"] for d in await coll.find({"channel_id": "ch-0"})] == ["before-index"]
    assert [d["_id"] for d in await coll.find({"meta.owner": "a"})] == ["listy"]
    assert [d["_id"] for d in await coll.find({"channel_id": ["x"]})] == ["listy"]

    await coll.replace({"_id": "c1", "version": 2, "active": False, "channel_id": "ch-9"}, expected_version=1)
    await coll.delete("c3")
    assert [d["_id"] for d in await coll.find({"active": True})] == ["before-index", "c5"]
    assert await coll.find({"channel_id": "ch-1"}) == []
    assert [d["_id"] for d in await coll.find({"channel_id": "ch-9", "active": False})] == ["c1"]
    assert [d["_id"] for d in await coll.find({"active": False}, limit=2)] == ["c1", "c2"]


async def test_a_flag_lookup_matches_like_a_scan(store: DocumentStore) -> None:
    """``True == 1`` for ``matches``; the index must not change what a lookup finds."""
    coll = store.collection(name())
    await coll.ensure_indexes([], lookup=["active"])
    await coll.insert({"_id": "bool", "version": 1, "active": True})
    await coll.insert({"_id": "int", "version": 1, "active": 1})
    await coll.insert({"_id": "off", "version": 1, "active": False})
    await coll.insert({"_id": "none", "version": 1, "active": None})
    assert sorted(d["_id"] for d in await coll.find({"active": True})) == ["bool", "int"]
    assert [d["_id"] for d in await coll.find({"active": False})] == ["off"]
    assert [d["_id"] for d in await coll.find({"active": None})] == ["none"]


async def test_unique_checks_still_refuse_duplicates_after_moves(store: DocumentStore) -> None:
    coll = store.collection(name())
    index = UniqueIndex("token", ("token_hash",))
    await coll.ensure_indexes([index])
    await coll.insert({"_id": "a", "version": 1, "token_hash": "x"})
    await coll.replace({"_id": "a", "version": 2, "token_hash": "y"}, expected_version=1)
    await coll.insert({"_id": "b", "version": 1, "token_hash": "x"})  # x is free again
    with pytest.raises(DuplicateKeyError):
        await coll.insert({"_id": "c", "version": 1, "token_hash": "y"})
    await coll.replace({"_id": "a", "version": 3, "token_hash": "y"}, expected_version=2)  # itself


async def test_memory_lookup_does_not_scan_the_collection() -> None:
    coll = InMemoryDocumentStore().collection("c")
    await coll.ensure_indexes([], lookup=["channel_id"])
    for n in range(2000):
        await coll.insert({"_id": f"c{n}", "version": 1, "channel_id": f"ch-{n}"})
    assert coll._candidates({"channel_id": "ch-7"}) == [await coll.get("c7")]


def test_sqlite_lookups_use_their_index(tmp_path: Path) -> None:
    import asyncio

    async def fill() -> None:
        store = SqliteDocumentStore(tmp_path / "s.db")
        coll = store.collection("conns")
        await coll.ensure_indexes([], lookup=["active", "channel_id"])
        await coll.insert({"_id": "a", "version": 1, "active": True, "channel_id": "x"})
        await store.close()

    asyncio.run(fill())
    from visitor_common.persistence.sqlite import _pushed_down

    db = sqlite3.connect(tmp_path / "s.db")
    for filter in ({"active": True}, {"channel_id": "x"}):
        clauses, params = _pushed_down(filter)
        plan = db.execute(f"EXPLAIN QUERY PLAN SELECT doc FROM conns WHERE {' AND '.join(clauses)}", params)  # noqa: S608
        assert "USING INDEX conns__lookup__" in " ".join(str(row[-1]) for row in plan)
