"""Pick the adapter from configuration: MongoDB when a URI is set, else SQLite when a file is
set, else in memory."""

from __future__ import annotations

from visitor_common.persistence.base import DocumentStore
from visitor_common.persistence.memory import InMemoryDocumentStore
from visitor_common.settings import ServiceSettings


def create_document_store(settings: ServiceSettings) -> DocumentStore:
    if settings.mongodb_uri is not None:
        from visitor_common.persistence.mongo import MongoDocumentStore

        return MongoDocumentStore(settings.mongodb_uri.get_secret_value(), settings.mongodb_database)
    if settings.sqlite_path is not None:
        from visitor_common.persistence.sqlite import SqliteDocumentStore

        return SqliteDocumentStore(settings.sqlite_path)
    return InMemoryDocumentStore()
