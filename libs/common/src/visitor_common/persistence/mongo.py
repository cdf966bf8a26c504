"""MongoDB adapter on PyMongo's native async API (``AsyncMongoClient``), Motor's successor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError as MongoDuplicateKeyError

from visitor_common.persistence.base import (
    OUTBOX,
    Document,
    DuplicateKeyError,
    UniqueIndex,
    VersionConflictError,
    check_replace,
)


def _index_name(error: MongoDuplicateKeyError) -> str:
    details = error.details or {}
    message = str(details.get("errmsg", error))
    marker = "index: "
    if marker in message:
        return message.split(marker, 1)[1].split(" ", 1)[0]
    return "unknown"


class MongoCollection:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._c = collection

    async def ensure_indexes(self, unique: Sequence[UniqueIndex], lookup: Sequence[str] = ()) -> None:
        for index in unique:
            options: dict[str, Any] = {"unique": True, "name": index.name}
            if index.partial:
                options["partialFilterExpression"] = {k: {"$eq": v} for k, v in index.partial.items()}
            await self._c.create_index([(f, ASCENDING) for f in index.fields], **options)
        for name in lookup:
            await self._c.create_index([(name, ASCENDING)])
        await self._c.create_index([("outbox.0.id", ASCENDING)], sparse=True, name="outbox_pending")

    async def insert(self, doc: Document) -> None:
        try:
            await self._c.insert_one(dict(doc))
        except MongoDuplicateKeyError as error:
            raise DuplicateKeyError(_index_name(error)) from error

    async def get(self, doc_id: str) -> Document | None:
        return await self._c.find_one({"_id": doc_id})

    async def find(
        self, filter: Mapping[str, Any], *, limit: int | None = None, sort: str | None = None
    ) -> list[Document]:
        cursor = self._c.find(dict(filter))
        if sort:
            cursor = cursor.sort(sort.lstrip("-"), DESCENDING if sort.startswith("-") else ASCENDING)
        if limit is not None:
            cursor = cursor.limit(limit)
        return await cursor.to_list()

    async def replace(
        self, doc: Document, *, expected_version: int, append_outbox: Sequence[Document] = ()
    ) -> None:
        check_replace(doc, expected_version)
        # One conditional update: the fields are set, the new entries pushed onto the stored
        # outbox, so an entry the relay $pulled meanwhile stays removed. ``_id`` is immutable.
        update: dict[str, Any] = {"$set": {k: v for k, v in doc.items() if k != "_id"}}
        if append_outbox:
            update["$push"] = {OUTBOX: {"$each": list(append_outbox)}}
        try:
            result = await self._c.update_one({"_id": doc["_id"], "version": expected_version}, update)
        except MongoDuplicateKeyError as error:
            raise DuplicateKeyError(_index_name(error)) from error
        if result.matched_count != 1:
            raise VersionConflictError(doc["_id"])

    async def delete(self, doc_id: str) -> bool:
        result = await self._c.delete_one({"_id": doc_id})
        return result.deleted_count == 1

    async def find_with_outbox(self, *, limit: int) -> list[Document]:
        return await self._c.find({"outbox.0": {"$exists": True}}).limit(limit).to_list()

    async def remove_from_outbox(self, doc_id: str, event_ids: Sequence[str]) -> None:
        await self._c.update_one({"_id": doc_id}, {"$pull": {"outbox": {"id": {"$in": list(event_ids)}}}})


class MongoDocumentStore:
    def __init__(self, uri: str, database: str) -> None:
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
        self._db = self._client[database]

    def collection(self, name: str) -> MongoCollection:
        return MongoCollection(self._db[name])

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def close(self) -> None:
        await self._client.close()
