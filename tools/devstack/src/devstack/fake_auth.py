"""A fake of the auth service for the connectors' tests: its internal API
(``visitor_common.contracts.connections``) and its JWKS, served by uvicorn over a real socket.

What a real auth service does with provider tokens (OAuth grants, refresh, revocation) stays
with the test through :class:`ProviderTokens`: the Google suite mints emulator tokens per
request, the Outlook suite links with real emulator tokens and refreshes them. The fake keeps
the contract: service tokens by client credentials (401 without one), connection lookups
(404 ``connection_not_found`` / ``no_active_connection``), access tokens (409
``reauth_required`` / ``connection_inactive``), problem documents as the auth service sends them.

Usage::

    auth = FakeAuth(Provider.GOOGLE, MyTokens(), service_client=("calendar-google", "secret"))
    with auth.serving():
        info = auth.link("host@example.com")
        ...  # point the connector at auth.url; auth.connections[id].reauth_required = True; ...
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import JSONResponse

from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo, ServiceToken
from visitor_common.events.appointments import Provider
from visitor_common.events.connections import ConnectionStatus

JWT_ISSUER = "visitor-scheduling-auth"
JWT_AUDIENCE = "visitor-scheduling"
DEFAULT_TENANT = "tenant-1"


class EmployeeTokens:
    """Signs employee JWTs the way the auth service does (EdDSA, ``kid``, ``iss``/``aud``)."""

    def __init__(self, kid: str = "test-key") -> None:
        self.key = Ed25519PrivateKey.generate()
        self.kid = kid

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def employee_token(self, tenant_id: str, employee_id: str, email: str = "e@x.com") -> str:
        now = int(time.time())
        claims = {
            "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE,
            "sub": employee_id,
            "tid": tenant_id,
            "typ": "employee",
            "email": email,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})


@dataclass
class FakeConnection:
    """One linked account; ``info`` may be changed in place (status, room group)."""

    info: ConnectionInfo
    access_token: str | None = None
    refresh_token: str | None = None
    reauth_required: bool = False


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int = 3600


class ProviderTokens(Protocol):
    """Where the fake's provider access tokens come from (a provider emulator)."""

    def linked(self, connection: FakeConnection) -> None:
        """An account was just linked (e.g. obtain its first tokens)."""

    def grant(self, connection: FakeConnection, *, force_refresh: bool) -> IssuedToken | None:
        """An access token, a new one when ``force_refresh``; ``None`` when the provider refuses
        (the connection then needs a new link)."""


