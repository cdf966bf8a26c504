"""Persistence behind one small interface with three adapters (MongoDB via PyMongo async,
SQLite for the local stack, and in memory for the fast tests), held to the same behaviour by one
contract test suite."""

from visitor_common.persistence.base import (
    DocumentCollection,
    DocumentStore,
    DuplicateKeyError,
    InvalidWriteError,
    UniqueIndex,
    VersionConflictError,
)
from visitor_common.persistence.factory import create_document_store
from visitor_common.persistence.memory import InMemoryDocumentStore

__all__ = [
    "DocumentCollection",
    "DocumentStore",
    "DuplicateKeyError",
    "InMemoryDocumentStore",
    "InvalidWriteError",
    "UniqueIndex",
    "VersionConflictError",
    "create_document_store",
]
