"""In-memory adapter: the default for the local stack and the fast tests.

Copies documents on the way in and out so callers can never mutate stored state by accident,
and enforces unique indexes like MongoDB does (including partial ones).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from visitor_common.persistence.base import (
    OUTBOX,
    Document,
    DuplicateKeyError,
    UniqueIndex,
    VersionConflictError,
    check_replace,
)

_MISSING = object()


def get_path(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def matches(doc: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    return all(get_path(doc, k) == v for k, v in filter.items())


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _LookupIndex:
    """Ids of the documents by the value of one (dotted) field, for equality lookups.

    Python equality is what ``matches`` uses, and equal values hash alike (``True == 1``), so a
    dict keyed by value finds exactly what a scan would. Documents whose value cannot be hashed
    (a list, a sub-document) are kept aside and always checked by ``matches``."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._ids: dict[Any, set[str]] = {}
        self._unhashable: set[str] = set()

    def add(self, doc: Document) -> None:
        value = get_path(doc, self.field)
        if _hashable(value):
            self._ids.setdefault(value, set()).add(doc["_id"])
        else:
            self._unhashable.add(doc["_id"])

    def drop(self, doc: Document) -> None:
        value = get_path(doc, self.field)
        if not _hashable(value):
            self._unhashable.discard(doc["_id"])
            return
        ids = self._ids.get(value)
        if ids is not None:
            ids.discard(doc["_id"])
            if not ids:
                del self._ids[value]

    def candidates(self, value: Any) -> set[str]:
        return self._ids.get(value, set()) | self._unhashable


class InMemoryCollection:
    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._unique: list[UniqueIndex] = []
        self._lookups: dict[str, _LookupIndex] = {}
        self._lock = asyncio.Lock()

    async def ensure_indexes(self, unique: Sequence[UniqueIndex], lookup: Sequence[str] = ()) -> None:
        known = {i.name for i in self._unique}
        self._unique.extend(i for i in unique if i.name not in known)
        # The unique indexes' first fields are looked up too (by the duplicate check).
        for name in [*lookup, *(i.fields[0] for i in unique if i.fields)]:
            if name not in self._lookups:
                index = self._lookups[name] = _LookupIndex(name)
                for doc in self._docs.values():
                    index.add(doc)

    # ------------------------------------------------------------ lookup indexes

    def _indexed(self, doc: Document) -> None:
        """Record a stored document in the lookup indexes."""
        for index in self._lookups.values():
            index.add(doc)

    def _unindexed(self, doc: Document | None) -> None:
        """Forget a stored document (about to be replaced or deleted) in the lookup indexes."""
        if doc is not None:
            for index in self._lookups.values():
                index.drop(doc)

    def _candidates(self, filter: Mapping[str, Any]) -> list[Document]:
        """The documents that may match ``filter``: the smallest indexed set, else all."""
        best: set[str] | None = None
        if "_id" in filter:
            best = {filter["_id"]} if _hashable(filter["_id"]) else None
        for name, value in filter.items():
            index = self._lookups.get(name)
            if index is None or not _hashable(value):
                continue
            ids = index.candidates(value)
            if best is None or len(ids) < len(best):
                best = ids
        if best is None:
            return list(self._docs.values())
        # Insertion order, like a scan (a set does not keep it).
        if len(best) * 4 < len(self._docs):
            order = {doc_id: n for n, doc_id in enumerate(self._docs)}
            return [self._docs[i] for i in sorted((i for i in best if i in order), key=order.__getitem__)]
        return [d for d in self._docs.values() if d["_id"] in best]

    def _check_unique(self, doc: Document) -> None:
        for index in self._unique:
            if not matches(doc, index.partial):
                continue
            key = tuple(get_path(doc, f) for f in index.fields)
            probe = {index.fields[0]: key[0]} if index.fields and key[0] is not _MISSING else {}
            for other in self._candidates(probe):
                if other["_id"] == doc["_id"] or not matches(other, index.partial):
                    continue
                if tuple(get_path(other, f) for f in index.fields) == key:
                    raise DuplicateKeyError(index.name)

    async def insert(self, doc: Document) -> None:
        async with self._lock:
            if doc["_id"] in self._docs:
                raise DuplicateKeyError("_id_")
            self._check_unique(doc)
            self._docs[doc["_id"]] = stored = copy.deepcopy(doc)
            self._indexed(stored)

    async def get(self, doc_id: str) -> Document | None:
        doc = self._docs.get(doc_id)
        return copy.deepcopy(doc) if doc is not None else None

    async def find(
        self, filter: Mapping[str, Any], *, limit: int | None = None, sort: str | None = None
    ) -> list[Document]:
        found = [d for d in self._candidates(filter) if matches(d, filter)]
        if sort:
            name = sort.lstrip("-")
            found.sort(key=lambda d: sort_key(get_path(d, name)), reverse=sort.startswith("-"))
        return copy.deepcopy(found[:limit] if limit is not None else found)

    async def replace(
        self, doc: Document, *, expected_version: int, append_outbox: Sequence[Document] = ()
    ) -> None:
        check_replace(doc, expected_version)
        async with self._lock:
            current = self._docs.get(doc["_id"])
            if current is None or current.get("version") != expected_version:
                raise VersionConflictError(doc["_id"])
            updated = merged(current, doc, append_outbox)
            self._check_unique(updated)
            self._unindexed(current)
            self._docs[doc["_id"]] = stored = copy.deepcopy(updated)
            self._indexed(stored)

    async def delete(self, doc_id: str) -> bool:
        async with self._lock:
            removed = self._docs.pop(doc_id, None)
            self._unindexed(removed)
            return removed is not None

    async def find_with_outbox(self, *, limit: int) -> list[Document]:
        return copy.deepcopy([d for d in self._docs.values() if d.get("outbox")][:limit])

    async def remove_from_outbox(self, doc_id: str, event_ids: Sequence[str]) -> None:
        async with self._lock:
            doc = self._docs.get(doc_id)
            if doc is not None:
                drop = set(event_ids)
                doc["outbox"] = [e for e in doc.get("outbox", []) if e.get("id") not in drop]


def merged(current: Document, doc: Document, append_outbox: Sequence[Document]) -> Document:
    """What ``replace`` stores: ``doc``'s fields set over ``current`` and the new entries
    appended to the stored outbox — MongoDB's ``$set`` + ``$push``, which every adapter mirrors."""
    updated = {**current, **doc}
    if append_outbox:
        updated[OUTBOX] = [*current.get(OUTBOX, []), *append_outbox]
    return updated


def sort_key(value: Any) -> tuple[int, Any]:
    """Sort key of a field's value: MongoDB sorts missing/null before values, and every adapter
    mirrors that so they agree."""
    return (0, "") if value is _MISSING or value is None else (1, value)


class InMemoryDocumentStore:
    def __init__(self) -> None:
        self._collections: dict[str, InMemoryCollection] = {}

    def collection(self, name: str) -> InMemoryCollection:
        return self._collections.setdefault(name, InMemoryCollection())

    async def close(self) -> None:
        return None
