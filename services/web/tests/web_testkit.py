"""Fake API clients (the auth, appointments and connector APIs as the pages see them) and an
in-process browser (httpx over ASGI) that keeps cookies and follows no redirect by itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from visitor_common.contracts.availability import (
    AvailabilityAnswer,
    AvailabilityQuery,
    Room,
    RoomDirectory,
    RoomGroup,
    SlotAvailability,
)
from web_service.adapters.api import ApiError, Apis, AppointmentsApi, AuthApi, ConnectorApi
from web_service.bootstrap import create_app

GUEST_TOKEN = "g" * 32
START = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
PASSWORD = "correct horse battery"


def slot(slot_id: str, hours: int, room: str | None = None) -> dict[str, Any]:
    start = START + timedelta(hours=hours)
    return {
        "slot_id": slot_id,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "room_name": room,
    }


@dataclass
class World:
    """What the fake services hold."""

    candidates: list[dict[str, Any]] = field(
        default_factory=lambda: [slot("s1", 0, "Room 1"), slot("s2", 1, "Room 2")]
    )
    confirmed: dict[str, Any] | None = None
    guest_refusal: ApiError | None = None
    pick_refusal: ApiError | None = None
    code_in_view: bool = True  # the appointments API shows the code to the link's holder once confirmed
    connection: dict[str, Any] | None = None
    selection_required: bool = True
    room_group: str | None = None
    link_refusal: ApiError | None = None
    created: list[dict[str, Any]] = field(default_factory=list)
    access_ok: set[str] = field(default_factory=lambda: {"access-1"})
    refreshed: int = 0
    callbacks: list[dict[str, str]] = field(default_factory=list)


class FakeAuth(AuthApi):
    def __init__(self, world: World) -> None:
        self.w = world

    def _token(self, token: str) -> None:
        if token not in self.w.access_ok:
            raise ApiError(401, "unauthorized")

    async def sign_in(self, tenant_id: str, email: str, password: str) -> dict[str, Any]:
        if password != PASSWORD:
            raise ApiError(401, "invalid_credentials")
        return {"access_token": "access-1", "refresh_token": "refresh-1", "expires_in": 900}

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        if refresh_token != "refresh-1" or self.w.refreshed >= 1:  # single use, like auth's
            raise ApiError(401, "invalid_refresh_token")
        self.w.refreshed += 1
        self.w.access_ok.add("access-2")
        return {"access_token": "access-2", "refresh_token": "refresh-1", "expires_in": 900}

    async def authorize(self, token: str, provider: str) -> str:
        self._token(token)
        return f"https://accounts.example/{provider}/authorize?state=st"

    async def callback(self, provider: str, params: dict[str, str]) -> dict[str, Any]:
        self.w.callbacks.append(params)
        if self.w.link_refusal is not None:
            raise self.w.link_refusal
        self.w.connection = {
            "connection_id": "c1",
            "provider": "google" if provider == "google" else "outlook",
            "account_email": "alice@example.com",
            "status": "active",
            "room_group_id": None,
            "room_selection_required": self.w.selection_required,
            "linked_at": START.isoformat(),
        }
        label = "Google" if provider == "google" else "Outlook"
        return {"message": f"{label}カレンダーと連携しました。", "connection": self.w.connection}

    async def current_connection(self, token: str) -> dict[str, Any] | None:
        self._token(token)
        return self.w.connection

    async def set_room_group(self, token: str, room_group_id: str) -> dict[str, Any]:
        self._token(token)
        if room_group_id not in ("hq", "annex"):
            raise ApiError(422, "validation_failed")
        self.w.room_group = room_group_id
        self.w.selection_required = False
        return self.w.connection or {}


class FakeAppointments(AppointmentsApi):
    def __init__(self, world: World) -> None:
        self.w = world

    async def guest_view(self, guest_token: str) -> dict[str, Any]:
        if self.w.guest_refusal is not None:
            raise self.w.guest_refusal
        if guest_token != GUEST_TOKEN:
            raise ApiError(404, "guest_link_invalid")
        open_ = [] if self.w.confirmed else self.w.candidates
        return {
            "title": "Visit of ACME",
            "duration_minutes": 30,
            "status": "confirmed" if self.w.confirmed else "proposed",
            "candidates": open_,
            "confirmed_slot": self.w.confirmed,
            "expires_at": (START + timedelta(days=3)).isoformat(),
            "reception_code": "123456" if self.w.confirmed and self.w.code_in_view else None,
            "host_name": "host@contoso.example" if self.w.confirmed else None,
        }

    async def pick(self, guest_token: str, slot_id: str) -> dict[str, Any]:
        if self.w.pick_refusal is not None:
            raise self.w.pick_refusal
        if guest_token != GUEST_TOKEN:
            raise ApiError(404, "guest_link_invalid")
        if self.w.confirmed:
            raise ApiError(409, "already_confirmed")
        chosen = next((c for c in self.w.candidates if c["slot_id"] == slot_id), None)
        if chosen is None:
            raise ApiError(404, "slot_not_found")
        self.w.confirmed = chosen
        return {"status": "confirmed", "confirmed_slot": chosen, "reception_code": "123456"}

    def _item(self, body: dict[str, Any], index: int) -> dict[str, Any]:
        return {
            "appointment_id": f"a{index}",
            "version": 1,
            "status": "proposed",
            "title": body["title"],
            "guests": body["guests"],
            "duration_minutes": body["duration_minutes"],
            "candidates": [
                {
                    "slot_id": f"s{i}",
                    "start": c["start"],
                    "end": c["end"],
                    "room": c.get("room"),
                    "availability": None,
                }
                for i, c in enumerate(body["candidates"])
            ],
            "confirmed_slot_id": None,
            "reception_code": None,
            "calendar_sync": {
                "state": "drifted",
                "drift": [
                    {
                        "entry_key": "hold:s0",
                        "provider_event_id": "e1",
                        "kind": "changed",
                        "field": "start",
                        "expected": "10:00",
                        "actual": "11:00",
                    }
                ],
            },
        }

    async def mine(self, token: str) -> list[dict[str, Any]]:
        return [self._item(b, i) for i, b in enumerate(self.w.created)]

    async def get(self, token: str, appointment_id: str) -> dict[str, Any]:
        items = {f"a{i}": self._item(b, i) for i, b in enumerate(self.w.created)}
        if appointment_id not in items:
            raise ApiError(404, "appointment_not_found")
        return items[appointment_id]

    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self.w.created.append(body)
        index = len(self.w.created) - 1
        return {**self._item(body, index), "guest_url": f"https://web.example/g/{GUEST_TOKEN}"}

    async def restore(self, token: str, appointment_id: str, version: int) -> dict[str, Any]:
        return await self.get(token, appointment_id)

    async def reissue_link(self, token: str, appointment_id: str, version: int) -> dict[str, Any]:
        await self.get(token, appointment_id)
        return {"guest_url": "https://web.example/g/" + "h" * 32}


class FakeConnector(ConnectorApi):
    def __init__(self, world: World, provider: str) -> None:
        self.w = world
        self.provider = provider

    async def rooms(self, token: str) -> RoomDirectory:
        groups = [RoomGroup(id="hq", name="本社ビル"), RoomGroup(id="annex", name="Annex")]
        if self.w.selection_required:
            return RoomDirectory(provider=self.provider, selection_required=True, choices=groups)
        rooms = [Room(email="room1@example.com", name="Room 1", capacity=4)]
        return RoomDirectory(
            provider=self.provider, selection_required=False, choices=groups, selected=groups[0], rooms=rooms
        )

    async def availability(self, token: str, query: AvailabilityQuery) -> AvailabilityAnswer:
        slots = [
            SlotAvailability(start=s.start, end=s.end, host_free=i % 2 == 0, rooms=[])
            for i, s in enumerate(query.slots)
        ]
        return AvailabilityAnswer(provider=self.provider, slots=slots)


@dataclass
class Fakes:
    world: World
    apis: Apis


@pytest.fixture
def fakes() -> Fakes:
    world = World()
    apis = Apis(
        auth=FakeAuth(world),
        appointments=FakeAppointments(world),
        connectors={"google": FakeConnector(world, "google"), "outlook": FakeConnector(world, "outlook")},
    )
    return Fakes(world, apis)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """An in-process browser: cookies kept, redirects returned (not followed)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(url, **kwargs)

    async def csrf(self, url: str = "/host/sign-in") -> str:
        page = await self.http.get(url)
        found = CSRF.search(page.text)
        assert found, page.text[:300]
        return found.group(1)

    async def post(self, url: str, data: dict[str, str], csrf_from: str = "/host/sign-in") -> httpx.Response:
        token = await self.csrf(csrf_from)
        return await self.http.post(url, data={"csrf_token": token, **data})

    async def sign_in(self) -> None:
        done = await self.post(
            "/host/sign-in", {"tenant_id": "demo", "email": "alice@example.com", "password": PASSWORD}
        )
        assert done.status_code == 303, done.text


@pytest.fixture
async def browser(fakes: Fakes) -> AsyncIterator[Browser]:
    app = create_app(apis=fakes.apis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
        yield Browser(http)
