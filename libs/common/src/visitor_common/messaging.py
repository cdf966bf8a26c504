"""Kafka plumbing shared by every service: one FastStream broker per app, topic creation, and
publishing CloudEvents with the right key and headers.

Every broker carries two middlewares, so each subscriber and publisher of every service is
covered in one place: FastStream's Prometheus middleware (messages consumed and published, by
topic and status) and :class:`TraceMiddleware` (each consumed record runs in the trace scope of
the CloudEvent it carries; see :mod:`visitor_common.tracecontext`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from prometheus_client import REGISTRY

from visitor_common import tracecontext
from visitor_common.commits import CoalescingCommitConsumer
from visitor_common.events import (
    UNPARSABLE,
    CloudEvent,
    EventData,
    parse_event,
    serialize_event,
    why_unparsable,
)
from visitor_common.outbox import OutboxEntry
from visitor_common.settings import ServiceSettings
from visitor_common.topics import TopicSpec, dead_letter_topic

log = logging.getLogger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


_prometheus: KafkaPrometheusMiddleware | None = None


def prometheus_middleware() -> KafkaPrometheusMiddleware:
    """FastStream's Prometheus middleware on the default registry. One per process: its metrics
    register once, and in tests several apps share a process."""
    global _prometheus
    if _prometheus is None:
        _prometheus = KafkaPrometheusMiddleware(registry=REGISTRY, app_name="visitor")
    return _prometheus


class TraceMiddleware(BaseMiddleware):  # type: ignore[type-arg]
    """Handles each record inside the trace scope of its CloudEvent headers (``ce_traceparent``,
    ``ce_id``, ``ce_subject``), and logs that it was consumed."""

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        headers = {str(k).lower(): v for k, v in (msg.headers or {}).items()}

        def header(name: str) -> str | None:
            value = headers.get(name)
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

        appointment = header("ce_subject")
        if ".calendar-connection." in (header("ce_type") or ""):
            appointment = None
        traceparent, event_id = header("ce_traceparent"), header("ce_id")
        with tracecontext.scope(traceparent, event_id=event_id, appointment_id=appointment):
            topic = getattr(msg.raw_message, "topic", None)
            log.info("message consumed", extra={"topic": topic, "event_type": header("ce_type")})
            return await call_next(msg)


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    """The service's one broker object.

    ``acks="all"`` always; idempotence follows ``kafka_idempotent_producer`` because Tansu (the
    local broker) rejects the InitProducerId handshake that idempotent producers start with.
    """
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        request_timeout_ms=settings.kafka_request_timeout_ms,
        enable_idempotence=settings.kafka_idempotent_producer,
        graceful_timeout=10.0,
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        # FastStream's own "Received" / "Processed" line for every record at DEBUG: the trace
        # middleware already logs each record consumed, and each handler its outcome (two JSON
        # lines less per record; a handler's exception is still logged at ERROR)
        log_level=logging.DEBUG,
        middlewares=[prometheus_middleware(), TraceMiddleware],
    )


ConsumedRecord = KafkaMessage
"""What a handler registered with :func:`subscribe` receives: FastStream's message for one record
(``body`` as the broker gave it, ``headers``, ``raw_message`` with key, topic and offset)."""

RecordHandler = Callable[[ConsumedRecord], Awaitable[None]]


async def _the_message_itself(message: StreamMessage[Any]) -> StreamMessage[Any]:
    return message


def subscribe(broker: KafkaBroker, *topics: str, **options: Any) -> Callable[[RecordHandler], RecordHandler]:
    """Register the decorated handler on ``broker`` for ``topics`` (``options`` as for
    ``broker.subscriber``); it is called with the record's :data:`ConsumedRecord`.

    Every handler of ours parses the CloudEvent from the raw value itself, so the record is
    handed over as it came: asked for by a ``KafkaMessage`` parameter, FastDepends would resolve
    it in a worker thread and FastStream would first JSON-decode the value for nothing — together
    about 0.5 ms of CPU per record (measured), on every hop of a confirmation."""

    def register(handle: RecordHandler) -> RecordHandler:
        # No functools.wraps: FastDepends would read ``handle``'s signature through __wrapped__.
        async def on_record(message: Any) -> None:
            await handle(message)

        on_record.__name__ = on_record.__qualname__ = handle.__name__
        broker.subscriber(*topics, decoder=_the_message_itself, **options)(on_record)
        return handle

    return register


def use_coalescing_commits(broker: KafkaBroker) -> None:
    """Build ``broker``'s consumers as :class:`CoalescingCommitConsumer` (after ``connect()``,
    which sets the consumer factory: FastStream's own test client swaps the same factory)."""
    config = broker.config.broker_config
    factory = config.builder
    if isinstance(factory, functools.partial) and factory.func is AIOKafkaConsumer:
        config.builder = functools.partial(CoalescingCommitConsumer, *factory.args, **factory.keywords)


