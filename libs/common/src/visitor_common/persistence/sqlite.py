"""SQLite adapter: the durable embedded store of the local stack (``make run``), one file per
service, kept across restarts (docs/decisions/0007-sqlite-local-durable-store.md).

Each collection is a table ``(id, doc, version, outbox)``: the document as JSON text, its
``version`` and whether its ``outbox`` holds entries in columns of their own, so compare-and-set
and the outbox relay's polling are plain indexed SQL. Unique indexes (partial ones too) are
SQLite expression indexes over the JSON, so the database itself refuses a duplicate, in the same
statement as the write. A change and its outbox entries are one row, written in one
transaction that extends the stored outbox (never writes back the caller's copy).

Stdlib ``sqlite3``, every call one ``BEGIN IMMEDIATE`` transaction: SQLite's write lock
serializes them (within the process and with any other process on the file), which is what makes
compare-and-set race-free. A call runs on the event loop's own connection when the lock is free
at once — a short transaction costs less than handing it to a thread and back — and on a worker
thread's connection, which waits for the lock, when it is not (another process, or the worker
itself, is writing): the loop never waits for a lock (docs/decisions/0024-sqlite-on-the-loop.md).
Equality filters and sorting have exactly the in-memory adapter's semantics: string, null and
boolean filters narrow the rows in SQL (served by the ``lookup`` expression indexes), then
``matches`` decides.
"""

# SQL is built from collection and index names (quoted by _ident) and index literals (escaped by
# _literal); every value a caller passes is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from visitor_common.persistence.base import (
    Document,
    DuplicateKeyError,
    UniqueIndex,
    VersionConflictError,
    check_replace,
)
from visitor_common.persistence.memory import get_path, matches, merged, sort_key

