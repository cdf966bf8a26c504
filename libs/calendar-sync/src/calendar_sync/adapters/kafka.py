"""FastStream wiring of the pipeline (the only Kafka-specific part of the engine)."""

from __future__ import annotations

from typing import Any, Literal

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from calendar_sync.engine.consumer import DeadLetterSink, RawSink, SyncConsumer, decode_headers
from calendar_sync.engine.status import EventSink
from visitor_common.events import CloudEvent
from visitor_common.messaging import (
    ConsumedRecord,
    RecordHandler,
    publish_dead_letter,
    publish_event,
    publish_record,
    raw_body,
    subscribe,
)


def broker_sinks(broker: KafkaBroker) -> tuple[EventSink, RawSink, DeadLetterSink]:
    """Publishing callables on one broker: envelopes (status), raw records (retry topic) and
    dead letters."""

    async def events(topic: str, event: CloudEvent[Any]) -> None:
        await publish_event(broker, topic, event)

    async def raw(topic: str, value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        await publish_record(broker, value, topic=topic, key=key, headers=headers)

    async def dead(source_topic: str, value: bytes, key: bytes | None, error: str) -> None:
        await publish_dead_letter(broker, source_topic, value, key, error)

    return events, raw, dead


def _record_handler(consumer: SyncConsumer) -> RecordHandler:
    """The subscriber function: the record as it came (the engine parses the CloudEvent itself)."""

    async def on_record(msg: ConsumedRecord) -> None:
        key = getattr(msg.raw_message, "key", None)
        await consumer.handle(
            raw_body(msg.body),
            key=key if isinstance(key, bytes) else None,
            headers=decode_headers(msg.headers),
        )

    return on_record


def register_consumer(
    broker: KafkaBroker,
    consumer: SyncConsumer,
    *,
    group_id: str,
    max_workers: int = 2,
    auto_offset_reset: Literal["latest", "earliest", "none"] = "earliest",
    heartbeat_interval_ms: int = 1000,
    session_timeout_ms: int = 10000,
    fetch_max_wait_ms: int = 10,
    retry_fetch_max_wait_ms: int = 500,
) -> None:
    """Subscribe ``consumer`` to its topic in consumer group ``group_id`` and to its retry topic
    in ``<group_id>.retry`` (one group per topic: a member joining one never rebalances the
    other, and each subscriber's consumers join together).

    The main topic is on the confirmation path: ``max_workers`` consumers (partitions run in
    parallel, each in order) whose fetches wait only ``fetch_max_wait_ms`` for data. The retry
    topic only carries records that already wait seconds for their next round, so one consumer
    with the broker's usual wait is enough there (every idle consumer with a short wait costs CPU).

    Offsets are committed after each record is handled. The handler routes every bad or failing
    record to the dead-letter or retry topic itself, so the partition keeps moving; it raises only
    when even that publish fails (the broker is unreachable), and then the record is not
    committed but re-read (``AckPolicy.NACK_ON_ERROR``): no change is lost.
    """
    lanes = (
        (consumer.topic, group_id, max_workers, fetch_max_wait_ms),
        (consumer.retry_topic, f"{group_id}.retry", 1, retry_fetch_max_wait_ms),
    )
    for topic, group, workers, fetch_wait in lanes:
        subscribe(
            broker,
            topic,
            group_id=group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            max_workers=workers,
            auto_offset_reset=auto_offset_reset,
            heartbeat_interval_ms=heartbeat_interval_ms,
            session_timeout_ms=session_timeout_ms,
            fetch_max_wait_ms=fetch_wait,
        )(_record_handler(consumer))
