"""Transactional outbox relay.

A service writes its change and the resulting events in one document write (the events go into
the aggregate's ``outbox`` array). The relay publishes them in order per topic and key (see
``OutboxRelay._publish_in_order``) and removes each entry only after the broker acknowledged
it, so an event is never lost while Kafka is down and a change is never published without
having been stored. If the process dies between the acknowledgement and
the removal, the entry is published again: consumers de-duplicate by event id and version.

Changes only ever append to a document's outbox (``DocumentCollection.replace(append_outbox=)``),
so an entry, once removed, stays removed. Several relays may run on one store at once (service
replicas): they need no coordination; two that read the same pending entry both publish it,
which is the same at-least-once duplicate consumers already drop by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import BaseModel

from visitor_common import tracecontext
from visitor_common.events import CloudEvent, serialize_event
from visitor_common.persistence.base import DocumentCollection
from visitor_common.waiting import wait_woken

log = logging.getLogger(__name__)


class OutboxEntry(BaseModel):
    """One pending message: where it goes, its key, and the serialized envelope."""

    id: str
    topic: str
    key: str
    payload: str

    @classmethod
    def for_event(cls, topic: str, event: CloudEvent[Any]) -> OutboxEntry:
        return cls(
            id=f"{event.id}:{topic}", topic=topic, key=event.subject, payload=serialize_event(event).decode()
        )


def outbox_entries(routes: Iterable[tuple[str, CloudEvent[Any]]]) -> list[dict[str, Any]]:
    return [OutboxEntry.for_event(topic, event).model_dump() for topic, event in routes]


Publisher = Callable[[OutboxEntry], Awaitable[None]]


class OutboxRelay:
    def __init__(
        self,
        collections: Iterable[DocumentCollection],
        publish: Publisher,
        *,
        poll_interval: float = 1.0,
        batch_size: int = 100,
    ) -> None:
        self._collections = list(collections)
        self._publish = publish
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()  # two rounds at once would both send what is pending
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.published = 0

    @property
    def collections(self) -> list[DocumentCollection]:
        """The collections whose outboxes it drains (``/metrics`` reads their backlog)."""
        return list(self._collections)

    def notify(self) -> None:
        """Called after a write with events, so they go out now rather than at the next poll."""
        self._wake.set()

    async def drain(self) -> int:
        """Publish what is pending; returns how many entries were published.

        The documents of a round go out at once (their sends share the producer's requests
        instead of each waiting for the one before); see :meth:`_publish_in_order` for what
        stays in order. One round at a time: a drain asked while one runs waits for it."""
        async with self._draining:
            return await self._drain_round()

    async def _drain_round(self) -> int:
        sent = 0
        for collection in self._collections:
            docs = await collection.find_with_outbox(limit=self._batch_size)
            results = await asyncio.gather(
                *(self._drain_document(collection, doc) for doc in docs), return_exceptions=True
            )
            count = sum(r for r in results if isinstance(r, int))
            sent += count
            self.published += count
            for result in results:
                if isinstance(result, BaseException):  # a removal failed: the next round retries
                    raise result
        return sent

    async def _drain_document(self, collection: DocumentCollection, doc: dict[str, Any]) -> int:
        done: list[str] = []
        try:
            await self._publish_in_order(doc.get("outbox", []), done)
        except Exception as error:  # broker down: keep order, retry this document later
            log.warning(
                "outbox publish failed; will retry", extra={"doc_id": doc["_id"], "error": str(error)}
            )
        finally:  # also when stopped mid-publish: what the broker acknowledged is not sent again
            if done:
                await collection.remove_from_outbox(doc["_id"], done)
        return len(done)

    async def _publish_in_order(self, entries: list[dict[str, Any]], done: list[str]) -> None:
        """Publish one document's ``entries``, appending each acknowledged id to ``done``.

        Order is kept per topic and key (the only order Kafka keeps, and the one consumers rely
        on): the entries of one ``(topic, key)`` lane go one after another, each only after the
        one before it was acknowledged, and a lane stops at its first failure, so what a lane
        acknowledged is always a prefix of it. Different lanes (the lifecycle and the provider
        copy of one change) are sent at once rather than each waiting for the other's
        acknowledgement. Raises the first failure once every lane has finished; ``done`` then
        holds exactly what the broker acknowledged, nothing is marked sent before its ack."""
        lanes: dict[tuple[str, str], list[OutboxEntry]] = {}
        for raw in entries:
            entry = OutboxEntry.model_validate(raw)
            lanes.setdefault((entry.topic, entry.key), []).append(entry)
        if len(lanes) <= 1:
            for lane in lanes.values():
                await self._publish_lane(lane, done)
            return
        results = await asyncio.gather(
            *(self._publish_lane(lane, done) for lane in lanes.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _publish_lane(self, lane: list[OutboxEntry], done: list[str]) -> None:
        for entry in lane:
            with _story_of(entry):
                await self._publish(entry)
                log.info("event published", extra={"topic": entry.topic})
            done.append(entry.id)

    async def run(self) -> None:
        while not self._stopping:
            await wait_woken(self._wake, self._poll_interval)
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # storage hiccup: the next round tries again
                log.exception("outbox drain failed")

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the loop; safe to call twice. A publish in flight is cancelled, not awaited."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)  # a cancelled stop is cancelled, too
            self._task = None


def _story_of(entry: OutboxEntry) -> contextlib.AbstractContextManager[dict[str, str]]:
    """The relay runs in its own task: publish each event in the trace scope of the change
    that stored it (its ``traceparent``, id and appointment)."""
    try:
        envelope = json.loads(entry.payload)
    except ValueError:
        envelope = {}
    connection_event = ".calendar-connection." in str(envelope.get("type", ""))
    return tracecontext.scope(
        envelope.get("traceparent"),
        event_id=envelope.get("id"),
        appointment_id=None if connection_event else envelope.get("subject"),
    )