T = TypeVar("T")
_DATE = "$date"  # tag of a datetime inside the JSON text (documents may hold tz-aware datetimes)
_MISSING_KEY = "'<missing>'"  # what a unique key holds for an absent field: absent == absent
_FAILED_INDEX = re.compile(r"UNIQUE constraint failed: index '([^']+)'")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATE: value.isoformat()}
    raise TypeError(f"not storable in a document: {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _DATE in obj:
        return datetime.fromisoformat(obj[_DATE])
    return obj


def dumps(value: Any) -> str:
    """Canonical JSON: compact and UTF-8 as is, so SQLite's ``->`` gives back the same text."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_encode)


def loads(text: str) -> Any:
    return json.loads(text, object_hook=_decode)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _field(dotted: str) -> str:
    """SQL for the JSON text of a (dotted) field, NULL when absent: ``doc -> '$."a"."b"'``."""
    path = "$" + "".join("." + '"' + part.replace('"', '\\"') + '"' for part in dotted.split("."))
    return f"(doc -> {_literal(path)})"


def _pushed_down(filter: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL conditions that narrow the rows for ``filter``; only exact ones (ids, strings, null:
    their JSON text is unique). Everything else is left to ``matches``."""
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in filter.items():
        if key == "_id" and isinstance(value, str):
            clauses.append("id = ?")
            params.append(value)
        elif isinstance(value, str) or value is None:
            clauses.append(f"{_field(key)} = ?")
            params.append(dumps(value))
        elif isinstance(value, bool):
            # Flags (``active``) are looked up too; ``True == 1 == 1.0`` for ``matches``, so every
            # JSON text that equals the flag is admitted, and the lookup index still serves it.
            texts = _BOOL_TEXTS[value]
            clauses.append(f"{_field(key)} IN ({', '.join('?' * len(texts))})")
            params.extend(texts)
    return clauses, params


_BOOL_TEXTS = {True: ("true", "1", "1.0"), False: ("false", "0", "0.0", "-0.0")}


def _connect(path: Path, *, timeout: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; each call opens its own.
    # check_same_thread=False: the loop's connection is guarded by a lock of its own instead.
    connection = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives any process crash (SIGKILL); only an OS crash may lose the last
    # commits, which a local development store can afford.
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work`` in one ``BEGIN IMMEDIATE`` transaction, rolled back if it raises."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result


def _busy(error: sqlite3.OperationalError) -> bool:
    return error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Database:
    """Two connections to one file: the event loop's, which never waits for SQLite's lock, and
    one worker thread's, which does (busy timeout) for the calls the first could not take."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.name}")
        self._inline: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()  # a store used from a second thread's loop
        self._worker: sqlite3.Connection | None = None
        self._closed = False
        self.tables: set[str] = set()  # collections whose table exists

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction: right here if SQLite's lock is free, else on the
        worker thread once it is."""
        if self._inline_lock.acquire(blocking=False):
            try:
                if self._inline is None:
                    self._inline = _connect(self.path, timeout=0.0)
                return _transaction(self._inline, work)
            except sqlite3.OperationalError as error:
                # Busy at BEGIN (nothing done) or later (rolled back): ``work`` only touches the
                # database, so running it again on the worker is safe.
                if not _busy(error):
                    raise
                if self._inline is not None and self._inline.in_transaction:
                    self._inline.execute("ROLLBACK")
            finally:
                self._inline_lock.release()
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._on_worker, work)

    def _on_worker(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._worker is None:
            self._worker = _connect(self.path, timeout=10.0)
        return _transaction(self._worker, work)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def disconnect() -> None:
            if self._worker is not None:
                self._worker.close()
                self._worker = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)
        with self._inline_lock:
            if self._inline is not None:
                self._inline.close()
                self._inline = None


class SqliteCollection:
    def __init__(self, db: _Database, name: str) -> None:
        self._db = db
        self._name = name
        self._table = _ident(name)

    def _ready(self, connection: sqlite3.Connection) -> None:
        if self._name in self._db.tables:
            return
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            "id TEXT PRIMARY KEY, doc TEXT NOT NULL, version INTEGER, outbox INTEGER NOT NULL)"
        )
        connection.execute(
            f"CREATE INDEX IF NOT EXISTS {_ident(self._name + '__outbox')} "
            f"ON {self._table} (outbox) WHERE outbox = 1"
        )
        self._db.tables.add(self._name)

    def _sqlite_index(self, name: str) -> str:
        # Index names are per database in SQLite, per collection in the interface.
        return f"{self._name}__{name}"

    def _duplicate(self, error: sqlite3.IntegrityError) -> DuplicateKeyError:
        found = _FAILED_INDEX.search(str(error))
        if found is None:  # the primary key ("UNIQUE constraint failed: <table>.id")
            return DuplicateKeyError("_id_")
        return DuplicateKeyError(found.group(1).removeprefix(f"{self._name}__"))

    async def ensure_indexes(self, unique: Sequence[UniqueIndex], lookup: Sequence[str] = ()) -> None:
        def create(connection: sqlite3.Connection) -> None:
            self._ready(connection)
            for index in unique:
                # Like the in-memory adapter, an absent field is one value of the key, not NULL
                # (which SQLite would let repeat).
                columns = ", ".join(f"coalesce({_field(f)}, {_MISSING_KEY})" for f in index.fields)
                where = " AND ".join(f"{_field(k)} = {_literal(dumps(v))}" for k, v in index.partial.items())
                connection.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {_ident(self._sqlite_index(index.name))} "
                    f"ON {self._table} ({columns})" + (f" WHERE {where}" if where else "")
                )
            for name in lookup:
                connection.execute(
                    f"CREATE INDEX IF NOT EXISTS {_ident(self._name + '__lookup__' + name)} "
                    f"ON {self._table} ({_field(name)})"
                )

        try:
            await self._db.run(create)
        except sqlite3.IntegrityError as error:  # stored documents already break a new index
            raise self._duplicate(error) from error

    @staticmethod
    def _row(doc: Document) -> tuple[str, Any, int]:
        return dumps(doc), doc.get("version"), 1 if doc.get("outbox") else 0

    async def insert(self, doc: Document) -> None:
        text, version, outbox = self._row(doc)

        def write(connection: sqlite3.Connection) -> None:
            self._ready(connection)
            connection.execute(
                f"INSERT INTO {self._table} (id, doc, version, outbox) VALUES (?, ?, ?, ?)",
                (doc["_id"], text, version, outbox),
            )

        try:
            await self._db.run(write)
        except sqlite3.IntegrityError as error:
            raise self._duplicate(error) from error

    async def get(self, doc_id: str) -> Document | None:
        def read(connection: sqlite3.Connection) -> str | None:
            self._ready(connection)
            row = connection.execute(f"SELECT doc FROM {self._table} WHERE id = ?", (doc_id,)).fetchone()
            return row[0] if row else None

        text = await self._db.run(read)
        return loads(text) if text is not None else None

    async def find(
        self, filter: Mapping[str, Any], *, limit: int | None = None, sort: str | None = None
    ) -> list[Document]:
        clauses, params = _pushed_down(filter)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""

        def read(connection: sqlite3.Connection) -> list[str]:
            self._ready(connection)
            query = f"SELECT doc FROM {self._table}{where} ORDER BY rowid"
            return [row[0] for row in connection.execute(query, params)]

        found = [doc for doc in map(loads, await self._db.run(read)) if matches(doc, filter)]
        if sort:
            name = sort.lstrip("-")
            found.sort(key=lambda d: sort_key(get_path(d, name)), reverse=sort.startswith("-"))
        return found[:limit] if limit is not None else found

    async def replace(
        self, doc: Document, *, expected_version: int, append_outbox: Sequence[Document] = ()
    ) -> None:
        check_replace(doc, expected_version)

        def write(connection: sqlite3.Connection) -> bool:
            # Read and write in one transaction (BEGIN IMMEDIATE): nothing slips in between,
            # so the stored outbox, which the relay may just have shortened, is the one extended.
            self._ready(connection)
            row = connection.execute(
                f"SELECT doc FROM {self._table} WHERE id = ? AND version = ?", (doc["_id"], expected_version)
            ).fetchone()
            if row is None:
                return False
            text, version, outbox = self._row(merged(loads(row[0]), doc, append_outbox))
            connection.execute(
                f"UPDATE {self._table} SET doc = ?, version = ?, outbox = ? WHERE id = ?",
                (text, version, outbox, doc["_id"]),
            )
            return True

        try:
            changed = await self._db.run(write)
        except sqlite3.IntegrityError as error:
            raise self._duplicate(error) from error
        if not changed:
            raise VersionConflictError(doc["_id"])

    async def delete(self, doc_id: str) -> bool:
        def write(connection: sqlite3.Connection) -> int:
            self._ready(connection)
            return connection.execute(f"DELETE FROM {self._table} WHERE id = ?", (doc_id,)).rowcount

        return await self._db.run(write) == 1

    async def find_with_outbox(self, *, limit: int) -> list[Document]:
        def read(connection: sqlite3.Connection) -> list[str]:
            self._ready(connection)
            query = f"SELECT doc FROM {self._table} WHERE outbox = 1 ORDER BY rowid LIMIT ?"
            return [row[0] for row in connection.execute(query, (limit,))]

        return [loads(text) for text in await self._db.run(read)]

    async def remove_from_outbox(self, doc_id: str, event_ids: Sequence[str]) -> None:
        drop = set(event_ids)

        def write(connection: sqlite3.Connection) -> None:
            # Read and write in one transaction: a concurrent replace cannot slip in between.
            self._ready(connection)
            row = connection.execute(f"SELECT doc FROM {self._table} WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                return
            doc = loads(row[0])
            doc["outbox"] = [e for e in doc.get("outbox", []) if e.get("id") not in drop]
            connection.execute(
                f"UPDATE {self._table} SET doc = ?, outbox = ? WHERE id = ?",
                (dumps(doc), 1 if doc["outbox"] else 0, doc_id),
            )

        await self._db.run(write)


class SqliteDocumentStore:
    """Documents in one SQLite file (created with its folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        self._db = _Database(Path(path))
        self._collections: dict[str, SqliteCollection] = {}

    @property
    def path(self) -> Path:
        return self._db.path

    def collection(self, name: str) -> SqliteCollection:
        if name not in self._collections:
            self._collections[name] = SqliteCollection(self._db, name)
        return self._collections[name]

    async def close(self) -> None:
        await self._db.close()
