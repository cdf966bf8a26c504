"""Against the real broker (Tansu) and a real SMTP server (the local mail sink): the service is
stopped while mails are going out and started again on the same store; every mail arrives, none
twice.

The worst moment to die is after the SMTP server accepted a mail and before the record's offset
was committed: the record is read again after the restart. The first instance here has every
commit lost (the broker client's commit does nothing), so the second instance re-reads the whole
stream, including everything the first one already mailed — only the sent-mail records stop the
mails from going out twice.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.smtp import SMTP, Envelope, Session
from notifications_testkit import (
    CODE,
    GUEST_URL,
    SEAL_KEYS,
    body_of,
    checked_in,
    confirmation,
    envelope,
    invitation,
)

from devstack.mail_sink import EmlWriter, MailSink, running_sink
from notifications_service.bootstrap import create_app
from notifications_service.settings import Settings
from visitor_common import topics
from visitor_common.events import Guest, serialize_event
from visitor_common.messaging import ensure_topics, event_headers
from visitor_common.persistence import InMemoryDocumentStore
from visitor_common.topics import all_topics

pytestmark = pytest.mark.broker

APPOINTMENTS = 8  # x (invitation to 2 guests + confirmation to 2 guests) + 4 arrivals = 36 mails


class SlowWriter(EmlWriter):
    """A server that takes its time for this run's mails, so a stop lands mid-stream."""

    def __init__(self, directory: Path, marker: str) -> None:
        super().__init__(directory)
        self.marker = marker

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if any(self.marker in str(r) for r in envelope.rcpt_tos):
            await asyncio.sleep(0.15)
        return await super().handle_DATA(server, session, envelope)


def ours(sink: MailSink, marker: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sink.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if marker in str(message["To"]):
            found.append(message)
    return found  # type: ignore[return-value]


async def until(condition: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not met in {timeout} s"
        await asyncio.sleep(0.1)


async def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """True when the group has committed every record of ``topic`` (nothing left to handle)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not partitions:
            await consumer.topics()
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        return all((committed[tp].offset if tp in committed else 0) >= end for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def _lost_commit(self: AIOKafkaConsumer, offsets: Any = None) -> None:
    return None


async def test_a_restart_mid_stream_sends_no_mail_twice_and_loses_none(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:8]
    await ensure_topics(kafka_bootstrap, all_topics(6))
    async with running_sink(tmp_path / "mail", writer=SlowWriter(tmp_path / "mail", run)) as sink:
        settings = Settings(
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_idempotent_producer=False,
            kafka_partitions=6,
            consumer_group=f"notifications-test-{run}",
            smtp_port=sink.port,
            mail_seal_keys=SEAL_KEYS,
            retry_initial_seconds=0.05,
        )
        guests = (
            Guest(name="山田 太郎", email=f"taro-{run}@guest.example"),
            Guest(name="Jane Roe", email=f"jane-{run}@guest.example"),
        )
        events = []
        for i in range(APPOINTMENTS):
            appointment_id = f"appt-{run}-{i}"
            events.append(
                (topics.GUEST_MESSAGES, envelope(invitation(appointment_id, guests=guests), appointment_id))
            )
            events.append(
                (topics.GUEST_MESSAGES, envelope(confirmation(appointment_id, guests=guests), appointment_id))
            )
            if i % 2 == 0:
                arrival = checked_in(appointment_id).model_copy(
                    update={"host_email": f"hana-{run}@example.com"}
                )
                events.append((topics.APPOINTMENT_LIFECYCLE, envelope(arrival, appointment_id)))
        expected = APPOINTMENTS * 4 + APPOINTMENTS // 2

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for topic, event in events:
                await producer.send_and_wait(
                    topic,
                    serialize_event(event),
                    key=event.key,
                    headers=[(k, v.encode()) for k, v in event_headers(event).items()],
                )
        finally:
            await producer.stop()

        store = InMemoryDocumentStore()  # stands for MongoDB: it outlives the process
        first = create_app(settings, store=store)
        monkeypatch.setattr(AIOKafkaConsumer, "commit", _lost_commit)
        async with first.router.lifespan_context(first):
            await until(lambda: len(ours(sink, run)) >= 6, what="the first mails")
        monkeypatch.undo()
        at_stop = len(ours(sink, run))
        assert 0 < at_stop < expected, f"the stop did not land mid-stream ({at_stop} of {expected})"

        second = create_app(settings, store=store)
        async with second.router.lifespan_context(second):
            await until(lambda: len(ours(sink, run)) >= expected, what="every mail")
            for suffix in ("lifecycle", "guest-messages"):
                topic = topics.APPOINTMENT_LIFECYCLE if suffix == "lifecycle" else topics.GUEST_MESSAGES
                group = f"{settings.consumer_group}.{suffix}"
                deadline = asyncio.get_running_loop().time() + 60
                while not await caught_up(kafka_bootstrap, group, topic):
                    assert asyncio.get_running_loop().time() < deadline, f"{group} did not catch up"
                    await asyncio.sleep(0.2)
        mails = ours(sink, run)

    ids = Counter(str(m["Message-ID"]) for m in mails)
    assert [i for i, n in ids.items() if n > 1] == [], "a mail went out twice"
    assert len(mails) == expected, f"{len(mails)} mails for {expected} expected"
    kinds = Counter(str(m["X-Visitor-Mail-Kind"]) for m in mails)
    assert kinds == {"invitation": 16, "confirmation": 16, "checked_in": 4}
    invitation_mail = next(m for m in mails if m["X-Visitor-Mail-Kind"] == "invitation")
    assert GUEST_URL in body_of(invitation_mail)  # type: ignore[arg-type]
    confirmation_mail = next(m for m in mails if m["X-Visitor-Mail-Kind"] == "confirmation")
    assert CODE in body_of(confirmation_mail)  # type: ignore[arg-type]
    assert any(p.get_content_type() == "text/calendar" for p in confirmation_mail.iter_attachments())
