"""Fakes and factories shared by the appointments service's unit and integration tests
(imported as ``appointments_testkit``; the conftest puts this folder on ``sys.path``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm

from appointments_service.domain.model import Appointment, Availability, AvailabilityState
from appointments_service.service_layer.ports import AuthUnavailable, ConnectorUnavailable
from appointments_service.settings import Settings
from visitor_common.contracts.availability import (
    AvailabilityAnswer,
    AvailabilityQuery,
    Room,
    RoomAvailability,
    RoomDirectory,
    RoomGroup,
    SlotAvailability,
)
from visitor_common.contracts.connections import ConnectionInfo
from visitor_common.events import CandidateSlot, ConnectionStatus, Guest, Provider
from visitor_common.security import JwksSource, JwtVerifier

ISSUER = "test-auth"
AUDIENCE = "visitor-scheduling"
KID = "test-key"


class Keys:
    """An Ed25519 signing key and its static JWKS."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwks = {"keys": [{**jwk, "kid": KID, "alg": "EdDSA", "use": "sig"}]}

    def verifier(self) -> JwtVerifier:
        return JwtVerifier(JwksSource(static=self.jwks), issuer=ISSUER, audience=AUDIENCE)

    def mint(
        self,
        tenant: str = "t1",
        employee: str = "e1",
        email: str | None = "host@example.co.jp",
        role: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": employee,
            "tid": tenant,
            "typ": "employee",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
        }
        if email:
            claims["email"] = email
        if role:
            claims["role"] = role
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": KID})

    def mint_reception(self, tenant: str = "t1", device: str = "dev-1") -> str:
        """A reception device's token, shaped like the auth service's ``/auth/v1/reception-token``."""
        now = int(time.time())
        claims = {
            "sub": device,
            "tid": tenant,
            "typ": "reception",
            "role": "reception",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": KID})


@dataclass
class FakeDirectory:
    """The auth service's connection directory, in memory."""

    connections: dict[str, ConnectionInfo] = field(default_factory=dict)
    unavailable: bool = False
    calls: list[str] = field(default_factory=list)

    def link(self, tenant: str, employee: str, provider: Provider, email: str = "host@example.co.jp") -> str:
        """Link a calendar; like the auth service, the previous active one becomes inactive."""
        for cid, info in list(self.connections.items()):
            if (
                info.tenant_id == tenant
                and info.employee_id == employee
                and info.status is ConnectionStatus.ACTIVE
            ):
                self.connections[cid] = info.model_copy(update={"status": ConnectionStatus.INACTIVE})
        cid = f"conn-{provider.value}-{uuid.uuid4().hex[:8]}"
        self.connections[cid] = ConnectionInfo(
            connection_id=cid,
            tenant_id=tenant,
            employee_id=employee,
            provider=provider,
            account_email=email,
            status=ConnectionStatus.ACTIVE,
            linked_at=datetime.now(UTC),
        )
        return cid

    def set_status(self, connection_id: str, status: ConnectionStatus) -> None:
        self.connections[connection_id] = self.connections[connection_id].model_copy(
            update={"status": status}
        )

    async def active_connection(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        self.calls.append(f"active:{tenant_id}/{employee_id}")
        if self.unavailable:
            raise AuthUnavailable("down")
        return next(
            (
                c
                for c in self.connections.values()
                if c.tenant_id == tenant_id
                and c.employee_id == employee_id
                and c.status is ConnectionStatus.ACTIVE
            ),
            None,
        )

    async def connection(self, connection_id: str) -> ConnectionInfo | None:
        self.calls.append(f"connection:{connection_id}")
        if self.unavailable:
            raise AuthUnavailable("down")
        return self.connections.get(connection_id)


@dataclass
class FakeGateway:
    """The connectors' availability API: busy intervals for the host and rooms, per provider."""

    host_busy: list[tuple[datetime, datetime]] = field(default_factory=list)
    busy_rooms: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    rooms_in_group: list[str] = field(
        default_factory=lambda: ["room-a@example.co.jp", "room-b@example.co.jp"]
    )
    selection_required: bool = False
    unreachable: bool = False
    seen: list[tuple[Provider, str, str]] = field(default_factory=list)

    @staticmethod
    def _overlaps(spans: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
        return any(s < end and start < e for s, e in spans)

    async def rooms(self, provider: Provider, bearer: str) -> RoomDirectory:
        self.seen.append((provider, "rooms", bearer))
        if self.unreachable:
            raise ConnectorUnavailable("down")
        if self.selection_required:
            return RoomDirectory(
                provider=provider, selection_required=True, choices=[RoomGroup(id="b1", name="Tokyo HQ")]
            )
        rooms = [Room(email=e, name=e.split("@")[0], group_id="b1") for e in self.rooms_in_group]
        return RoomDirectory(
            provider=provider,
            selection_required=False,
            selected=RoomGroup(id="b1", name="Tokyo HQ"),
            rooms=rooms,
        )

    async def availability(
        self, provider: Provider, bearer: str, query: AvailabilityQuery
    ) -> AvailabilityAnswer:
        self.seen.append((provider, "availability", bearer))
        if self.unreachable:
            raise ConnectorUnavailable("down")
        emails = [str(e) for e in query.room_emails]
        if query.include_preferred_rooms:
            emails += [e for e in self.rooms_in_group if e not in emails]
        slots = []
        for slot in query.slots:
            busy = self._overlaps(self.host_busy, slot.start, slot.end)
            rooms = [
                RoomAvailability(
                    email=e, free=not self._overlaps(self.busy_rooms.get(e, []), slot.start, slot.end)
                )
                for e in emails
            ]
            host_busy = [{"start": s, "end": e} for s, e in self.host_busy if s < slot.end and slot.start < e]
            slots.append(
                SlotAvailability(
                    start=slot.start, end=slot.end, host_free=not busy, host_busy=host_busy, rooms=rooms
                )  # type: ignore[arg-type]
            )
        return AvailabilityAnswer(provider=provider, slots=slots)


class Clock:
    """A settable clock for expiry tests (starts at real time)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def future(days: int = 3, hour: int = 10, minute: int = 0) -> datetime:
    base = (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )
    return base


def slot_json(start: datetime, minutes: int = 60, room: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
    }
    if room:
        body["room"] = {"email": room, "name": room.split("@")[0]}
    return body


def create_body(*starts: datetime, minutes: int = 60, **extra: Any) -> dict[str, Any]:
    starts = starts or (future(3), future(4))
    return {
        "title": "Quarterly review",
        "guests": [{"name": "Sato Hanako", "company": "ACME KK", "email": "sato@acme.example"}],
        "duration_minutes": minutes,
        "candidates": [slot_json(s, minutes) for s in starts],
        "notes": "Bring the contract",
        **extra,
    }


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    keys: Keys
    directory: FakeDirectory
    gateway: FakeGateway
    clock: Clock

    @property
    def container(self) -> Any:
        return self.app.state.container

    def auth(self, tenant: str = "t1", employee: str = "e1", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.mint(tenant, employee, **kw)}"}

    def desk(self, tenant: str = "t1", device: str = "dev-1") -> dict[str, str]:
        """Headers of a reception device's request."""
        return {"Authorization": f"Bearer {self.keys.mint_reception(tenant, device)}"}

    async def create(self, body: dict[str, Any] | None = None, **auth: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/appointments", json=body or create_body(), headers=self.auth(**auth)
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def outbox(self, appointment_id: str) -> list[dict[str, Any]]:
        doc = await self.container.repository.appointments.get(appointment_id)
        return list(doc["outbox"])


def make_appointment(now: datetime, **update: object) -> Appointment:
    """A plain proposed appointment (version 1, unbound) with candidates ``s1`` one day after
    ``now`` and ``s2`` two days after, one hour each; ``update`` overrides any field."""
    hour = timedelta(hours=1)
    base = Appointment(
        appointment_id="a1",
        tenant_id="t1",
        version=1,
        host_employee_id="e1",
        host_email="host@example.co.jp",
        title="Visit",
        guests=(Guest(name="G", email="g@example.com"),),
        duration_minutes=60,
        candidates=tuple(
            CandidateSlot(slot_id=f"s{d}", start=now + timedelta(days=d), end=now + timedelta(days=d) + hour)
            for d in (1, 2)
        ),
        availability=Availability(state=AvailabilityState.NOT_CHECKED),
        created_at=now,
        updated_at=now,
    )
    return base.model_copy(update=update)


def unit_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_enabled": False,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "guest_rate_limit_per_minute": 1000,
        **overrides,
    }
    return Settings(**values)


# --- real-broker helpers -------------------------------------------------------------------


async def consume_for(
    bootstrap: str,
    topics: list[str],
    subject: str,
    *,
    expect: dict[str, int],
    timeout: float = 20.0,
    settle: float = 0.0,
) -> dict[str, list[dict[str, Any]]]:
    """Read ``topics`` from the beginning and return the envelopes whose key is ``subject``,
    once each topic in ``expect`` holds at least that many (or the timeout passes), then
    ``settle`` seconds more so that extra (duplicate) messages would show up too."""
    import asyncio
    import json

    from aiokafka import AIOKafkaConsumer, TopicPartition

    # No consumer group: assigning partitions directly skips the broker's join delay.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        met_at: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    if record.key == subject.encode():
                        found[record.topic].append(json.loads(record.value))
            if met_at is None and all(len(found[t]) >= n for t, n in expect.items()):
                met_at = loop.time()
            if met_at is not None and loop.time() - met_at >= settle:
                break
    finally:
        await consumer.stop()
    return found


async def publish_raw(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def status_event(
    appointment: dict[str, Any],
    state: str = "synced",
    *,
    version: int | None = None,
    provider: str | None = None,
    connection_id: str | None = None,
    observed_at: datetime | None = None,
    **extra: Any,
) -> bytes:
    """A connector's CalendarSyncStatusReported envelope for ``appointment`` (an API body)."""
    from visitor_common.events import CalendarSyncStatusReported, new_event, serialize_event

    binding = appointment.get("binding") or {}
    data = CalendarSyncStatusReported(
        appointment_id=appointment["appointment_id"],
        tenant_id=extra.pop("tenant_id", "t1"),
        provider=Provider(provider or binding.get("provider", "google")),
        connection_id=connection_id or binding.get("connection_id", "conn-x"),
        appointment_version=version or appointment["version"],
        state=state,  # type: ignore[arg-type]
        observed_at=observed_at or datetime.now(UTC),
        **extra,
    )
    event = new_event(
        data,
        source="/services/calendar-test",
        subject=appointment["appointment_id"],
        tenant_id=data.tenant_id,
        appointment_version=data.appointment_version,
    )
    return serialize_event(event)


def restart_broker_with_topics(port: int, partitions: int = 1) -> Any:
    """Start Tansu again on ``port`` and recreate the topics before anyone else can talk to it.

    Tansu keeps everything in memory, so a restart loses the topics (Apache Kafka keeps them),
    and Tansu silently drops records produced to a topic that does not exist yet. Everything
    here runs synchronously — blocking the test's event loop, where the app under test also
    runs — so the app's producer only reconnects once the topics are back, as with Kafka.
    """
    import asyncio
    import threading

    from devstack.tansu import TansuBroker
    from visitor_common.messaging import ensure_topics
    from visitor_common.topics import all_topics

    broker = TansuBroker(port=port).start()
    errors: list[BaseException] = []

    def create() -> None:
        try:
            asyncio.run(ensure_topics(broker.bootstrap_servers, all_topics(partitions)))
        except BaseException as error:  # surfaced below
            errors.append(error)

    thread = threading.Thread(target=create)
    thread.start()
    thread.join(timeout=30)
    if errors:
        broker.stop()
        raise errors[0]
    return broker


def connection_event(
    directory: FakeDirectory, connection_id: str, kind: str = "linked", **overrides: Any
) -> bytes:
    """The auth service's calendar-connection event for a connection of ``directory``."""
    from visitor_common.events import (
        CalendarConnectionDeactivated,
        CalendarConnectionLinked,
        CalendarConnectionUnlinked,
        new_event,
        serialize_event,
    )

    models = {
        "linked": CalendarConnectionLinked,
        "unlinked": CalendarConnectionUnlinked,
        "deactivated": CalendarConnectionDeactivated,
    }
    info = directory.connections[connection_id]
    fields = {
        "connection_id": info.connection_id,
        "tenant_id": info.tenant_id,
        "employee_id": info.employee_id,
        "provider": info.provider,
        "account_email": info.account_email,
        **overrides,
    }
    data = models[kind](**fields)
    event = new_event(
        data, source="/services/auth", subject=connection_id, tenant_id=str(fields["tenant_id"])
    )
    return serialize_event(event)
