"""The document-store interface repositories are written against.

Deliberately small: documents are JSON-like dicts with a string ``_id`` and an integer
``version``; writes are compare-and-set on ``version`` (optimistic concurrency); queries are
equality filters on (dotted) fields. An aggregate's pending events live in its own document's
``outbox`` array, so a change and its events are written in one atomic single-document write —
no multi-document transaction needed (docs/decisions/0003-embedded-outbox.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Document = dict[str, Any]


class DuplicateKeyError(Exception):
    """An insert or replace would break a unique index. ``index`` names it."""

    def __init__(self, index: str) -> None:
        super().__init__(f"duplicate key for unique index {index!r}")
        self.index = index


class VersionConflictError(Exception):
    """The stored document's ``version`` is not the one the caller read."""


@dataclass(frozen=True)
class UniqueIndex:
    """A unique index over ``fields``, limited to documents matching ``partial`` (equality)."""

    name: str
    fields: tuple[str, ...]
    partial: Mapping[str, Any] = field(default_factory=dict)


class DocumentCollection(Protocol):
    async def ensure_indexes(self, unique: Sequence[UniqueIndex], lookup: Sequence[str] = ()) -> None: ...

    async def insert(self, doc: Document) -> None:
        """Insert a new document (``_id`` required). Raises ``DuplicateKeyError``."""

    async def get(self, doc_id: str) -> Document | None: ...

    async def find(
        self, filter: Mapping[str, Any], *, limit: int | None = None, sort: str | None = None
    ) -> list[Document]:
        """Equality match on dotted fields; ``sort`` is a field name, ``-field`` descending."""

    async def replace(self, doc: Document, *, expected_version: int) -> None:
        """Replace the document whose ``version`` equals ``expected_version``.

        Raises ``VersionConflictError`` (missing or newer) or ``DuplicateKeyError``.
        """

    async def delete(self, doc_id: str) -> bool: ...

    async def find_with_outbox(self, *, limit: int) -> list[Document]:
        """Documents whose ``outbox`` array is not empty (entries in each stay in order)."""

    async def remove_from_outbox(self, doc_id: str, event_ids: Sequence[str]) -> None:
        """Drop the published entries (by their ``id``) from a document's ``outbox``."""


class DocumentStore(Protocol):
    def collection(self, name: str) -> DocumentCollection: ...

    async def close(self) -> None: ...
