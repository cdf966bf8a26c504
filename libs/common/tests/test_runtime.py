"""The one runtime shape: start order, reverse stop order, and when the outbox relay runs."""

from __future__ import annotations

import asyncio

import pytest

from visitor_common.persistence import InMemoryDocumentStore
from visitor_common.runtime import ServiceRuntime
from visitor_common.settings import ServiceSettings
from visitor_common.topics import TopicSpec


def _settings(**update: object) -> ServiceSettings:
    return ServiceSettings(service_name="svc", **update)  # type: ignore[arg-type]


async def test_parts_start_in_order_and_stop_backwards() -> None:
    calls: list[str] = []
    runtime = ServiceRuntime.for_settings(_settings(kafka_enabled=False), InMemoryDocumentStore())

    async def prepare() -> None:
        calls.append("prepare")

    def starter(name: str):  # type: ignore[no-untyped-def]
        def start() -> None:
            calls.append(f"start {name}")

        async def stop() -> None:
            calls.append(f"stop {name}")

        return start, stop

    async def close() -> None:
        calls.append("close")

    runtime.prepare(prepare)
    runtime.background("monitor", *starter("monitor"))
    runtime.background("poller", *starter("poller"))
    runtime.on_close(close)
    async with runtime.lifespan():
        assert calls == ["prepare", "start monitor", "start poller"]
    assert calls[3:] == ["stop poller", "stop monitor", "close"]


async def test_a_failing_stop_does_not_keep_the_others_running() -> None:
    stopped: list[str] = []
    runtime = ServiceRuntime.for_settings(_settings(kafka_enabled=False), InMemoryDocumentStore())

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        stopped.append("fine")

    runtime.background("fine", lambda: None, fine)
    runtime.background("broken", lambda: None, broken)
    await runtime.start()
    await runtime.stop()
    assert stopped == ["fine"]


async def test_relay_runs_without_kafka_only_for_a_publisher_of_its_own() -> None:
    store = InMemoryDocumentStore()
    published: list[str] = []

    sent = asyncio.Event()

    async def record(entry) -> None:  # type: ignore[no-untyped-def]
        published.append(entry.id)
        sent.set()

    collection = store.collection("things")
    await collection.insert(
        {"_id": "a", "version": 1, "outbox": [{"id": "e1", "topic": "t", "key": "a", "payload": "{}"}]}
    )
    needs_kafka = ServiceRuntime.for_settings(_settings(kafka_enabled=False), store)
    needs_kafka.outbox([collection], record)
    await needs_kafka.start()
    assert needs_kafka._started == []  # no broker, no relay
    await needs_kafka.stop()

    own = ServiceRuntime.for_settings(_settings(kafka_enabled=False), InMemoryDocumentStore())
    relay = own.outbox([collection], record, needs_broker=False)
    await own.start()
    relay.notify()
    await asyncio.wait_for(sent.wait(), timeout=10)
    await own.stop()
    assert published == ["e1"]


def test_event_source_follows_the_service_name() -> None:
    assert _settings().event_source == "/services/svc"


def test_extra_topics_are_added_once() -> None:
    runtime = ServiceRuntime.for_settings(_settings(kafka_partitions=2), InMemoryDocumentStore())
    before = len(runtime.topics)
    runtime.add_topics([TopicSpec("extra.v1", 2), TopicSpec("extra.v1", 2), runtime.topics[0]])
    assert len(runtime.topics) == before + 1


@pytest.mark.broker
async def test_readiness_follows_the_broker(kafka_bootstrap: str) -> None:
    runtime = ServiceRuntime.for_settings(
        _settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotent_producer=False),
        InMemoryDocumentStore(),
    )
    checks = runtime.readiness()
    async with runtime.lifespan():
        assert await checks["store"]() and await checks["broker"]()
