"""A typed client for the Google emulator's control API, for test suites and the dev stack.

with EmulatorServer(app_factory=create_app, data_dir=d) as server:
    control = GoogleControl(server.base_url, server.ca_path)
    control.add_domain("example.com", customer_id="C01")
    control.add_user("alice@example.com", directory_permission=True)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from provider_emulators.core.client import ControlClient
from provider_emulators.google.tokens import CALENDAR_SCOPES, DIRECTORY_SCOPES

DEFAULT_SCOPES = ["openid", "email", CALENDAR_SCOPES[0], DIRECTORY_SCOPES[1]]


class GoogleControl(ControlClient):
    """The Google emulator's control API (the shared routes come from ``ControlClient``)."""

    def add_client(
        self, client_id: str, client_secret: str, redirect_uris: list[str], **extra: Any
    ) -> dict[str, Any]:
        body = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}
        result: dict[str, Any] = self.call("POST", "/clients", {**body, **extra})
        return result

    def add_domain(self, domain: str, customer_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/domains", {"domain": domain, "customer_id": customer_id})
        return result

    def add_user(self, email: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/users", {"email": email, **extra})
        return result

    def patch_user(self, email: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("PATCH", f"/users/{email}", fields)
        return result

    def revoke_user(self, email: str, client_id: str | None = None) -> int:
        return int(self.call("POST", f"/users/{email}/revoke", {"client_id": client_id})["revoked"])

    def add_building(self, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/buildings", fields)
        return result

    def add_room(self, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/rooms", fields)
        return result

    def mint_token(
        self, email: str, client_id: str, scopes: list[str] | None = None, offline: bool = True
    ) -> dict[str, Any]:
        body = {
            "email": email,
            "client_id": client_id,
            "scopes": scopes or DEFAULT_SCOPES,
            "offline": offline,
        }
        result: dict[str, Any] = self.call("POST", "/tokens", body)
        return result

    def expire_tokens(self, email: str | None = None, access_tokens: list[str] | None = None) -> int:
        body = {"email": email, "access_tokens": access_tokens}
        return int(self.call("POST", "/tokens/expire", body)["expired"])

    def advance_clock(self, seconds: float) -> None:
        self.call("POST", "/clock/advance", {"seconds": seconds})

    def invalidate_sync_tokens(self, calendar_id: str | None = None) -> None:
        self.call("POST", "/sync-tokens/invalidate", {"calendar_id": calendar_id})

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", f"/calendars/{calendar_id}/events")["items"]
        return result

    def direct_edit(self, calendar_id: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.call("PATCH", f"/calendars/{calendar_id}/events/{event_id}", patch)
        return result

    def direct_delete(self, calendar_id: str, event_id: str) -> None:
        self.call("DELETE", f"/calendars/{calendar_id}/events/{event_id}")

    def push_stats(self) -> dict[str, int]:
        result: dict[str, int] = self.call("GET", "/push")
        return result


@dataclass(frozen=True)
class SeededWorld:
    """What :func:`seed_world` created (a Workspace tenant, a personal user, one OAuth client)."""

    domain: str
    customer_id: str
    client_id: str
    client_secret: str
    redirect_uri: str
    admin: str  # Workspace user with directory permission
    member: str  # Workspace user without directory permission
    personal: str  # @gmail.com user, no ``hd``
    building_ids: list[str]
    rooms: list[dict[str, Any]]

    def room_email(self, index: int = 0) -> str:
        return str(self.rooms[index]["resourceEmail"])


def seed_world(control: GoogleControl, redirect_uri: str = "http://127.0.0.1:8765/callback") -> SeededWorld:
    """A typical tenant: example.com (customer C01) with two buildings and three rooms."""
    control.add_domain("example.com", customer_id="C01")
    control.add_client(
        "test-client.apps.googleusercontent.com", "test-secret", [redirect_uri], name="受付アプリ"
    )
    control.add_user("alice@example.com", name="Alice Admin", directory_permission=True)
    control.add_user("bob@example.com", name="Bob Member")
    control.add_user("carol@gmail.com", name="Carol Personal", personal=True)
    buildings = [("hq", "本社", ["1", "2"]), ("annex", "別館", ["1"])]
    for building_id, name, floors in buildings:
        control.add_building(
            domain="example.com", buildingId=building_id, buildingName=name, floorNames=floors
        )
    rooms = [
        control.add_room(
            domain="example.com", resourceName="会議室A", capacity=6, buildingId="hq", floorName="1"
        ),
        control.add_room(
            domain="example.com", resourceName="会議室B", capacity=10, buildingId="hq", floorName="2"
        ),
        control.add_room(
            domain="example.com", resourceName="応接室", capacity=4, buildingId="annex", floorName="1"
        ),
    ]
    return SeededWorld(
        domain="example.com",
        customer_id="C01",
        client_id="test-client.apps.googleusercontent.com",
        client_secret="test-secret",
        redirect_uri=redirect_uri,
        admin="alice@example.com",
        member="bob@example.com",
        personal="carol@gmail.com",
        building_ids=[b[0] for b in buildings],
        rooms=rooms,
    )


@dataclass
class PushReceiver:
    """A local HTTP endpoint collecting the headers of push notifications POSTed to ``url``."""

    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        """Wait until ``count`` notifications arrived (or ``timeout``); return all received."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def _record(self, headers: dict[str, str]) -> None:
        with self.arrived:
            self.received.append(headers)
            self.arrived.notify_all()

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[PushReceiver]:
        receiver = cls()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.end_headers()
                receiver._record(dict(self.headers.items()))

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="push-receiver"
        )
        thread.start()
        try:
            yield receiver
        finally:
            server.shutdown()
            server.server_close()
