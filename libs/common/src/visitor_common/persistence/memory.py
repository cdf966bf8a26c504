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


class InMemoryCollection:
    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._unique: list[UniqueIndex] = []
        self._lock = asyncio.Lock()

    async def ensure_indexes(self, unique: Sequence[UniqueIndex], lookup: Sequence[str] = ()) -> None:
        known = {i.name for i in self._unique}
        self._unique.extend(i for i in unique if i.name not in known)

    def _check_unique(self, doc: Document) -> None:
        for index in self._unique:
            if not matches(doc, index.partial):
                continue
            key = tuple(get_path(doc, f) for f in index.fields)
            for other in self._docs.values():
                if other["_id"] == doc["_id"] or not matches(other, index.partial):
                    continue
                if tuple(get_path(other, f) for f in index.fields) == key:
                    raise DuplicateKeyError(index.name)

    async def insert(self, doc: Document) -> None:
        async with self._lock:
            if doc["_id"] in self._docs:
                raise DuplicateKeyError("_id_")
            self._check_unique(doc)
            self._docs[doc["_id"]] = copy.deepcopy(doc)

    async def get(self, doc_id: str) -> Document | None:
        doc = self._docs.get(doc_id)
        return copy.deepcopy(doc) if doc is not None else None

    async def find(
        self, filter: Mapping[str, Any], *, limit: int | None = None, sort: str | None = None
    ) -> list[Document]:
        found = [d for d in self._docs.values() if matches(d, filter)]
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
            self._docs[doc["_id"]] = copy.deepcopy(updated)

    async def delete(self, doc_id: str) -> bool:
        async with self._lock:
            return self._docs.pop(doc_id, None) is not None

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
