"""The subscribers (TestKafkaBroker): guest messages and lifecycle events become mails; what
cannot be handled goes to the dead-letter topic still sealed; nothing secret is logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from notifications_testkit import (
    CODE,
    GUEST_URL,
    SEAL_KEYS,
    RecordingSmtp,
    body_of,
    cancelled,
    checked_in,
    confirmation,
    envelope,
    invitation,
    rescheduled,
)

from notifications_service.adapters.smtp import SendFailed
from notifications_service.bootstrap import create_app
from notifications_service.settings import Settings
from visitor_common import topics
from visitor_common.events import AppointmentCreated, serialize_event
from visitor_common.messaging import event_headers
from visitor_common.persistence import InMemoryDocumentStore
from visitor_common.sealing import Sealer


def settings(**extra: Any) -> Settings:
    return Settings(
        mail_seal_keys=SEAL_KEYS, create_topics=False, send_attempts=2, retry_initial_seconds=0.01, **extra
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def dead_letters(broker: KafkaBroker, topic: str, into: list[tuple[bytes, dict[str, str]]]) -> None:
    @broker.subscriber(topics.dead_letter_topic(topic))
    async def collect(message: KafkaMessage) -> None:
        into.append((message.body, dict(message.headers)))  # type: ignore[arg-type]


async def publish(broker: KafkaBroker, topic: str, event: Any) -> None:
    await broker.publish(serialize_event(event), topic=topic, key=event.key, headers=event_headers(event))


@pytest.fixture
def smtp() -> RecordingSmtp:
    return RecordingSmtp()


async def test_each_event_kind_mails_the_right_people(smtp: RecordingSmtp) -> None:
    app = create_app(settings(), store=InMemoryDocumentStore(), send=smtp.send)
    broker = app.state.runtime.broker
    async with TestKafkaBroker(broker):
        await publish(broker, topics.GUEST_MESSAGES, envelope(invitation()))
        await publish(broker, topics.GUEST_MESSAGES, envelope(confirmation()))
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, envelope(rescheduled()))
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, envelope(cancelled()))
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, envelope(checked_in()))
        await until(lambda: len(smtp.messages) == 9)
    kinds = [(m["X-Visitor-Mail-Kind"], m["To"].addresses[0].addr_spec) for m in smtp.messages]
    guests = ["taro@guest.example", "jane@guest.example"]
    assert kinds == [
        *[("invitation", g) for g in guests],
        *[("confirmation", g) for g in guests],
        *[("rescheduled", g) for g in guests],
        *[("cancelled", g) for g in guests],
        ("checked_in", "hana@example.com"),
    ]
    assert GUEST_URL in body_of(smtp.messages[0]) and CODE in body_of(smtp.messages[2])


async def test_redelivered_event_sends_nothing_twice(smtp: RecordingSmtp) -> None:
    app = create_app(settings(), store=InMemoryDocumentStore(), send=smtp.send)
    broker = app.state.runtime.broker
    event = envelope(invitation())
    async with TestKafkaBroker(broker):
        await publish(broker, topics.GUEST_MESSAGES, event)
        await publish(broker, topics.GUEST_MESSAGES, event)
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, envelope(checked_in()))
        await until(lambda: len(smtp.messages) == 3)
        await asyncio.sleep(0.1)
    assert len(smtp.messages) == 3


async def test_events_without_mail_send_nothing(smtp: RecordingSmtp) -> None:
    app = create_app(settings(), store=InMemoryDocumentStore(), send=smtp.send)
    broker = app.state.runtime.broker
    created = envelope(AppointmentCreated(appointment=invitation().appointment))
    async with TestKafkaBroker(broker):
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, created)
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, envelope(checked_in()))
        await until(lambda: len(smtp.messages) == 1)
    assert smtp.messages[0]["X-Visitor-Mail-Kind"] == "checked_in"


async def test_unopenable_guest_message_is_dead_lettered_sealed_and_unlogged(
    smtp: RecordingSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(settings(), store=InMemoryDocumentStore(), send=smtp.send)
    broker = app.state.runtime.broker
    letters: list[tuple[bytes, dict[str, str]]] = []
    dead_letters(broker, topics.GUEST_MESSAGES, letters)
    foreign = Sealer.from_config({"other": Sealer.generate_key()})
    async with TestKafkaBroker(broker):
        await publish(broker, topics.GUEST_MESSAGES, envelope(invitation(sealer=foreign)))
        await publish(broker, topics.GUEST_MESSAGES, envelope(invitation("appt-2")))
        await until(lambda: len(letters) == 1 and len(smtp.messages) == 2)
    body, headers = letters[0]
    assert "no seal key 'other'" in headers["x-error"]
    assert GUEST_URL.encode() not in body
    assert GUEST_URL not in caplog.text and CODE not in caplog.text


async def test_smtp_refusing_for_good_dead_letters_the_event(smtp: RecordingSmtp) -> None:
    smtp.fail_next(*[SendFailed("451 try later", transient=True)] * 2)
    app = create_app(settings(), store=InMemoryDocumentStore(), send=smtp.send)
    broker = app.state.runtime.broker
    letters: list[tuple[bytes, dict[str, str]]] = []
    dead_letters(broker, topics.APPOINTMENT_LIFECYCLE, letters)
    async with TestKafkaBroker(broker):
        await publish(broker, topics.APPOINTMENT_LIFECYCLE, envelope(checked_in()))
        await until(lambda: len(letters) == 1)
    assert smtp.attempts == 2 and "451 try later" in letters[0][1]["x-error"]


async def test_malformed_records_are_dead_lettered_without_their_values(smtp: RecordingSmtp) -> None:
    app = create_app(settings(), store=InMemoryDocumentStore(), send=smtp.send)
    broker = app.state.runtime.broker
    letters: list[tuple[bytes, dict[str, str]]] = []
    dead_letters(broker, topics.APPOINTMENT_LIFECYCLE, letters)
    bad = serialize_event(envelope(checked_in())).replace(b'"dev-1"', b'""')
    async with TestKafkaBroker(broker):
        await broker.publish(b"not json", topic=topics.APPOINTMENT_LIFECYCLE)
        await broker.publish(bad, topic=topics.APPOINTMENT_LIFECYCLE)
        await until(lambda: len(letters) == 2)
    assert "data.device_id" in letters[1][1]["x-error"]
    assert smtp.messages == []


def test_settings_refuse_half_configured_smtp_credentials_and_unknown_zones() -> None:
    with pytest.raises(ValueError, match="together"):
        Settings(smtp_username="u")
    with pytest.raises(ValueError, match="time zone"):
        Settings(display_timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="one mail address"):
        Settings(mail_from="not an address")
