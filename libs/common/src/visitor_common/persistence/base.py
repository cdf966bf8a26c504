"""The document-store interface repositories are written against.

Deliberately small: documents are JSON-like dicts with a string ``_id`` and an integer
``version``; writes are compare-and-set on ``version`` (optimistic concurrency) and every write
of a document advances its ``version`` by exactly one; queries are equality filters on (dotted)
fields. An aggregate's pending events live in its own document's ``outbox`` array, so a change
and its events are written in one atomic single-document write — no multi-document transaction
needed (docs/decisions/0003-embedded-outbox.md).

The ``outbox`` array is append-only for writers: a change appends its new entries, it never
writes the array back, and only the outbox relay removes entries (after publishing them). So a
change that read the document before the relay removed an entry cannot bring that entry back.
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


class InvalidWriteError(ValueError):
    """A write that breaks the store's rules: a ``version`` not advanced by exactly one, or a
    change that carries an ``outbox`` of its own (it would overwrite the relay's removals).
    A programming error, raised before anything is written."""


OUTBOX = "outbox"


def check_replace(doc: Mapping[str, Any], expected_version: int) -> None:
    """The rules every adapter's ``replace`` enforces before it writes."""
    if doc.get("version") != expected_version + 1:
        raise InvalidWriteError(
            f"document {doc.get('_id')!r}: a write must advance the version by one "
            f"(expected {expected_version + 1}, got {doc.get('version')!r})"
        )
    if OUTBOX in doc:
        raise InvalidWriteError(
            f"document {doc.get('_id')!r}: a change appends outbox entries (append_outbox), "
            "it never writes the outbox back"
        )


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

    async def replace(
        self, doc: Document, *, expected_version: int, append_outbox: Sequence[Document] = ()
    ) -> None:
        """Write ``doc`` over the document whose ``version`` equals ``expected_version``, and
        append ``append_outbox`` to its stored ``outbox``, in one atomic conditional update
        (MongoDB: ``$set`` of the fields, ``$push`` of the entries).

        ``doc["version"]`` must be ``expected_version + 1`` and ``doc`` must not carry an
        ``outbox`` (``InvalidWriteError``). Every top-level field of ``doc`` is set; a field
        ``doc`` leaves out keeps its stored value (callers write whole aggregates).
        Raises ``VersionConflictError`` (missing or at another version) or ``DuplicateKeyError``;
        either way nothing is written.
        """

    async def delete(self, doc_id: str) -> bool: ...

    async def find_with_outbox(self, *, limit: int) -> list[Document]:
        """Documents whose ``outbox`` array is not empty (entries in each stay in order)."""

    async def remove_from_outbox(self, doc_id: str, event_ids: Sequence[str]) -> None:
        """Drop the published entries (by their ``id``) from a document's ``outbox``.

        The relay's bookkeeping, not a change of the aggregate: it leaves ``version`` alone, so
        it never makes a concurrent change fail its compare-and-set, and since changes only
        append, nothing can write a removed entry back."""


class DocumentStore(Protocol):
    def collection(self, name: str) -> DocumentCollection: ...

    async def close(self) -> None: ...