async def start_broker(broker: KafkaBroker) -> None:
    """Like ``broker.start()`` but starts the subscribers concurrently: each consumer group join
    waits for the broker's join window, so sequential starts add up (seconds per group).

    Its consumers are :class:`~visitor_common.commits.CoalescingCommitConsumer`: a handled
    record's offset commit goes out in the background instead of holding up the next record."""
    await broker.connect()
    use_coalescing_commits(broker)
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


async def ensure_topics(bootstrap_servers: str, topics: Iterable[TopicSpec]) -> None:
    """Create missing topics (idempotent); brokers here do not auto-create them reliably."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t.name, t.partitions, 1) for t in topics if t.name not in existing]
        if missing:
            # Another service may win the race to create the same topic.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def event_headers(event: CloudEvent[Any]) -> dict[str, str]:
    """Binary-mode CloudEvents headers beside the structured body, so routers can filter
    without parsing the payload."""
    headers = {
        "content-type": CLOUDEVENTS_CONTENT_TYPE,
        "ce_id": event.id,
        "ce_type": event.type,
        "ce_source": event.source,
        "ce_subject": event.subject,
        "ce_tenantid": event.tenantid,
    }
    if event.traceparent:
        headers["ce_traceparent"] = event.traceparent
    return headers


# An idempotent producer numbers its batches per partition, and the broker accepts only the next
# number. When the broker restarts, a batch the producer gave up on (LeaderNotAvailable while the
# partitions had no leader) leaves a gap, and from then on the broker rejects every batch to that
# partition with OutOfOrderSequenceNumber. aiokafka does not recover from that (the Java client
# bumps its epoch), so without help the service could never again publish to that partition: the
# connectors' sync status and retries, the outbox relay's events. A rejected batch was not
# written, so sending it again on a new producer (new producer id, numbers from 0) loses nothing
# and duplicates nothing.
PRODUCER_STATE_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)

_renewals: dict[int, asyncio.Lock] = {}
_retiring: set[asyncio.Task[None]] = set()


async def publish_record(
    broker: KafkaBroker,
    value: bytes,
    *,
    topic: str,
    key: bytes | None,
    headers: dict[str, str],
) -> None:
    """``broker.publish`` that survives the broker losing the producer's sequence (see
    :data:`PRODUCER_STATE_LOST`): the producer is replaced and the record sent once more. Any
    other failure is the caller's to handle (the outbox keeps the event, a consumer redelivers)."""
    producer = current_producer(broker)
    try:
        await broker.publish(value, topic=topic, key=key, headers=headers)
    except PRODUCER_STATE_LOST as error:
        await renew_producer(broker, producer, error)
        await broker.publish(value, topic=topic, key=key, headers=headers)


