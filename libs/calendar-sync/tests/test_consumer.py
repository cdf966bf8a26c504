"""The consumer pipeline: poison → dead letter, other provider ignored, retry topic."""

from __future__ import annotations

from calendar_sync.core import TransientProviderError
from calendar_sync.engine import RedeliveryPolicy, SyncConsumer, SyncEngine
from calendar_sync.engine.consumer import HEADER_ATTEMPT, HEADER_NOT_BEFORE
from calendar_sync.testing import FakeCalendarProvider, make_snapshot
from visitor_common import topics
from visitor_common.events import AppointmentCreated, Provider, new_event, serialize_event

from .conftest import FakeSleep, Recorder


class Sinks:
    def __init__(self) -> None:
        self.raw: list[tuple[str, bytes, bytes | None, dict[str, str]]] = []
        self.dead: list[tuple[str, bytes, bytes | None, str]] = []

    async def raw_sink(self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        self.raw.append((topic, value, key, headers))

    async def dead_letter(self, topic: str, value: bytes, key: bytes | None, error: str) -> None:
        self.dead.append((topic, value, key, error))


def consumer_for(engine: SyncEngine, sinks: Sinks, sleep: FakeSleep, now: float = 1000.0) -> SyncConsumer:
    return SyncConsumer(
        engine,
        provider=Provider.GOOGLE,
        topic=topics.GOOGLE_APPOINTMENTS,
        raw_sink=sinks.raw_sink,
        dead_letter=sinks.dead_letter,
        redelivery=RedeliveryPolicy(max_redeliveries=2, base_delay=2.0, max_delay=10.0),
        clock=lambda: now,
        sleep=sleep,
    )


def record(**kwargs: object) -> bytes:
    snapshot = make_snapshot(**kwargs)  # type: ignore[arg-type]
    event = new_event(
        AppointmentCreated(appointment=snapshot),
        source="test",
        subject=snapshot.appointment_id,
        tenant_id=snapshot.tenant_id,
        appointment_version=snapshot.version,
    )
    return serialize_event(event)


async def test_a_record_is_applied_and_reported(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, recorder: Recorder
) -> None:
    sinks = Sinks()
    consumer = consumer_for(engine, sinks, FakeSleep())
    await consumer.handle(record(), key=b"appt-1")
    assert consumer.stats.synced == 1 and len(fake_provider.live()) == 3
    assert recorder.statuses[-1].state.value == "synced"


async def test_poison_goes_to_the_dead_letter_topic(engine: SyncEngine) -> None:
    sinks = Sinks()
    consumer = consumer_for(engine, sinks, FakeSleep())
    await consumer.handle(b"{not json", key=b"k")
    await consumer.handle(b'{"type": "jp.visitor-scheduling.nope.v1"}', key=b"k")
    assert [d[0] for d in sinks.dead] == [topics.GOOGLE_APPOINTMENTS] * 2
    assert consumer.stats.dead_lettered == 2


async def test_other_providers_appointments_are_ignored_and_counted(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, recorder: Recorder
) -> None:
    sinks = Sinks()
    consumer = consumer_for(engine, sinks, FakeSleep())
    await consumer.handle(record(provider=Provider.OUTLOOK))
    assert consumer.stats.ignored_other_provider == 1
    assert fake_provider.calls == [] and recorder.sent == [] and sinks.dead == []


async def test_exhausted_retries_go_to_the_retry_topic_then_dead_letter(
    engine: SyncEngine, fake_provider: FakeCalendarProvider
) -> None:
    sinks = Sinks()
    sleep = FakeSleep()
    consumer = consumer_for(engine, sinks, sleep)
    fake_provider.fail("create_event", TransientProviderError("busy", status=503), times=100)
    raw = record(slots=1)
    await consumer.handle(raw, key=b"appt-1")
    (retry,) = sinks.raw
    assert retry[0] == topics.retry_topic(topics.GOOGLE_APPOINTMENTS)
    assert retry[3][HEADER_ATTEMPT] == "1" and float(retry[3][HEADER_NOT_BEFORE]) == 1002.0
    await consumer.handle(raw, key=b"appt-1", headers=retry[3])
    assert sleep.waits[-1] == 2.0  # waited for not-before
    assert sinks.raw[-1][3][HEADER_ATTEMPT] == "2"
    await consumer.handle(raw, key=b"appt-1", headers=sinks.raw[-1][3])
    assert len(sinks.dead) == 1 and "gave up" in sinks.dead[0][3]
