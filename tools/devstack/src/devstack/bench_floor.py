"""The raw floor of ``make bench``, in the same run, on the same broker and emulator: what two
bare Kafka hops and one bare HTTPS call cost, with none of the services' work.

A record goes producer → topic A → consumer 1, which produces it to topic B → consumer 2,
which makes one PATCH of an event at the Google emulator (the call a confirmation makes) and
then completes the request. Arrivals are open loop at the same rate as the end-to-end run, and
the consumers fetch with the same short wait as the services' hot consumer groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.bench_load import open_loop
from devstack.stats import Sample
from devstack.testing import RunningStack
from visitor_common.messaging import ensure_topics
from visitor_common.topics import TopicSpec

PAYLOAD = b"x" * 2048  # about an appointment event's size
FLOOR_USER = "bench-floor@example.com"  # not a host: its calendar is nobody's drift to watch


@dataclass
class Floor:
    producer: AIOKafkaProducer
    topic_a: str
    pending: dict[bytes, asyncio.Future[None]]

    async def one(self, _: int) -> None:
        request_id = uuid.uuid4().hex.encode()
        done = asyncio.get_running_loop().create_future()
        self.pending[request_id] = done
        try:
            await self.producer.send_and_wait(self.topic_a, PAYLOAD, key=request_id)
            await asyncio.wait_for(done, timeout=30)
        finally:
            self.pending.pop(request_id, None)


async def raw_floor(
    running: RunningStack, rate_per_s: float, duration_s: float, *, fetch_max_wait_ms: int, idempotent: bool
) -> list[Sample]:
    async with _floor(running, fetch_max_wait_ms=fetch_max_wait_ms, idempotent=idempotent) as floor:
        await _warm_up(floor)
        count = int(rate_per_s * duration_s)
        return await open_loop(list(range(count)), rate_per_s, duration_s, floor.one)


async def _warm_up(floor: Floor) -> None:
    """Until one record made the whole trip (the consumers' positions are set by then)."""
    for _ in range(60):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(floor.one(0), timeout=2)
            return
    raise RuntimeError("the raw floor's pipeline never completed a record")


@asynccontextmanager
async def _floor(running: RunningStack, *, fetch_max_wait_ms: int, idempotent: bool) -> AsyncIterator[Floor]:
    bootstrap = running.kafka_bootstrap
    run_id = uuid.uuid4().hex[:6]
    topic_a, topic_b = f"bench-floor-a-{run_id}", f"bench-floor-b-{run_id}"
    await ensure_topics(bootstrap, [TopicSpec(topic_a, 6), TopicSpec(topic_b, 6)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotent)
    hop1, hop2 = (
        AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, fetch_max_wait_ms=fetch_max_wait_ms)
        for topic in (topic_a, topic_b)
    )
    pending: dict[bytes, asyncio.Future[None]] = {}
    calendar = await _emulator_event(running)
    await producer.start()
    await hop1.start()
    await hop2.start()
    tasks = [
        asyncio.create_task(_forward(hop1, producer, topic_b)),
        asyncio.create_task(_call_provider(hop2, calendar, pending)),
    ]
    try:
        yield Floor(producer, topic_a, pending)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (hop1, hop2, producer):
            await client.stop()
        await calendar.http.aclose()


@dataclass
class EmulatorEvent:
    http: httpx.AsyncClient
    path: str


async def _emulator_event(running: RunningStack) -> EmulatorEvent:
    """A token and one event of a user of its own at the Google emulator, to PATCH."""
    google = running.stack.emulators["google"]
    apps = running.stack.apps
    assert apps is not None
    with contextlib.suppress(httpx.HTTPStatusError):  # kept from an earlier floor run
        running.google.add_user(FLOOR_USER)
    token = running.google.mint_token(FLOOR_USER, apps.google_client_id)["access_token"]
    verify = ssl.create_default_context(cafile=google.ca_file)
    http = httpx.AsyncClient(
        base_url=google.base_url, verify=verify, headers={"Authorization": f"Bearer {token}"}, timeout=20
    )
    created = await http.post(
        "/calendar/v3/calendars/primary/events",
        json={
            "summary": "floor",
            "start": {"dateTime": "2031-01-01T01:00:00Z"},
            "end": {"dateTime": "2031-01-01T01:30:00Z"},
        },
    )
    created.raise_for_status()
    return EmulatorEvent(http, f"/calendar/v3/calendars/primary/events/{created.json()['id']}")


async def _forward(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, topic: str) -> None:
    """Hop 1: produce each record on; sends are pipelined (the producer batches them), the
    next record is not held back until the broker acknowledged this one."""
    async for record in consumer:
        await producer.send(topic, record.value, key=record.key)


async def _call_provider(
    consumer: AIOKafkaConsumer, event: EmulatorEvent, pending: dict[bytes, asyncio.Future[None]]
) -> None:
    async def call(key: bytes | None) -> None:
        response = await event.http.patch(event.path, json={"status": "confirmed"})
        waiter = pending.get(key or b"")
        if waiter is not None and not waiter.done():
            if response.status_code == 200:
                waiter.set_result(None)
            else:
                waiter.set_exception(RuntimeError(f"emulator answered {response.status_code}"))

    calls: set[asyncio.Task[None]] = set()
    async for record in consumer:
        task = asyncio.create_task(call(record.key))  # the calls of a partition overlap, as a pool would
        calls.add(task)
        task.add_done_callback(calls.discard)