@dataclass
class FakeAuth:
    """The fake's state, which tests read and change; ``serving()`` puts it on a socket."""

    provider: Provider
    tokens: ProviderTokens
    service_client: tuple[str, str]
    connections: dict[str, FakeConnection] = field(default_factory=dict)
    signer: EmployeeTokens = field(default_factory=EmployeeTokens)
    jwks: dict[str, Any] = field(default_factory=dict)
    token_requests: int = 0  # access-token requests for known, active connections
    grants: int = 0  # access tokens handed out
    forced_refreshes: int = 0
    url: str = ""
    _service_tokens: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.jwks = self.jwks or self.signer.jwks()

    def link(
        self,
        account_email: str,
        *,
        connection_id: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
        employee_id: str | None = None,
        room_group_id: str | None = None,
    ) -> ConnectionInfo:
        """Link ``account_email`` (employee ``emp-<email>`` unless given); the employee's
        earlier connection becomes inactive, as with the auth service."""
        employee_id = employee_id or f"emp-{account_email}"
        for earlier in self.connections.values():
            if (earlier.info.tenant_id, earlier.info.employee_id) == (tenant_id, employee_id):
                earlier.info.status = ConnectionStatus.INACTIVE
        info = ConnectionInfo(
            connection_id=connection_id or f"conn-{secrets.token_hex(4)}",
            tenant_id=tenant_id,
            employee_id=employee_id,
            provider=self.provider,
            account_email=account_email,
            status=ConnectionStatus.ACTIVE,
            room_group_id=room_group_id,
            linked_at=datetime.now(UTC),
        )
        connection = FakeConnection(info)
        self.tokens.linked(connection)
        self.connections[info.connection_id] = connection
        return info

    def employee_token(self, email: str, tenant_id: str = DEFAULT_TENANT) -> str:
        """A JWT for the employee that ``link(email)`` links."""
        return self.signer.employee_token(tenant_id, f"emp-{email}", email)

    @contextmanager
    def serving(self) -> Iterator[FakeAuth]:
        """Serve the fake on 127.0.0.1 (a thread of its own) while the block runs."""
        with _ThreadedServer(create_app(self)) as url:
            self.url = url
            yield self

    # ------------------------------------------------------------ the routes' logic

    def issue_service_token(self, grant_type: str, client_id: str, client_secret: str) -> ServiceToken | None:
        if grant_type != "client_credentials" or (client_id, client_secret) != self.service_client:
            return None
        token = ServiceToken(access_token=secrets.token_urlsafe(16), expires_in=3600)
        self._service_tokens.add(token.access_token)
        return token

    def authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and token in self._service_tokens

    def active_connection(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        for connection in self.connections.values():
            info = connection.info
            if (info.tenant_id, info.employee_id, info.status) == (
                tenant_id,
                employee_id,
                ConnectionStatus.ACTIVE,
            ):
                return info
        return None

    def access_token(self, connection: FakeConnection, *, force_refresh: bool) -> AccessTokenGrant | None:
        """A grant, or ``None`` when the connection needs a new link."""
        self.token_requests += 1
        if connection.reauth_required:
            return None
        if force_refresh:
            self.forced_refreshes += 1
        issued = self.tokens.grant(connection, force_refresh=force_refresh)
        if issued is None:
            connection.reauth_required = True
            return None
        self.grants += 1
        return AccessTokenGrant(
            connection_id=connection.info.connection_id,
            provider=self.provider,
            access_token=issued.access_token,
            expires_at=datetime.now(UTC) + timedelta(seconds=issued.expires_in),
        )


class Problem(Exception):
    """Raised by a route: answered as a problem document, as ``visitor_common.web`` writes them."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail

    def response(self) -> JSONResponse:
        body = {
            "type": "about:blank",
            "title": self.detail,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        return JSONResponse(body, status_code=self.status, media_type="application/problem+json")


def create_app(auth: FakeAuth) -> FastAPI:
    """The JWKS and ``/internal/v1`` over ``auth``'s state. The routes are plain functions: the
    provider-token callbacks may block (they call an emulator), so FastAPI runs them in its
    thread pool."""
    app = FastAPI()

    def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Problem)
        return error.response()

    app.add_exception_handler(Problem, on_problem)

    def service_principal(request: Request) -> None:
        if not auth.authorized(request):
            raise Problem(401, "unauthorized", "service token required")

    def known(connection_id: str) -> FakeConnection:
        found = auth.connections.get(connection_id)
        if found is None:
            raise Problem(404, "connection_not_found", "no such calendar connection")
        return found

    @app.get("/healthz")
    def healthz() -> JSONResponse:  # what the connectors' readiness asks the auth service
        return JSONResponse({"status": "ok", "service": "fake-auth"})

    @app.get("/.well-known/jwks.json")
    def jwks() -> JSONResponse:
        return JSONResponse(auth.jwks)

    @app.post("/internal/v1/service-token")
    def service_token(
        grant_type: str = Form(), client_id: str = Form(), client_secret: str = Form()
    ) -> JSONResponse:
        token = auth.issue_service_token(grant_type, client_id, client_secret)
        if token is None:
            raise Problem(401, "invalid_client", "bad service credential")
        return JSONResponse(token.model_dump())

    internal = APIRouter(prefix="/internal/v1", dependencies=[Depends(service_principal)])

    @internal.get("/calendar-connections/{connection_id}")
    def connection(connection_id: str) -> JSONResponse:
        return JSONResponse(known(connection_id).info.model_dump(mode="json"))

    @internal.get("/tenants/{tenant_id}/employees/{employee_id}/calendar-connection")
    def employee_connection(tenant_id: str, employee_id: str) -> JSONResponse:
        info = auth.active_connection(tenant_id, employee_id)
        if info is None:
            raise Problem(404, "no_active_connection", "no active calendar connection")
        return JSONResponse(info.model_dump(mode="json"))

    @internal.post("/calendar-connections/{connection_id}/access-token")
    def access_token(connection_id: str, force_refresh: bool = False) -> JSONResponse:
        found = known(connection_id)
        if found.info.status is not ConnectionStatus.ACTIVE:
            raise Problem(409, "connection_inactive", f"connection is {found.info.status.value}")
        grant = auth.access_token(found, force_refresh=force_refresh)
        if grant is None:
            raise Problem(409, "reauth_required", f"Link the {auth.provider.value} calendar again.")
        return JSONResponse(grant.model_dump(mode="json"))

    app.include_router(internal)
    return app


class _ThreadedServer:
    """uvicorn on a socket bound before start (no port race), in a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="fake-auth", daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake auth service did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()