def current_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer the broker publishes with now (None before it connected)."""
    # FastStream 0.7 keeps it there; its test client's fake producer (and a test's recording
    # broker) has none
    fast: Any = getattr(getattr(broker, "config", None), "producer", None)
    if not fast:
        return None
    producer = getattr(getattr(fast, "_producer", None), "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


async def renew_producer(broker: KafkaBroker, failed: AIOKafkaProducer | None, error: Exception) -> None:
    """Give ``broker`` a new producer in place of ``failed``, unless a concurrent publish that
    failed the same way did already. The old one is stopped in the background: it may still
    hold batches for other partitions, which it delivers."""
    lock = _renewals.setdefault(id(broker), asyncio.Lock())
    async with lock:
        if current_producer(broker) is not failed:
            return
        log.warning(
            "the broker rejected this producer's sequence; publishing on a new producer",
            extra={"error": type(error).__name__},
        )
        fast: Any = broker.config.producer
        # the connection arguments the broker was made with (FastStream 0.7 keeps them there)
        fresh = AIOKafkaProducer(**broker._connection_kwargs)
        await fast.connect(fresh, serializer=fast.serializer, codec=fast.codec)
    if failed is not None:
        task = asyncio.create_task(_retire(failed))
        _retiring.add(task)
        task.add_done_callback(_retiring.discard)


async def _retire(producer: AIOKafkaProducer, within: float = 30.0) -> None:
    try:
        await asyncio.wait_for(producer.stop(), within)
    except Exception:  # it is out of use either way
        log.warning("the replaced producer did not stop cleanly", exc_info=True)


async def publish_event(broker: KafkaBroker, topic: str, event: CloudEvent[Any]) -> None:
    """Publish one envelope keyed by its subject and wait for the broker's acknowledgement."""
    await publish_record(
        broker,
        serialize_event(event),
        topic=topic,
        key=event.key,
        headers=event_headers(event),
    )


async def publish_dead_letter(
    broker: KafkaBroker, source_topic: str, raw: bytes, key: bytes | None, error: str
) -> None:
    """Park a poison message with its error so the partition keeps moving."""
    log.warning("dead-lettering a message", extra={"topic": source_topic, "error": error[:500]})
    await publish_record(
        broker,
        raw,
        topic=dead_letter_topic(source_topic),
        key=key,
        headers={"x-error": error[:1000], "x-source-topic": source_topic},
    )


async def event_or_dead_letter(
    broker: KafkaBroker, topic: str, message: StreamMessage[Any], expected: type[EventData] | None = None
) -> CloudEvent[Any] | None:
    """The event a consumed record carries, or ``None`` once a record that is not one of our
    events (or not of the ``expected`` type) has been parked on the topic's dead-letter topic."""
    raw = raw_body(message.body)
    key = getattr(message.raw_message, "key", None)
    try:
        event = parse_event(raw)
    except UNPARSABLE as error:
        await publish_dead_letter(broker, topic, raw, key, why_unparsable(error))
        return None
    if expected is not None and not isinstance(event.data, expected):
        await publish_dead_letter(broker, topic, raw, key, f"unexpected event type {event.type!r} on {topic}")
        return None
    return event


def raw_body(body: Any) -> bytes:
    """A consumed record's value as bytes, whatever FastStream decoded it to."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def outbox_publisher(broker: KafkaBroker) -> Callable[[OutboxEntry], Awaitable[None]]:
    """The outbox relay's publish function on ``broker``: the stored envelope's bytes as they
    are, keyed by its subject, with the CloudEvents headers.

    The envelope was validated when it was stored, so it is not validated and serialized again
    here; only the few attributes the headers need are read from it."""

    async def publish(entry: OutboxEntry) -> None:
        await publish_record(
            broker,
            entry.payload.encode(),
            topic=entry.topic,
            key=entry.key.encode(),
            headers=stored_event_headers(entry.payload),
        )

    return publish


def stored_event_headers(payload: str) -> dict[str, str]:
    """:func:`event_headers` of a serialized envelope (plain ``json``: no model is built)."""
    envelope = json.loads(payload)
    headers = {
        "content-type": CLOUDEVENTS_CONTENT_TYPE,
        "ce_id": envelope["id"],
        "ce_type": envelope["type"],
        "ce_source": envelope["source"],
        "ce_subject": envelope["subject"],
        "ce_tenantid": envelope["tenantid"],
    }
    if envelope.get("traceparent"):
        headers["ce_traceparent"] = envelope["traceparent"]
    return headers
