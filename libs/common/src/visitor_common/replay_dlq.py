"""Replay a dead-letter topic: put its parked records back on the topic they came from.

    python -m visitor_common.replay_dlq --bootstrap-servers kafka:9092 \\
        --topic calendar.google.appointments.v1.dlq [--dry-run] [--limit N] [--to TOPIC]

Every service image has it (it is part of ``visitor_common``), so in Kubernetes:
``kubectl exec deploy/calendar-google -- python -m visitor_common.replay_dlq ...``.

- Each record goes back unchanged (value and key) to its ``x-source-topic`` header (or ``--to``),
  with ``x-replayed-from`` = ``<dlq topic>:<partition>:<offset>`` and the parked error kept as
  ``x-replayed-error``; the consumers are idempotent (one CloudEvents id is applied once), so a
  record that did get through before does no harm.
- Progress is the committed offset of the consumer group ``replay-dlq.<topic>``: a record is
  committed only after the broker acknowledged its copy, so a second run (or a run after a crash)
  replays only what the first did not. The run stops at the end offsets seen when it started, so
  a record that fails again and is dead-lettered anew waits for the next run instead of looping.
- ``--dry-run`` lists what would be replayed and commits nothing.

Fix the cause first (deploy the fix, re-link the connection, ...): replaying records that fail
the same way only parks them again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

SOURCE_HEADER = "x-source-topic"
ERROR_HEADER = "x-error"
REPLAYED_FROM = "x-replayed-from"
REPLAYED_ERROR = "x-replayed-error"
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Replayed:
    """One record handled by a run: where it was parked and where it went (``None``: dry run)."""

    partition: int
    offset: int
    target: str | None
    error: str


def group_for(topic: str) -> str:
    return f"replay-dlq.{topic}"


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in record.headers or ()}


def target_of(topic: str, headers: dict[str, str], override: str | None) -> str:
    """Where a parked record goes back to: ``--to``, its source header, else the topic's name
    without ``.dlq``."""
    if override:
        return override
    return headers.get(SOURCE_HEADER) or topic.removesuffix(DLQ_SUFFIX)


async def replay(
    bootstrap_servers: str,
    topic: str,
    *,
    to: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    idempotent_producer: bool = False,
    group_id: str | None = None,
    report: Callable[[Replayed], None] = lambda _: None,
) -> list[Replayed]:
    """Replay ``topic`` from the group's committed offsets up to today's end; see the module doc."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id or group_for(topic),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = None
    if not dry_run:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=idempotent_producer
        )
        await producer.start()
    await consumer.start()
    done: list[Replayed] = []
    try:
        # Assigned, not subscribed: no group join to wait for; the group only keeps the offsets.
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise SystemExit(f"no topic {topic!r} on {bootstrap_servers}")
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while pending and (limit is None or len(done) < limit):
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp] or (limit is not None and len(done) >= limit):
                        pending.discard(tp)
                        break
                    done.append(await _replay_one(consumer, producer, tp, record, to, dry_run))
                    report(done[-1])
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()
    return done


async def _replay_one(
    consumer: AIOKafkaConsumer,
    producer: AIOKafkaProducer | None,
    tp: TopicPartition,
    record: ConsumerRecord[bytes, bytes],
    to: str | None,
    dry_run: bool,
) -> Replayed:
    headers = _headers(record)
    error = headers.get(ERROR_HEADER, "")
    target = target_of(tp.topic, headers, to)
    if dry_run or producer is None:
        return Replayed(tp.partition, record.offset, None, error)
    kept = [(k, v.encode()) for k, v in headers.items() if k not in (SOURCE_HEADER, ERROR_HEADER)]
    kept += [
        (REPLAYED_FROM, f"{tp.topic}:{tp.partition}:{record.offset}".encode()),
        (REPLAYED_ERROR, error.encode()),
    ]
    await producer.send_and_wait(target, record.value, key=record.key, headers=kept)
    # committed only once the copy is acknowledged: a crash here replays this record again
    await consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "")})
    return Replayed(tp.partition, record.offset, target, error)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay a dead-letter topic onto its source topic.")
    parser.add_argument("--bootstrap-servers", required=True, help="the broker, host:port[,host:port]")
    parser.add_argument("--topic", required=True, help="the dead-letter topic (<topic>.dlq)")
    parser.add_argument("--to", help="publish here instead of each record's x-source-topic")
    parser.add_argument("--dry-run", action="store_true", help="list the records, replay nothing")
    parser.add_argument("--limit", type=int, help="at most this many records")
    parser.add_argument(
        "--idempotent-producer",
        action="store_true",
        help="use an idempotent producer (Apache Kafka; the local Tansu broker rejects it)",
    )
    args = parser.parse_args(argv)

    def say(item: Replayed) -> None:
        line = {"partition": item.partition, "offset": item.offset, "to": item.target, "error": item.error}
        print(json.dumps(line), flush=True)

    done = asyncio.run(
        replay(
            args.bootstrap_servers,
            args.topic,
            to=args.to,
            dry_run=args.dry_run,
            limit=args.limit,
            idempotent_producer=args.idempotent_producer,
            report=say,
        )
    )
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {len(done)} record(s) from {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
