"""Integration fixtures: the Google emulator over HTTPS, the fake of the auth service's
internal API (``devstack.fake_auth``: uvicorn, real sockets; never ``auth_service``), a real
Tansu broker, and the connector itself served by uvicorn so the emulator can push notifications
to it."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from calendar_google.bootstrap import Connector, create_app
from calendar_google.settings import Settings
from calendar_sync.testing import wait_until
from devstack.fake_auth import FakeAuth, FakeConnection, IssuedToken
from devstack.tansu import free_port
from provider_emulators.core.server import EmulatorServer
from provider_emulators.google.app import create_app as create_emulator_app
from provider_emulators.google.testing import GoogleControl, SeededWorld, seed_world
from visitor_common import topics
from visitor_common.events import (
    AppointmentCreated,
    AppointmentSnapshot,
    AppointmentStatus,
    CalendarBinding,
    CalendarSyncStatusReported,
    CandidateSlot,
    EventData,
    Guest,
    Provider,
    RoomRef,
    new_event,
    parse_event,
    serialize_event,
)
from visitor_common.messaging import ensure_topics, event_headers

SERVICE_CLIENT = ("calendar-google", "svc-secret")


# ---------------------------------------------------------------- emulator


@pytest.fixture(scope="session")
def google_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    server = EmulatorServer(app_factory=create_emulator_app, data_dir=tmp_path_factory.mktemp("google-emu"))
    with server:
        yield server


@pytest.fixture(scope="session")
def control(google_emulator: EmulatorServer) -> Iterator[GoogleControl]:
    ctl = GoogleControl(google_emulator.base_url, google_emulator.ca_path)
    yield ctl
    ctl.close()


@pytest.fixture(scope="session")
def world(control: GoogleControl) -> SeededWorld:
    return seed_world(control)


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "control" in request.fixturenames:
        request.getfixturevalue("control").clear_faults()


# ---------------------------------------------------------------- fake auth service


class GoogleTokens:
    """The fake auth service's provider tokens: minted by the emulator for the linked account,
    a new one for every request (a forced refresh included)."""

    def __init__(self, control: GoogleControl, world: SeededWorld) -> None:
        self.control = control
        self.world = world

    def linked(self, connection: FakeConnection) -> None:
        pass

    def grant(self, connection: FakeConnection, *, force_refresh: bool) -> IssuedToken:
        minted = self.control.mint_token(str(connection.info.account_email), self.world.client_id)
        return IssuedToken(minted["access_token"], int(minted.get("expires_in", 3600)))


@pytest.fixture(scope="session")
def fake_auth(control: GoogleControl, world: SeededWorld) -> Iterator[FakeAuth]:
    auth = FakeAuth(Provider.GOOGLE, GoogleTokens(control, world), service_client=SERVICE_CLIENT)
    with auth.serving():
        yield auth


# ---------------------------------------------------------------- connector


_week = itertools.count(1)


class Harness:
    """One test's world: unique topics, a connector factory, publishing and status reading."""

    def __init__(
        self,
        bootstrap: str,
        emulator: EmulatorServer,
        control: GoogleControl,
        auth: FakeAuth,
        world: SeededWorld,
    ) -> None:
        self.bootstrap = bootstrap
        self.emulator = emulator
        self.control = control
        self.auth = auth
        self.world = world
        self.run_id = uuid.uuid4().hex[:8]
        self.appointments_topic = f"{topics.GOOGLE_APPOINTMENTS}.{self.run_id}"
        self.connections_topic = f"{topics.CONNECTIONS}.{self.run_id}"
        self.base = datetime(2027, 1, 4, 0, 0, tzinfo=UTC) + timedelta(weeks=next(_week) * 2)
        self.servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
        self.producer = KafkaBroker(bootstrap, enable_idempotence=False)
        self.status_consumer: AIOKafkaConsumer | None = None
        self.statuses: list[CalendarSyncStatusReported] = []

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "kafka_idempotent_producer": False,
            "kafka_partitions": 4,
            "appointments_topic": self.appointments_topic,
            "connections_topic": self.connections_topic,
            "consumer_group": f"calendar-google-{self.run_id}",
            "calendar_base_url": self.emulator.base_url,
            "directory_base_url": self.emulator.base_url,
            "provider_ca_file": Path(self.emulator.ca_path),
            "auth_url": self.auth.url,
            "service_client_id": SERVICE_CLIENT[0],
            "service_client_secret": SERVICE_CLIENT[1],
            "jwks_url": f"{self.auth.url}/.well-known/jwks.json",
            "retry_base_seconds": 0.02,
            "retry_max_delay_seconds": 0.5,
            "redelivery_base_seconds": 0.5,
            "drift_poll_seconds": 30.0,
            "consumer_max_workers": 2,
            "kafka_session_timeout_ms": 2000,
            "kafka_heartbeat_interval_ms": 300,
        }
        values.update(overrides)
        return Settings(**values)

    async def start_connector(self, *, push: bool = True, **overrides: Any) -> Connector:
        port = free_port()
        if push:
            overrides.setdefault("public_base_url", f"http://127.0.0.1:{port}")
        app = create_app(self.settings(http_port=port, **overrides))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        for _ in range(600):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        assert server.started, "connector did not start"
        self.servers.append((server, task))
        connector: Connector = app.state.connector
        return connector

    async def start(self) -> None:
        await ensure_topics(
            self.bootstrap,
            [
                topics.TopicSpec(name, 4)
                for name in (
                    self.appointments_topic,
                    topics.retry_topic(self.appointments_topic),
                    topics.dead_letter_topic(self.appointments_topic),
                    self.connections_topic,
                    topics.SYNC_STATUS,
                )
            ],
        )
        await self.producer.start()
        self.status_consumer = AIOKafkaConsumer(
            topics.SYNC_STATUS, bootstrap_servers=self.bootstrap, auto_offset_reset="latest", group_id=None
        )
        await self.status_consumer.start()
        await self.status_consumer.seek_to_end()

    async def stop(self) -> None:
        for server, task in self.servers:
            server.should_exit = True
        for _, task in self.servers:
            try:
                await asyncio.wait_for(task, timeout=15)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        if self.status_consumer is not None:
            await self.status_consumer.stop()
        await self.producer.stop()

    # ------------------------------------------------------------ building blocks

    def connection(self, email: str | None = None, *, room_group_id: str | None = None) -> str:
        connection_id = f"conn-{self.run_id}-{uuid.uuid4().hex[:6]}"
        self.auth.link(email or self.world.admin, connection_id=connection_id, room_group_id=room_group_id)
        return connection_id

    def snapshot(
        self,
        appointment_id: str,
        connection_id: str,
        *,
        version: int = 1,
        slots: int = 2,
        day: int = 0,
        status: AppointmentStatus = AppointmentStatus.PROPOSED,
        confirmed: str | None = None,
        rooms: bool = True,
        provider: Provider = Provider.GOOGLE,
        email: str | None = None,
    ) -> AppointmentSnapshot:
        host = email or self.world.admin
        start = self.base + timedelta(days=day)
        candidates = tuple(
            CandidateSlot(
                slot_id=f"s{i}",
                start=start + timedelta(hours=i),
                end=start + timedelta(hours=i, minutes=45),
                room=RoomRef(email=self.world.room_email(i % len(self.world.rooms)), name=f"Room {i}")
                if rooms
                else None,
            )
            for i in range(1, slots + 1)
        )
        return AppointmentSnapshot(
            appointment_id=appointment_id,
            tenant_id="tenant-1",
            version=version,
            host_employee_id=f"emp-{host}",
            host_email=host,
            title=f"Visit {appointment_id}",
            guests=(Guest(name="Guest", company="ACME", email="guest@acme.example"),),
            duration_minutes=45,
            status=status,
            candidates=candidates,
            confirmed_slot_id=confirmed,
            binding=CalendarBinding(provider=provider, connection_id=connection_id, account_email=host),
        )

    async def publish(self, snapshot: AppointmentSnapshot, data: EventData | None = None) -> bytes:
        payload = data or AppointmentCreated(appointment=snapshot)
        event = new_event(
            payload,
            source="urn:test",
            subject=snapshot.appointment_id,
            tenant_id=snapshot.tenant_id,
            appointment_version=snapshot.version,
        )
        raw = serialize_event(event)
        await self.producer.publish(
            raw, topic=self.appointments_topic, key=event.key, headers=event_headers(event)
        )
        return raw

    async def publish_raw(self, topic: str, raw: bytes, key: bytes) -> None:
        await self.producer.publish(raw, topic=topic, key=key)

    async def poll_statuses(self) -> None:
        assert self.status_consumer is not None
        batches = await self.status_consumer.getmany(timeout_ms=50)
        for records in batches.values():
            for record in records:
                data = parse_event(record.value).data
                if isinstance(data, CalendarSyncStatusReported):
                    self.statuses.append(data)

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> list[CalendarSyncStatusReported]:
        async def met() -> bool:
            await self.poll_statuses()
            return bool(predicate(self.statuses))

        try:
            await wait_until(met, within=timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}; statuses: {self.statuses[-10:]}") from None
        return self.statuses

    def latest(self, appointment_id: str) -> CalendarSyncStatusReported | None:
        found = [s for s in self.statuses if s.appointment_id == appointment_id]
        return found[-1] if found else None

    def ours(self, email: str | None = None) -> list[dict[str, Any]]:
        """The emulator's events of this run (by appointment id prefix)."""
        events = self.control.events(email or self.world.admin)
        return [
            e
            for e in events
            if (e.get("extendedProperties") or {})
            .get("private", {})
            .get("vsAppointmentId", "")
            .startswith(self.run_id)
        ]


def _appointment_of(event: dict[str, Any]) -> str:
    private = (event.get("extendedProperties") or {}).get("private") or {}
    return str(private.get("vsAppointmentId", ""))


@pytest.fixture
async def harness(
    kafka_bootstrap: str,
    google_emulator: EmulatorServer,
    control: GoogleControl,
    fake_auth: FakeAuth,
    world: SeededWorld,
) -> AsyncIterator[Harness]:
    h = Harness(kafka_bootstrap, google_emulator, control, fake_auth, world)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
