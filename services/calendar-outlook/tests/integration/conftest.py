"""Integration fixtures: the Microsoft emulator over HTTPS, the fake of the auth service's
internal API (``devstack.fake_auth``; contract: ``visitor_common.contracts.connections``), and
helpers to serve ASGI apps on the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from calendar_sync.testing import wait_until
from devstack.fake_auth import EmployeeTokens, FakeAuth, FakeConnection, IssuedToken
from provider_emulators.core.server import EmulatorServer
from provider_emulators.microsoft.app import create_app as create_ms_app
from provider_emulators.microsoft.testing import (
    MS_CONTOSO_ID,
    MS_SCOPES,
    MicrosoftControl,
    MsWorld,
    obtain_tokens,
    seed_ms_world,
)
from visitor_common.contracts.connections import ConnectionInfo
from visitor_common.events.appointments import Provider

SERVICE_CLIENT_ID = "calendar-outlook"
SERVICE_CLIENT_SECRET = "outlook-secret"


# --- serving ASGI apps on the running loop ---------------------------------------------------


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve(app: Any, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve ``app`` over plain HTTP on the current loop; yields its base URL."""
    sock = sock or free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=15)
        sock.close()


# --- the Microsoft emulator ------------------------------------------------------------------


@dataclass
class GraphEmulator:
    server: EmulatorServer
    control: MicrosoftControl
    world: MsWorld

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def host_events(self, mailbox: str | None = None, *, live: bool = True) -> list[dict[str, Any]]:
        events = self.control.mailbox_events(mailbox or self.world.host)
        return [e for e in events if not (live and e.get("deleted"))]

    def concurrency(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.state()["concurrency"]
        return result

    def tokens_for(self, account: str) -> dict[str, Any]:
        with httpx.Client(base_url=self.base_url, verify=self.ssl_context(), timeout=10) as http:
            return obtain_tokens(
                http, self.world, account, scope=f"{MS_SCOPES} https://graph.microsoft.com/Place.Read.All"
            )


@pytest.fixture(scope="session")
def _ms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    server = EmulatorServer(app_factory=create_ms_app, data_dir=tmp_path_factory.mktemp("ms-emulator"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def graph_emulator(_ms_server: EmulatorServer) -> Iterator[GraphEmulator]:
    """A freshly reset emulator seeded with the Contoso world (host, room list, 3 rooms)."""
    control = MicrosoftControl(_ms_server.base_url, _ms_server.ca_path)
    control.reset()
    world = seed_ms_world(control)
    control.grant_admin_consent(MS_CONTOSO_ID, world.client_id, ["Place.Read.All"])
    try:
        yield GraphEmulator(_ms_server, control, world)
    finally:
        control.close()


# --- the fake auth service (devstack.fake_auth) over real emulator tokens -------------------


class OutlookTokens:
    """The fake auth service's provider tokens: obtained from the emulator when an account is
    linked, refreshed there on a forced refresh (a refused refresh means: link again)."""

    def __init__(self, emulator: GraphEmulator) -> None:
        self.emulator = emulator

    def linked(self, connection: FakeConnection) -> None:
        tokens = self.emulator.tokens_for(str(connection.info.account_email))
        connection.access_token = tokens["access_token"]
        connection.refresh_token = tokens.get("refresh_token")

    def grant(self, connection: FakeConnection, *, force_refresh: bool) -> IssuedToken | None:
        if force_refresh and not self._refresh(connection):
            return None
        assert connection.access_token is not None
        return IssuedToken(connection.access_token, expires_in=50 * 60)

    def _refresh(self, connection: FakeConnection) -> bool:
        world = self.emulator.world
        form = {
            "grant_type": "refresh_token",
            "client_id": world.client_id,
            "client_secret": world.client_secret,
            "refresh_token": connection.refresh_token or "",
        }
        with httpx.Client(base_url=self.emulator.base_url, verify=self.emulator.ssl_context()) as http:
            response = http.post("/organizations/oauth2/v2.0/token", data=form)
        if response.status_code != 200:
            return False
        body = response.json()
        connection.access_token = body["access_token"]
        connection.refresh_token = body.get("refresh_token", connection.refresh_token)
        return True


@pytest.fixture
def fake_auth(graph_emulator: GraphEmulator) -> Iterator[FakeAuth]:
    auth = FakeAuth(
        Provider.OUTLOOK,
        OutlookTokens(graph_emulator),
        service_client=(SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET),
    )
    with auth.serving():
        yield auth


@pytest.fixture
def jwt_issuer() -> EmployeeTokens:
    """Employee tokens; a test serves its JWKS with ``fake_auth.jwks = jwt_issuer.jwks()``."""
    return EmployeeTokens(kid="test-key-1")


# --- Kafka helpers ---------------------------------------------------------------------------


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[Any]:
    from aiokafka import AIOKafkaProducer

    prod = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False, acks="all")
    await prod.start()
    try:
        yield prod
    finally:
        await prod.stop()


class StatusCollector:
    """Reads ``topics.SYNC_STATUS`` from the beginning in a group of its own."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.by_appointment: dict[str, list[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: Any = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer

        from visitor_common import topics

        self._consumer = AIOKafkaConsumer(
            topics.SYNC_STATUS,
            bootstrap_servers=self.bootstrap,
            group_id=None,  # no group: no join to wait for
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from visitor_common.events import parse_event

        async for record in self._consumer:
            event = parse_event(record.value)
            async with self._changed:
                self.by_appointment.setdefault(event.subject, []).append(event.data)
                self._changed.notify_all()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def latest(self, appointment_id: str) -> Any:
        found = self.by_appointment.get(appointment_id)
        return found[-1] if found else None

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(check(), timeout)

    async def wait_state(
        self, appointment_id: str, state: str, version: int | None = None, timeout: float = 60.0
    ) -> Any:
        def ok(c: StatusCollector) -> bool:
            return any(
                s.state.value == state and (version is None or s.appointment_version == version)
                for s in c.by_appointment.get(appointment_id, [])
            )

        await self.wait_for(ok, timeout)
        return next(
            s
            for s in reversed(self.by_appointment[appointment_id])
            if s.state.value == state and (version is None or s.appointment_version == version)
        )


@pytest.fixture
async def statuses(kafka_bootstrap: str) -> AsyncIterator[StatusCollector]:
    collector = StatusCollector(kafka_bootstrap)
    await collector.start()
    try:
        yield collector
    finally:
        await collector.stop()


# --- the connector under test ----------------------------------------------------------------


async def skip_history(bootstrap: str, group: str) -> None:
    """Commit the end of every topic the connector reads for its (new) groups, so a test's
    connector does not replay the earlier tests' records from the session broker."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from visitor_common import topics
    from visitor_common.messaging import ensure_topics

    await ensure_topics(bootstrap, topics.all_topics(6))
    plan = {
        group: topics.OUTLOOK_APPOINTMENTS,
        f"{group}.retry": topics.retry_topic(topics.OUTLOOK_APPOINTMENTS),
        f"{group}.connections": topics.CONNECTIONS,
    }
    for group_id, topic in plan.items():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
        await consumer.start()
        try:
            # the session broker is shared: another suite may have created the topic first
            await consumer.topics()
            found = consumer.partitions_for_topic(topic) or {0}
            partitions = [TopicPartition(topic, p) for p in sorted(found)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit(dict(ends.items()))
        finally:
            await consumer.stop()


@dataclass
class Connector:
    app: Any
    url: str

    @property
    def components(self) -> Any:
        return self.app.state.connector


@pytest.fixture
def emulator_settings(graph_emulator: GraphEmulator, fake_auth: FakeAuth) -> dict[str, Any]:
    """The connector's settings for the Graph emulator and the fake auth service."""
    return {
        "graph_base_url": graph_emulator.base_url,
        "provider_ca_file": graph_emulator.ca_path,
        "auth_url": fake_auth.url,
        "service_client_id": SERVICE_CLIENT_ID,
        "service_client_secret": SERVICE_CLIENT_SECRET,
        "jwks_url": f"{fake_auth.url}/.well-known/jwks.json",
    }


@pytest.fixture
async def start_connector(
    kafka_bootstrap: str, emulator_settings: dict[str, Any], fake_auth: FakeAuth, jwt_issuer: EmployeeTokens
) -> AsyncIterator[Any]:
    """``await start_connector(**settings)`` starts one connector instance (HTTP + consumers)."""
    from calendar_outlook.bootstrap import create_app
    from calendar_outlook.settings import Settings

    stack = contextlib.AsyncExitStack()
    group = f"calendar-outlook-{secrets.token_hex(3)}"
    await skip_history(kafka_bootstrap, group)

    async def start(store: Any = None, **overrides: Any) -> Connector:
        sock = free_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_idempotent_producer": False,
            "kafka_partitions": 6,
            "consumer_group": group,
            **emulator_settings,
            "public_base_url": url,
            "drift_poll_seconds": 60.0,
            "retry_base_seconds": 0.05,
            "redelivery_base_seconds": 0.5,
            # Tansu makes a group join wait half the session timeout.
            "kafka_session_timeout_ms": 2000,
            "kafka_heartbeat_interval_ms": 300,
        }
        values.update(overrides)
        app = create_app(Settings(**values), store=store)
        await stack.enter_async_context(serve(app, sock))
        return Connector(app, url)

    fake_auth.jwks = jwt_issuer.jwks()
    try:
        yield start
    finally:
        await stack.aclose()


# --- appointment events ----------------------------------------------------------------------


def slot_time(day: int, hour: int = 1) -> dt.datetime:
    base = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + dt.timedelta(days=day, hours=hour)


def make_snapshot(
    connection: ConnectionInfo,
    *,
    appointment_id: str | None = None,
    version: int = 1,
    status: str = "proposed",
    slots: list[tuple[str, dt.datetime, str | None]] | None = None,
    confirmed: str | None = None,
    title: str = "Visit from Fabrikam",
    hold: bool = True,
) -> Any:
    from visitor_common.events import AppointmentSnapshot, CalendarBinding, CandidateSlot, Guest, RoomRef

    slots = slots if slots is not None else [("s1", slot_time(3), None)]
    return AppointmentSnapshot(
        appointment_id=appointment_id or f"ap-{secrets.token_hex(5)}",
        tenant_id=connection.tenant_id,
        version=version,
        host_employee_id=connection.employee_id,
        host_email=connection.account_email,
        title=title,
        notes="Bring ID",
        guests=(Guest(name="Gus Guest", company="Fabrikam", email="gus@fabrikam.example"),),
        duration_minutes=60,
        status=status,
        candidates=tuple(
            CandidateSlot(
                slot_id=sid,
                start=start,
                end=start + dt.timedelta(hours=1),
                room=RoomRef(email=room, name=room.split("@")[0]) if room else None,
            )
            for sid, start, room in slots
        ),
        hold_candidates=hold,
        confirmed_slot_id=confirmed,
        binding=CalendarBinding(
            provider=Provider.OUTLOOK,
            connection_id=connection.connection_id,
            account_email=connection.account_email,
        ),
    )


async def publish_snapshot(
    producer: Any, snapshot: Any, kind: str = "created", topic: str | None = None
) -> Any:
    """Publish an appointment event carrying ``snapshot``; returns the envelope."""
    from visitor_common import topics
    from visitor_common.events import (
        AppointmentCancelled,
        AppointmentConfirmed,
        AppointmentCreated,
        AppointmentRescheduled,
        CalendarRestoreRequested,
        new_event,
        serialize_event,
    )

    model = {
        "created": AppointmentCreated,
        "confirmed": AppointmentConfirmed,
        "cancelled": AppointmentCancelled,
        "rescheduled": AppointmentRescheduled,
        "restore": CalendarRestoreRequested,
    }[kind]
    event = new_event(
        model(appointment=snapshot),
        source="/tests",
        subject=snapshot.appointment_id,
        tenant_id=snapshot.tenant_id,
        appointment_version=snapshot.version,
    )
    await producer.send_and_wait(topic or topics.OUTLOOK_APPOINTMENTS, serialize_event(event), key=event.key)
    return event


async def publish_raw(producer: Any, topic: str, value: bytes, key: bytes | None = None) -> None:
    await producer.send_and_wait(topic, value, key=key)


async def publish_connection_event(producer: Any, connection: ConnectionInfo, kind: str) -> None:
    from visitor_common import topics
    from visitor_common.events import (
        CalendarConnectionLinked,
        CalendarConnectionUnlinked,
        new_event,
        serialize_event,
    )

    model = {"linked": CalendarConnectionLinked, "unlinked": CalendarConnectionUnlinked}[kind]
    data = model(
        connection_id=connection.connection_id,
        tenant_id=connection.tenant_id,
        employee_id=connection.employee_id,
        provider=connection.provider,
        account_email=connection.account_email,
    )
    event = new_event(data, source="/tests", subject=connection.connection_id, tenant_id=connection.tenant_id)
    await producer.send_and_wait(topics.CONNECTIONS, serialize_event(event), key=event.key)


def ours(events: list[dict[str, Any]], appointment_id: str) -> list[dict[str, Any]]:
    """The emulator events that carry ``appointment_id`` in our extended property."""
    from calendar_outlook.domain.graph_event import APPOINTMENT_PROPERTY

    def value(e: dict[str, Any]) -> str | None:
        props = {p["id"].lower(): p["value"] for p in e.get("singleValueExtendedProperties", [])}
        return props.get(APPOINTMENT_PROPERTY.lower())

    return [e for e in events if value(e) == appointment_id]


async def until(predicate: Any, timeout: float = 60.0) -> Any:
    """Poll a (sync or async) predicate until it holds (``calendar_sync.testing.wait_until``)."""
    return await wait_until(predicate, within=timeout)


@pytest.fixture
def h() -> Any:
    """The helpers above, for test modules (conftest modules are not importable)."""
    import types

    return types.SimpleNamespace(
        slot_time=slot_time,
        make_snapshot=make_snapshot,
        publish_snapshot=publish_snapshot,
        publish_raw=publish_raw,
        publish_connection_event=publish_connection_event,
        ours=ours,
        until=until,
    )
