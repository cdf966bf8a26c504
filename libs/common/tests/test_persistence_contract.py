"""One contract, three adapters: the in-memory and SQLite stores always, MongoDB when one is
reachable.

Every repository in the services is written against this behaviour, so all adapters must
agree on it exactly.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from visitor_common.persistence import (
    DocumentStore,
    DuplicateKeyError,
    InvalidWriteError,
    UniqueIndex,
    VersionConflictError,
)

CODE_INDEX = UniqueIndex("reception_code_active", ("tenant_id", "code"), {"status": "confirmed"})


def name() -> str:
    return f"c_{uuid.uuid4().hex[:8]}"


async def test_insert_get_round_trip_and_copy_semantics(store: DocumentStore) -> None:
    coll = store.collection(name())
    doc = {"_id": "a", "version": 1, "nested": {"x": [1, 2]}, "outbox": []}
    await coll.insert(doc)
    doc["nested"]["x"].append(3)  # the caller's copy must not leak into the store
    got = await coll.get("a")
    assert got == {"_id": "a", "version": 1, "nested": {"x": [1, 2]}, "outbox": []}
    assert await coll.get("missing") is None


async def test_duplicate_id_is_refused(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1})
    with pytest.raises(DuplicateKeyError):
        await coll.insert({"_id": "a", "version": 1})


async def test_replace_is_compare_and_set_on_version(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "title": "old"})
    await coll.replace({"_id": "a", "version": 2, "title": "new"}, expected_version=1)
    with pytest.raises(VersionConflictError):
        await coll.replace({"_id": "a", "version": 2, "title": "lost update"}, expected_version=1)
    with pytest.raises(VersionConflictError):
        await coll.replace({"_id": "missing", "version": 2}, expected_version=1)
    assert (await coll.get("a")) == {"_id": "a", "version": 2, "title": "new"}


async def test_concurrent_writers_exactly_one_wins(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "winner": None})

    async def write(who: str) -> bool:
        try:
            await coll.replace({"_id": "a", "version": 2, "winner": who}, expected_version=1)
            return True
        except VersionConflictError:
            return False

    results = await asyncio.gather(*(write(f"w{i}") for i in range(10)))
    assert results.count(True) == 1
    assert (await coll.get("a"))["winner"] == f"w{results.index(True)}"


async def test_partial_unique_index_applies_only_to_matching_documents(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.ensure_indexes([CODE_INDEX])
    await coll.insert({"_id": "a", "version": 1, "tenant_id": "t1", "status": "confirmed", "code": "123456"})
    # Same code in another tenant, or on a cancelled appointment: allowed.
    await coll.insert({"_id": "b", "version": 1, "tenant_id": "t2", "status": "confirmed", "code": "123456"})
    await coll.insert({"_id": "c", "version": 1, "tenant_id": "t1", "status": "cancelled", "code": "123456"})
    with pytest.raises(DuplicateKeyError) as caught:
        await coll.insert(
            {"_id": "d", "version": 1, "tenant_id": "t1", "status": "confirmed", "code": "123456"}
        )
    assert caught.value.index == "reception_code_active"
    # Re-activating the cancelled one would collide too, and the failed write changes nothing.
    with pytest.raises(DuplicateKeyError):
        await coll.replace(
            {"_id": "c", "version": 2, "tenant_id": "t1", "status": "confirmed", "code": "123456"},
            expected_version=1,
        )
    assert (await coll.get("c"))["status"] == "cancelled"
    assert await coll.get("d") is None


async def test_find_by_dotted_equality_with_sort_and_limit(store: DocumentStore) -> None:
    coll = store.collection(name())
    for i in range(5):
        await coll.insert({"_id": f"a{i}", "version": 1, "n": i, "meta": {"tenant": "t1" if i % 2 else "t2"}})
    found = await coll.find({"meta.tenant": "t1"}, sort="-n")
    assert [d["_id"] for d in found] == ["a3", "a1"]
    assert [d["_id"] for d in await coll.find({}, sort="n", limit=2)] == ["a0", "a1"]
    assert await coll.find({"meta.tenant": "nobody"}) == []


async def test_outbox_listing_and_removal_keep_order(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "outbox": [{"id": "e1"}, {"id": "e2"}, {"id": "e3"}]})
    await coll.insert({"_id": "b", "version": 1, "outbox": []})
    pending = await coll.find_with_outbox(limit=10)
    assert [d["_id"] for d in pending] == ["a"]
    await coll.remove_from_outbox("a", ["e1", "e2"])
    assert (await coll.get("a"))["outbox"] == [{"id": "e3"}]
    await coll.remove_from_outbox("a", ["e3"])
    assert await coll.find_with_outbox(limit=10) == []


async def test_delete(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1})
    assert await coll.delete("a") is True
    assert await coll.delete("a") is False
    assert await coll.get("a") is None


async def test_unique_index_on_nested_fields_with_a_boolean_partial(store: DocumentStore) -> None:
    # The shape the appointments service uses: reception.code unique per tenant while active.
    coll = store.collection(name())
    index = UniqueIndex("code_active", ("tenant_id", "reception.code"), {"reception.active": True})
    await coll.ensure_indexes([index], lookup=["tenant_id"])
    await coll.ensure_indexes([index], lookup=["tenant_id"])  # idempotent, as at every start

    def doc(doc_id: str, code: str, active: bool) -> dict[str, object]:
        return {"_id": doc_id, "version": 1, "tenant_id": "t1", "reception": {"code": code, "active": active}}

    await coll.insert(doc("a", "受付-1", True))
    await coll.insert(doc("b", "受付-1", False))
    await coll.insert(doc("c", "受付-2", True))
    with pytest.raises(DuplicateKeyError) as caught:
        await coll.insert(doc("d", "受付-1", True))
    assert caught.value.index == "code_active"
    # Retiring the first code frees it for another appointment.
    await coll.replace(doc("a", "受付-1", False) | {"version": 2}, expected_version=1)
    await coll.insert(doc("d", "受付-1", True))
    active = await coll.find({"reception.code": "受付-1", "reception.active": True})
    assert [d["_id"] for d in active] == ["d"]


async def test_find_matches_null_and_non_string_values_exactly(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "room": None, "n": 2, "ok": True})
    await coll.insert({"_id": "b", "version": 1, "n": 3, "ok": False})
    assert [d["_id"] for d in await coll.find({"room": None})] == ["a"]
    assert [d["_id"] for d in await coll.find({"n": 3})] == ["b"]
    assert [d["_id"] for d in await coll.find({"ok": True, "_id": "a"})] == ["a"]
    assert await coll.find({"_id": "b", "ok": True}) == []


async def test_the_outbox_is_written_with_the_change_and_survives_a_refused_replace(
    store: DocumentStore,
) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "outbox": []})
    await coll.replace({"_id": "a", "version": 2}, expected_version=1, append_outbox=[{"id": "e1"}])
    with pytest.raises(VersionConflictError):  # a stale writer neither adds nor drops events
        await coll.replace({"_id": "a", "version": 2}, expected_version=1, append_outbox=[{"id": "e9"}])
    assert [d["outbox"] for d in await coll.find_with_outbox(limit=10)] == [[{"id": "e1"}]]
    await coll.remove_from_outbox("a", ["e1"])
    assert (await coll.get("a")) == {"_id": "a", "version": 2, "outbox": []}
    await coll.remove_from_outbox("missing", ["e1"])  # nothing to do, no error


async def test_a_change_appends_to_the_outbox_and_never_brings_a_removed_entry_back(
    store: DocumentStore,
) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "title": "old", "outbox": [{"id": "e1"}]})
    read = await coll.get("a")  # a change reads the document with e1 pending ...
    assert read is not None
    await coll.remove_from_outbox("a", ["e1"])  # ... the relay publishes and removes e1 ...
    changed = {k: v for k, v in read.items() if k != "outbox"} | {"version": 2, "title": "new"}
    await coll.replace(changed, expected_version=1, append_outbox=[{"id": "e2"}, {"id": "e3"}])
    # ... and the change's write adds its own entries, in order, without e1 coming back.
    assert await coll.get("a") == {
        "_id": "a",
        "version": 2,
        "title": "new",
        "outbox": [{"id": "e2"}, {"id": "e3"}],
    }
    await coll.replace({"_id": "a", "version": 3}, expected_version=2, append_outbox=[{"id": "e4"}])
    assert [e["id"] for e in (await coll.get("a"))["outbox"]] == ["e2", "e3", "e4"]


async def test_an_outbox_array_is_created_by_the_first_append(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1})
    await coll.replace({"_id": "a", "version": 2}, expected_version=1)
    assert await coll.get("a") == {"_id": "a", "version": 2}
    await coll.replace({"_id": "a", "version": 3}, expected_version=2, append_outbox=[{"id": "e1"}])
    assert [d["_id"] for d in await coll.find_with_outbox(limit=10)] == ["a"]


async def test_a_write_sets_the_fields_it_carries_and_keeps_the_others(store: DocumentStore) -> None:
    # MongoDB's $set: callers write whole aggregates, so nothing they mean to keep is lost.
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "title": "old", "room": "r1", "nested": {"x": 1, "y": 2}})
    await coll.replace({"_id": "a", "version": 2, "title": "new", "nested": {"x": 3}}, expected_version=1)
    assert await coll.get("a") == {"_id": "a", "version": 2, "title": "new", "room": "r1", "nested": {"x": 3}}


@pytest.mark.parametrize("version", [1, 3, None])
async def test_every_write_advances_the_version_by_exactly_one(
    store: DocumentStore, version: int | None
) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "title": "old"})
    doc: dict[str, object] = {"_id": "a", "title": "new"}
    if version is not None:
        doc["version"] = version
    with pytest.raises(InvalidWriteError):
        await coll.replace(doc, expected_version=1, append_outbox=[{"id": "e1"}])
    assert await coll.get("a") == {"_id": "a", "version": 1, "title": "old"}


async def test_a_write_may_not_carry_an_outbox_of_its_own(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "outbox": [{"id": "e1"}]})
    with pytest.raises(InvalidWriteError):  # it would overwrite what the relay removed meanwhile
        await coll.replace({"_id": "a", "version": 2, "outbox": []}, expected_version=1)
    assert await coll.get("a") == {"_id": "a", "version": 1, "outbox": [{"id": "e1"}]}


async def test_removing_published_entries_does_not_fail_a_concurrent_change(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "outbox": [{"id": "e1"}]})
    await coll.remove_from_outbox("a", ["e1"])  # the relay's bookkeeping keeps the version
    await coll.replace({"_id": "a", "version": 2}, expected_version=1, append_outbox=[{"id": "e2"}])
    assert await coll.get("a") == {"_id": "a", "version": 2, "outbox": [{"id": "e2"}]}


async def test_a_refused_duplicate_appends_nothing(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.ensure_indexes([CODE_INDEX])
    await coll.insert({"_id": "a", "version": 1, "tenant_id": "t1", "status": "confirmed", "code": "1"})
    await coll.insert({"_id": "b", "version": 1, "tenant_id": "t1", "status": "proposed", "code": "1"})
    with pytest.raises(DuplicateKeyError):
        await coll.replace(
            {"_id": "b", "version": 2, "status": "confirmed"},
            expected_version=1,
            append_outbox=[{"id": "e1"}],
        )
    assert await coll.find_with_outbox(limit=10) == []
    assert (await coll.get("b"))["version"] == 1


async def test_concurrent_changes_and_removals_lose_no_entry_and_revive_none(store: DocumentStore) -> None:
    coll = store.collection(name())
    await coll.insert({"_id": "a", "version": 1, "outbox": []})
    removed: set[str] = set()

    async def change(i: int) -> None:
        while True:  # compare-and-set with retry, as every repository does
            current = await coll.get("a")
            assert current is not None
            try:
                await coll.replace(
                    {"_id": "a", "version": current["version"] + 1},
                    expected_version=current["version"],
                    append_outbox=[{"id": f"e{i}"}],
                )
                return
            except VersionConflictError:
                await asyncio.sleep(0)

    async def relay(until: asyncio.Event) -> None:
        while not until.is_set() or (await coll.find_with_outbox(limit=1)):
            for doc in await coll.find_with_outbox(limit=1):
                ids = [e["id"] for e in doc["outbox"]]
                assert not removed.intersection(ids), "a removed entry came back"
                await coll.remove_from_outbox("a", ids)
                removed.update(ids)
            await asyncio.sleep(0)

    done = asyncio.Event()
    remover = asyncio.create_task(relay(done))
    await asyncio.gather(*(change(i) for i in range(50)))
    done.set()
    await remover
    assert removed == {f"e{i}" for i in range(50)}
    assert (await coll.get("a"))["version"] == 51
