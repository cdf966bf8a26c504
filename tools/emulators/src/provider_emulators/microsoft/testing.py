"""Test helpers: a typed control-API client and a driver for the sign-in pages.

with EmulatorServer(app_factory=create_app, data_dir=d) as server:
    control = MicrosoftControl(server.base_url, server.ca_path)
    tenant = control.add_tenant("contoso.example")
    control.add_user("alice@contoso.example", "Alice Example", tenant=tenant["id"])
    result = sign_in(http, authorize_url, "alice@contoso.example")   # drives chooser + 承諾
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit

import httpx

from provider_emulators.core.client import ControlClient
from provider_emulators.microsoft.pages import ACCEPT_LABEL, CANCEL_LABEL


class MicrosoftControl(ControlClient):
    """The Microsoft emulator's control API (the shared routes come from ``ControlClient``)."""

    timeout = 15.0

    def add_app(self, redirect_uris: list[str], **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/apps", {"redirect_uris": redirect_uris, **extra})
        return result

    def add_tenant(self, domain: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/tenants", {"domain": domain, **extra})
        return result

    def set_policy(self, tenant: str, admin_consent_required: bool) -> dict[str, Any]:
        body = {"admin_consent_required": admin_consent_required}
        result: dict[str, Any] = self.call("PUT", f"/tenants/{tenant}/policy", body)
        return result

    def grant_admin_consent(self, tenant: str, client_id: str, scopes: list[str]) -> dict[str, Any]:
        body = {"client_id": client_id, "scopes": scopes}
        result: dict[str, Any] = self.call("POST", f"/tenants/{tenant}/admin-consents", body)
        return result

    def revoke_admin_consent(self, tenant: str, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("DELETE", f"/tenants/{tenant}/admin-consents/{client_id}")
        return result

    def add_user(self, email: str, name: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/users", {"email": email, "name": name, **extra})
        return result

    def add_room_list(self, email: str, display_name: str, tenant: str) -> dict[str, Any]:
        body = {"email": email, "display_name": display_name, "tenant": tenant}
        result: dict[str, Any] = self.call("POST", "/room-lists", body)
        return result

    def add_room(self, email: str, display_name: str, tenant: str, **extra: Any) -> dict[str, Any]:
        body = {"email": email, "display_name": display_name, "tenant": tenant, **extra}
        result: dict[str, Any] = self.call("POST", "/rooms", body)
        return result

    def mint_tokens(self, user: str, client_id: str, scopes: list[str]) -> dict[str, Any]:
        """The token endpoint's answer for a grant made without the sign-in pages."""
        body = {"user": user, "client_id": client_id, "scopes": scopes}
        result: dict[str, Any] = self.call("POST", "/tokens", body)
        return result

    def expire_access_tokens(self, user: str | None = None, client_id: str | None = None) -> int:
        return int(self.call("POST", "/tokens/expire", {"user": user, "client_id": client_id})["expired"])

    def revoke_grants(self, user: str | None = None, client_id: str | None = None) -> int:
        return int(self.call("POST", "/grants/revoke", {"user": user, "client_id": client_id})["revoked"])

    def settings(self, **values: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("PUT", "/settings", values)
        return result

    def mailbox_events(self, mailbox: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", f"/mailboxes/{mailbox}/events")["value"]
        return result

    def create_event(self, mailbox: str, event: dict[str, Any]) -> dict[str, Any]:
        """Create an event as if the mailbox owner did it in Outlook."""
        result: dict[str, Any] = self.call("POST", f"/mailboxes/{mailbox}/events", event)
        return result

    def edit_event(self, mailbox: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit an event as if the mailbox owner did it in Outlook."""
        result: dict[str, Any] = self.call("PATCH", f"/mailboxes/{mailbox}/events/{event_id}", changes)
        return result

    def delete_event(self, mailbox: str, event_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("DELETE", f"/mailboxes/{mailbox}/events/{event_id}")
        return result

    def invalidate_delta(self, mailbox: str) -> int:
        return int(self.call("POST", "/delta/invalidate", {"mailbox": mailbox})["invalidated"])

    def lifecycle(self, subscription_id: str, lifecycle_event: str) -> dict[str, Any]:
        body = {"lifecycle_event": lifecycle_event}
        result: dict[str, Any] = self.call("POST", f"/subscriptions/{subscription_id}/lifecycle", body)
        return result


# --- the sign-in pages ------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, label)
    id: str | None = None


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower(), id=a.get("id")))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self._button = [a.get("name", ""), a.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value, label = self._button
            self.forms[-1].buttons.append((name, value, label.strip()))
            self._button = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def submit(client: httpx.Client, page_url: str, form: Form, button_label: str) -> httpx.Response:
    """Submit ``form`` by clicking the button whose label contains ``button_label``."""
    name, value, _ = next(b for b in form.buttons if button_label in b[2])
    data = dict(form.fields)
    if name:
        data[name] = value
    return client.post(urljoin(page_url, form.action), data=data)


@dataclass
class SignInResult:
    """Where the flow ended: the redirect URL and its query (or fragment) parameters."""

    location: str
    params: dict[str, str]
    pages: list[str] = field(default_factory=list)  # ids of the forms shown on the way


def _result(response: httpx.Response, pages: list[str]) -> SignInResult:
    location = response.headers["location"]
    parts = urlsplit(location)
    return SignInResult(location, dict(parse_qsl(parts.query or parts.fragment)), pages)


def sign_in(
    client: httpx.Client, authorize_url: str, account: str | None, accept: bool = True
) -> SignInResult:
    """Drive the account chooser and consent pages the way a user would (no JavaScript)."""
    response = client.get(authorize_url)
    page_url = authorize_url
    pages: list[str] = []
    for _ in range(4):
        if response.status_code in (301, 302, 303):
            return _result(response, pages)
        forms = parse_forms(response.text)
        if response.status_code != 200 or not forms:
            raise AssertionError(f"unexpected sign-in page {response.status_code}: {response.text[:500]}")
        form = forms[0]
        pages.append(form.id or "")
        if form.id == "account-chooser":
            assert account is not None, "the account chooser needs an account"
            response = submit(client, page_url, form, account)
        elif form.id == "consent":
            response = submit(client, page_url, form, ACCEPT_LABEL if accept else CANCEL_LABEL)
        elif form.id == "response":  # response_mode=form_post
            return SignInResult(form.action, dict(form.fields), pages)
        else:
            raise AssertionError(f"unexpected form {form.id}")
        page_url = str(response.request.url)
    raise AssertionError("sign-in did not finish")


# --- a seeded world and the full code flow ---------------------------------------------------

MS_REDIRECT_URI = "https://visitors.example/oauth/microsoft/callback"
MS_CONTOSO_ID = "11111111-2222-3333-4444-555555555555"
MS_FABRIKAM_ID = "66666666-7777-8888-9999-000000000000"
MS_SCOPES = "openid profile email offline_access https://graph.microsoft.com/Calendars.ReadWrite"
MS_PLACES_SCOPES = f"{MS_SCOPES} https://graph.microsoft.com/Place.Read.All"


@dataclass
class MsWorld:
    """The seeded directory: Contoso (user consent allowed) and Fabrikam (admin consent required)."""

    client_id: str
    client_secret: str
    contoso_id: str = MS_CONTOSO_ID
    fabrikam_id: str = MS_FABRIKAM_ID
    host: str = "host@contoso.example"
    colleague: str = "colleague@contoso.example"
    admin: str = "admin@contoso.example"
    fabrikam_user: str = "user@fabrikam.example"
    fabrikam_admin: str = "admin@fabrikam.example"
    personal: str = "visitor@outlook.example"
    room_list: str = "tokyo-rooms@contoso.example"
    rooms: list[str] = field(default_factory=list)


def seed_ms_world(control: MicrosoftControl, redirect_uri: str = MS_REDIRECT_URI) -> MsWorld:
    app = control.add_app([redirect_uri], name="Visitor Scheduling")
    world = MsWorld(client_id=app["client_id"], client_secret=app["client_secret"])
    control.add_tenant("contoso.example", id=MS_CONTOSO_ID, display_name="Contoso")
    control.add_tenant("fabrikam.example", id=MS_FABRIKAM_ID, admin_consent_required=True)
    control.add_user(world.host, "Hana Host", tenant=MS_CONTOSO_ID)
    control.add_user(world.colleague, "Colin League", tenant=MS_CONTOSO_ID)
    control.add_user(world.admin, "Ada Admin", tenant=MS_CONTOSO_ID, is_admin=True)
    control.add_user(world.fabrikam_user, "Fabi User", tenant="fabrikam.example")
    control.add_user(world.fabrikam_admin, "Fabi Admin", tenant="fabrikam.example", is_admin=True)
    control.add_user(world.personal, "Vic Visitor", personal=True)
    control.add_room_list(world.room_list, "Tokyo HQ", MS_CONTOSO_ID)
    for i, capacity in enumerate((4, 8, 12), start=1):
        email = f"room{i}@contoso.example"
        control.add_room(
            email,
            f"Room {i}",
            MS_CONTOSO_ID,
            room_list=world.room_list,
            capacity=capacity,
            building="HQ",
            floor_number=i,
            floor_label=f"{i}F",
            tags=["visitors"] if i == 1 else [],
            is_wheelchair_accessible=i == 2,
        )
        world.rooms.append(email)
    return world


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(world: MsWorld, tenant: str = "organizations", **params: str) -> str:
    query = {
        "client_id": world.client_id,
        "response_type": "code",
        "redirect_uri": MS_REDIRECT_URI,
        "scope": MS_SCOPES,
        "response_mode": "query",
        "state": "st-" + secrets.token_hex(4),
        **params,
    }
    return f"/{tenant}/oauth2/v2.0/authorize?{urlencode(query)}"


def redeem(
    http: httpx.Client, world: MsWorld, code: str, verifier: str | None, tenant: str = "organizations"
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": world.client_id,
        "client_secret": world.client_secret,
        "code": code,
        "redirect_uri": MS_REDIRECT_URI,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    return http.post(f"/{tenant}/oauth2/v2.0/token", data=form)


def obtain_tokens(
    http: httpx.Client, world: MsWorld, account: str, scope: str = MS_SCOPES, tenant: str = "organizations"
) -> dict[str, Any]:
    """Run the whole authorization-code flow with PKCE and return the token response."""
    verifier, challenge = pkce_pair()
    url = authorize_url(
        world, tenant, scope=scope, code_challenge=challenge, code_challenge_method="S256", login_hint=account
    )
    result = sign_in(http, url, account)
    assert "code" in result.params, result.params
    response = redeem(http, world, result.params["code"], verifier, tenant)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class GraphReceiver:
    """A notification endpoint: answers validation requests and records notifications."""

    url: str
    mode: str = "echo"  # echo | wrong | status500 | slow | html
    slow_s: float = 0.0
    notify_status: int = 202
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.notifications) >= count, timeout=timeout)
            return list(self.notifications)

    def settle(self, quiet_s: float = 0.3) -> list[dict[str, Any]]:
        """Wait until no notification arrived for ``quiet_s``."""
        seen = -1
        while seen != len(self.notifications):
            seen = len(self.notifications)
            time.sleep(quiet_s)
        return list(self.notifications)


def _receiver_handler(receiver: GraphReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            token = parse_qs(urlsplit(self.path).query).get("validationToken")
            if token:
                self._validate(token[0])
                return
            self.send_response(receiver.notify_status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with receiver.arrived:
                receiver.notifications.append({"path": self.path, "body": json.loads(raw or b"{}")})
                receiver.arrived.notify_all()

        def _validate(self, token: str) -> None:
            receiver.validations.append(token)
            if receiver.mode == "slow":
                time.sleep(receiver.slow_s)
            status = 500 if receiver.mode == "status500" else 200
            body = ("nope" if receiver.mode == "wrong" else token).encode()
            ctype = "text/html" if receiver.mode == "html" else "text/plain; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def start_receiver() -> tuple[GraphReceiver, ThreadingHTTPServer]:
    """Serve a :class:`GraphReceiver` on a free local port (call ``server.shutdown()`` after)."""
    receiver = GraphReceiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/graph/notify"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return receiver, server
