"""The consumer pipeline shared by both connectors.

``SyncConsumer.handle(raw, key=..., headers=...)`` for one Kafka record:

1. parse the CloudEvent; unparseable or unknown → dead-letter topic (with the error), done;
2. an appointment bound to another provider (or to none) is ignored defensively, counted and
   logged (the topic routing should make this impossible);
3. a record from the retry topic first waits until its ``x-not-before`` time; the optional
   ``on_snapshot`` hook runs (connectors register the bound connection for drift watching);
4. ``SyncEngine.apply`` (per-appointment lock, idempotent by version) reports the status;
5. past the retry bound → the record goes to the retry topic (``x-attempt`` + 1, delay doubles)
   or, after ``max_redeliveries``, to the dead-letter topic. The partition keeps moving.

``register_consumer(broker, consumer, ...)`` wires it to FastStream: one subscriber on the main
topic and one on its retry topic, commit after handling (``AckPolicy.NACK_ON_ERROR``), ``max_workers``
consumers (partitions are processed in parallel, each in order).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from calendar_sync.core.errors import InvalidSnapshot
from calendar_sync.engine.engine import SyncEngine
from visitor_common import topics
from visitor_common.events import (
    UNPARSABLE,
    AppointmentSnapshot,
    CalendarRestoreRequested,
    parse_event,
    why_unparsable,
)
from visitor_common.events.appointments import Provider

log = logging.getLogger(__name__)

HEADER_ATTEMPT = "x-attempt"
HEADER_NOT_BEFORE = "x-not-before"
HEADER_ERROR = "x-error"

RawSink = Callable[[str, bytes, bytes | None, dict[str, str]], Awaitable[None]]
"""``(topic, value, key, headers)``: publish a record as is."""
DeadLetterSink = Callable[[str, bytes, bytes | None, str], Awaitable[None]]
"""``(source_topic, value, key, error)``: e.g. ``visitor_common.messaging.publish_dead_letter``."""


@dataclass
class ConsumerStats:
    handled: int = 0
    synced: int = 0
    failed: int = 0
    skipped: int = 0
    ignored_other_provider: int = 0
    dead_lettered: int = 0
    sent_to_retry: int = 0


@dataclass(frozen=True)
class RedeliveryPolicy:
    """Retry-topic schedule: the n-th redelivery waits ``min(max_delay, base * 2**(n-1))``."""

    max_redeliveries: int = 5
    base_delay: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))


class SyncConsumer:
    def __init__(
        self,
        engine: SyncEngine,
        *,
        provider: Provider,
        topic: str,
        raw_sink: RawSink,
        dead_letter: DeadLetterSink,
        redelivery: RedeliveryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_snapshot: Callable[[AppointmentSnapshot], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.topic = topic
        self.retry_topic = topics.retry_topic(topic)
        self._raw_sink = raw_sink
        self._dead_letter = dead_letter
        self.redelivery = redelivery or RedeliveryPolicy()
        self._clock = clock
        self._sleep = sleep
        self.stats = ConsumerStats()
        self._on_snapshot = on_snapshot

    async def handle(
        self,
        raw: bytes,
        *,
        key: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        headers = dict(headers or {})
        self.stats.handled += 1
        try:
            envelope = parse_event(raw)
        except UNPARSABLE as error:
            await self._poison(raw, key, why_unparsable(error))
            return
        snapshot: AppointmentSnapshot | None = getattr(envelope.data, "appointment", None)
        if snapshot is None:
            await self._poison(raw, key, f"not an appointment event: {envelope.type}")
            return
        if snapshot.binding is None or snapshot.binding.provider is not self.provider:
            self._ignore_foreign(snapshot)
            return
        await self._wait_not_before(headers)
        if self._on_snapshot is not None:
            try:
                await self._on_snapshot(snapshot)
            except Exception:  # a side concern (e.g. drift registration) never blocks the sync
                log.exception("on_snapshot hook failed", extra={"appointment_id": snapshot.appointment_id})
        await self._apply(
            raw, key, headers, snapshot, restore=isinstance(envelope.data, CalendarRestoreRequested)
        )

    async def _apply(
        self,
        raw: bytes,
        key: bytes | None,
        headers: dict[str, str],
        snapshot: AppointmentSnapshot,
        *,
        restore: bool,
    ) -> None:
        try:
            result = await self.engine.apply(snapshot, restore=restore)
        except InvalidSnapshot as error:
            await self._poison(raw, key, str(error))
            return
        except Exception as error:  # storage or broker trouble: park it on the retry topic
            log.exception("applying an appointment failed", extra={"appointment_id": snapshot.appointment_id})
            await self._redeliver(raw, key, headers, f"{type(error).__name__}: {error}")
            return
        if result.skipped:
            self.stats.skipped += 1
        elif result.retry_later:
            self.stats.failed += 1
            await self._redeliver(raw, key, headers, result.message or "retries exhausted")
        elif result.state is not None and result.state.value == "synced":
            self.stats.synced += 1
        else:
            self.stats.failed += 1

    def _ignore_foreign(self, snapshot: AppointmentSnapshot) -> None:
        self.stats.ignored_other_provider += 1
        bound = snapshot.binding.provider.value if snapshot.binding else None
        log.warning(
            "ignoring an appointment bound to another provider",
            extra={
                "appointment_id": snapshot.appointment_id,
                "bound_to": bound,
                "connector": self.provider.value,
            },
        )

    async def _wait_not_before(self, headers: Mapping[str, str]) -> None:
        try:
            not_before = float(headers.get(HEADER_NOT_BEFORE, "0"))
        except ValueError:
            return
        wait = min(not_before - self._clock(), self.redelivery.max_delay)
        if wait > 0:
            await self._sleep(wait)

    async def _redeliver(self, raw: bytes, key: bytes | None, headers: Mapping[str, str], error: str) -> None:
        try:
            attempt = int(headers.get(HEADER_ATTEMPT, "0")) + 1
        except ValueError:
            attempt = 1
        if attempt > self.redelivery.max_redeliveries:
            await self._poison(raw, key, f"gave up after {attempt - 1} redeliveries: {error}")
            return
        self.stats.sent_to_retry += 1
        new_headers = {
            HEADER_ATTEMPT: str(attempt),
            HEADER_NOT_BEFORE: f"{self._clock() + self.redelivery.delay(attempt):.3f}",
            HEADER_ERROR: error[:500],
        }
        await self._raw_sink(self.retry_topic, raw, key, new_headers)

    async def _poison(self, raw: bytes, key: bytes | None, error: str) -> None:
        self.stats.dead_lettered += 1
        await self._dead_letter(self.topic, raw, key, error)


def decode_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Kafka headers as text (FastStream gives str or bytes values)."""
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        out[str(name)] = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return out
