"""What only the SQLite adapter promises on top of the shared contract: the data is in the file,
across a close, a process crash and a second writer."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from visitor_common.persistence import (
    DuplicateKeyError,
    UniqueIndex,
    VersionConflictError,
    create_document_store,
)
from visitor_common.persistence.memory import InMemoryDocumentStore
from visitor_common.persistence.sqlite import SqliteDocumentStore
from visitor_common.settings import ServiceSettings

INDEX = UniqueIndex("email", ("tenant_id", "email"))


async def test_documents_and_indexes_outlive_the_store(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store.sqlite3"  # the folder is created on first use
    first = SqliteDocumentStore(path)
    coll = first.collection("employees")
    await coll.ensure_indexes([INDEX])
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    await coll.insert({"_id": "a", "version": 1, "tenant_id": "t", "email": "x@example.com", "at": when})
    await first.close()

    second = SqliteDocumentStore(path)
    try:
        again = second.collection("employees")
        got = await again.get("a")
        assert got is not None and got["at"] == when and got["email"] == "x@example.com"
        with pytest.raises(DuplicateKeyError) as caught:  # enforced by the file, not this process
            await again.insert({"_id": "b", "version": 1, "tenant_id": "t", "email": "x@example.com"})
        assert caught.value.index == "email"
    finally:
        await second.close()


def test_a_committed_write_survives_a_process_killed_without_closing(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    writer = textwrap.dedent(
        f"""
        import asyncio, os
        from visitor_common.persistence.sqlite import SqliteDocumentStore

        async def main():
            store = SqliteDocumentStore({str(path)!r})
            coll = store.collection("appointments")
            await coll.insert({{"_id": "a", "version": 1, "outbox": [{{"id": "e1"}}]}})
            await coll.replace({{"_id": "a", "version": 2}}, expected_version=1,
                               append_outbox=[{{"id": "e2"}}])
            os._exit(9)  # no close, no clean shutdown: as SIGKILL leaves it

        asyncio.run(main())
        """
    )
    result = subprocess.run([sys.executable, "-c", writer], capture_output=True, text=True, timeout=60)
    assert result.returncode == 9, result.stderr

    async def pending() -> list[dict[str, object]]:
        store = SqliteDocumentStore(path)
        try:
            return await store.collection("appointments").find_with_outbox(limit=10)
        finally:
            await store.close()

    assert asyncio.run(pending()) == [{"_id": "a", "version": 2, "outbox": [{"id": "e1"}, {"id": "e2"}]}]


async def test_compare_and_set_holds_between_two_stores_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    one, two = SqliteDocumentStore(path), SqliteDocumentStore(path)
    try:
        await one.collection("c").insert({"_id": "a", "version": 1, "winner": None})

        async def write(store: SqliteDocumentStore, who: str) -> bool:
            try:
                won = {"_id": "a", "version": 2, "winner": who}
                await store.collection("c").replace(won, expected_version=1)
                return True
            except VersionConflictError:
                return False

        writers = [write(store, f"{label}{i}") for i in range(5) for label, store in (("a", one), ("b", two))]
        results = await asyncio.gather(*writers)
        assert results.count(True) == 1
        assert (await two.collection("c").get("a"))["version"] == 2  # type: ignore[index]
    finally:
        await one.close()
        await two.close()


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "store.sqlite3")
    await store.collection("c").insert({"_id": "a", "version": 1})
    await store.close()
    with sqlite3.connect(tmp_path / "store.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_configuration_picks_mongodb_then_sqlite_then_memory(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    sqlite = create_document_store(ServiceSettings(sqlite_path=path))
    assert isinstance(sqlite, SqliteDocumentStore) and sqlite.path == path
    await sqlite.close()
    assert isinstance(create_document_store(ServiceSettings()), InMemoryDocumentStore)
    mongo = create_document_store(ServiceSettings(sqlite_path=path, mongodb_uri="mongodb://127.0.0.1:1"))
    assert type(mongo).__name__ == "MongoDocumentStore"
    await mongo.close()


async def test_calls_run_on_the_loop_while_the_file_is_free(tmp_path: Path) -> None:
    store = SqliteDocumentStore(tmp_path / "store.sqlite3")
    try:
        coll = store.collection("c")
        await coll.insert({"_id": "a", "version": 1})
        await coll.replace({"_id": "a", "version": 2}, expected_version=1, append_outbox=[{"id": "e"}])
        await coll.remove_from_outbox("a", ["e"])
        assert await coll.get("a") == {"_id": "a", "version": 2, "outbox": []}
        # no call needed the worker thread: it is started on first use only
        assert not [t for t in threading.enumerate() if t.name.startswith("sqlite-")]
    finally:
        await store.close()


async def test_a_call_waits_for_another_writer_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteDocumentStore(path)
    other = sqlite3.connect(path, isolation_level=None)  # as another process would hold the file
    try:
        coll = store.collection("c")
        await coll.insert({"_id": "a", "version": 1})
        other.execute("BEGIN IMMEDIATE")  # the write lock, held
        write = asyncio.create_task(coll.replace({"_id": "a", "version": 2}, expected_version=1))
        ticks = 0
        while ticks < 20:  # the loop keeps running while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, timeout=30)
        assert (await coll.get("a")) == {"_id": "a", "version": 2}
    finally:
        other.close()
        await store.close()
