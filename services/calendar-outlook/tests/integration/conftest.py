"""Integration fixtures: the Microsoft emulator over HTTPS, a fake of the auth service's
internal API (contract: ``visitor_common.contracts.connections``), and helpers to serve ASGI
apps on the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse

from calendar_sync.testing import wait_until
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
from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo, ServiceToken
from visitor_common.events.appointments import Provider
from visitor_common.events.connections import ConnectionStatus

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


# --- a fake of the auth service's internal API -----------------------------------------------


@dataclass
class FakeConnection:
    info: ConnectionInfo
    access_token: str
    refresh_token: str | None
    reauth_required: bool = False


@dataclass
class FakeAuth:
    """Implements ``visitor_common.contracts.connections`` over real emulator tokens."""

    emulator: GraphEmulator
    connections: dict[str, FakeConnection] = field(default_factory=dict)
    service_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    forced_refreshes: int = 0
    url: str = ""
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})

    def link(self, account: str, *, tenant_id: str = "t1", employee_id: str | None = None) -> ConnectionInfo:
        tokens = self.emulator.tokens_for(account)
        info = ConnectionInfo(
            connection_id=f"conn-{secrets.token_hex(4)}",
            tenant_id=tenant_id,
            employee_id=employee_id or f"emp-{account.split('@')[0]}",
            provider=Provider.OUTLOOK,
            account_email=account,
            status=ConnectionStatus.ACTIVE,
            room_group_id=None,
            linked_at=dt.datetime.now(dt.UTC),
        )
        self.connections[info.connection_id] = FakeConnection(
            info, tokens["access_token"], tokens.get("refresh_token")
        )
        return info

    async def _refresh(self, conn: FakeConnection) -> None:
        world = self.emulator.world
        form = {
            "grant_type": "refresh_token",
            "client_id": world.client_id,
            "client_secret": world.client_secret,
            "refresh_token": conn.refresh_token or "",
        }
        async with httpx.AsyncClient(
            base_url=self.emulator.base_url, verify=self.emulator.ssl_context()
        ) as http:
            response = await http.post("/organizations/oauth2/v2.0/token", data=form)
        if response.status_code != 200:
            conn.reauth_required = True
            return
        body = response.json()
        conn.access_token = body["access_token"]
        conn.refresh_token = body.get("refresh_token", conn.refresh_token)

    def app(self) -> FastAPI:
        app = FastAPI()

        def problem(status: int, code: str, detail: str) -> JSONResponse:
            body = {"type": "about:blank", "title": detail, "status": status, "code": code, "detail": detail}
            return JSONResponse(body, status_code=status, media_type="application/problem+json")

        def authorized(request: Request) -> bool:
            header = request.headers.get("authorization", "")
            return header.startswith("Bearer ") and header[7:] in self.service_tokens

        @app.get("/.well-known/jwks.json")
        async def jwks() -> JSONResponse:
            return JSONResponse(self.jwks)

        @app.post("/internal/v1/service-token")
        async def service_token(
            grant_type: str = Form(), client_id: str = Form(), client_secret: str = Form()
        ) -> JSONResponse:
            if grant_type != "client_credentials" or (client_id, client_secret) != (
                SERVICE_CLIENT_ID,
                SERVICE_CLIENT_SECRET,
            ):
                return problem(401, "invalid_client", "bad service credential")
            token = secrets.token_urlsafe(16)
            self.service_tokens.add(token)
            return JSONResponse(ServiceToken(access_token=token, expires_in=3600).model_dump())

        @app.get("/internal/v1/calendar-connections/{connection_id}")
        async def connection(connection_id: str, request: Request) -> JSONResponse:
            if not authorized(request):
                return problem(401, "unauthorized", "service token required")
            conn = self.connections.get(connection_id)
            if conn is None:
                return problem(404, "not_found", "no such connection")
            return JSONResponse(conn.info.model_dump(mode="json"))

        @app.get("/internal/v1/tenants/{tenant_id}/employees/{employee_id}/calendar-connection")
        async def employee_connection(tenant_id: str, employee_id: str, request: Request) -> JSONResponse:
            if not authorized(request):
                return problem(401, "unauthorized", "service token required")
            for conn in self.connections.values():
                info = conn.info
                if (info.tenant_id, info.employee_id) == (tenant_id, employee_id) and info.status == "active":
                    return JSONResponse(info.model_dump(mode="json"))
            return problem(404, "no_active_connection", "no active calendar connection")

        @app.post("/internal/v1/calendar-connections/{connection_id}/access-token")
        async def access_token(connection_id: str, request: Request) -> JSONResponse:
            if not authorized(request):
                return problem(401, "unauthorized", "service token required")
            conn = self.connections.get(connection_id)
            if conn is None:
                return problem(404, "not_found", "no such connection")
            self.token_requests += 1
            if request.query_params.get("force_refresh") == "true" and not conn.reauth_required:
                self.forced_refreshes += 1
                await self._refresh(conn)
            if conn.reauth_required:
                return problem(409, "reauth_required", "Outlookカレンダーとの連携をやり直してください。")
            grant = AccessTokenGrant(
                connection_id=connection_id,
                provider=Provider.OUTLOOK,
                access_token=conn.access_token,
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=50),
            )
            return JSONResponse(grant.model_dump(mode="json"))

        return app


@pytest.fixture
async def fake_auth(graph_emulator: GraphEmulator) -> AsyncIterator[FakeAuth]:
    auth = FakeAuth(graph_emulator)
    async with serve(auth.app()) as url:
        auth.url = url
        yield auth


# --- employee JWTs (the fake auth service also serves the JWKS) ------------------------------


class JwtIssuer:
    """Signs employee tokens the way the auth service does (EdDSA, kid, iss/aud)."""

    issuer = "visitor-scheduling-auth"
    audience = "visitor-scheduling"

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.key = Ed25519PrivateKey.generate()
        self.kid = "test-key-1"

    def jwks(self) -> dict[str, Any]:
        import json

        from jwt.algorithms import OKPAlgorithm

        jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def employee_token(self, tenant_id: str, employee_id: str, email: str = "e@x.com") -> str:
        import jwt

        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": employee_id,
            "tid": tenant_id,
            "typ": "employee",
            "email": email,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})


@pytest.fixture
def jwt_issuer() -> JwtIssuer:
    return JwtIssuer()


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

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(check(), timeout)

    async def wait_state(
        self, appointment_id: str, state: str, version: int | None = None, timeout: float = 20.0
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
        return self.app.state.components


@pytest.fixture
async def start_connector(
    kafka_bootstrap: str, graph_emulator: GraphEmulator, fake_auth: FakeAuth, jwt_issuer: JwtIssuer
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
            "graph_base_url": graph_emulator.base_url,
            "provider_ca_file": graph_emulator.ca_path,
            "auth_url": fake_auth.url,
            "service_client_id": SERVICE_CLIENT_ID,
            "service_client_secret": SERVICE_CLIENT_SECRET,
            "public_base_url": url,
            "jwks_url": f"{fake_auth.url}/.well-known/jwks.json",
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


async def until(predicate: Any, timeout: float = 20.0) -> Any:
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
