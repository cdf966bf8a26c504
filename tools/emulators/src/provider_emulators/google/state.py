"""In-memory state of the Google emulator (directory, OAuth, calendars, channels)."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from provider_emulators.google.timeutil import Clock

CODE_TTL_S = 600
ACCESS_TOKEN_TTL_S = 3600
FLOW_TTL_S = 3600
REFRESH_IDLE_LIMIT_S = 183 * 24 * 3600  # unused for six months -> invalid_grant
MAX_REFRESH_TOKENS = 100  # per user and client; the oldest stops working beyond that


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Test application"
    domain: str | None = None  # an "internal" app: only users of this Workspace domain


@dataclass
class Domain:
    domain: str
    customer_id: str


@dataclass
class User:
    email: str
    name: str
    domain: str | None  # the Workspace domain (``hd``); None for a personal account
    directory_permission: bool = False
    time_zone: str = "UTC"
    sub: str = field(default_factory=lambda: str(100000000000000000000 + secrets.randbelow(10**20)))


@dataclass
class Building:
    customer_id: str
    resource: dict[str, Any]


@dataclass
class Room:
    customer_id: str
    resource: dict[str, Any]

    @property
    def email(self) -> str:
        return str(self.resource["resourceEmail"])


@dataclass
class AuthFlow:
    """An authorization request between the account chooser and the consent page."""

    flow_id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: str
    nonce: str | None
    login_hint: str | None
    created: float
    chosen_email: str | None = None  # the account whose consent page was shown


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    email: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    issue_refresh: bool
    expires_at: float
    used: bool = False
    grant_id: str | None = None


@dataclass
class Grant:
    """A user's consent to a client; refresh tokens and access tokens hang off it."""

    grant_id: str
    email: str
    client_id: str
    scopes: list[str]
    refresh_tokens: list[str] = field(default_factory=list)
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    email: str
    client_id: str
    scopes: list[str]
    expires_at: float
    grant_id: str | None = None
    revoked: bool = False


@dataclass
class StoredEvent:
    calendar_id: str
    resource: dict[str, Any]
    change_seq: int


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    message_number: int = 0


@dataclass
class GoogleState:
    """Everything the emulator knows. Mutated only on the server's event loop."""

    clock: Clock = field(default_factory=Clock)
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    buildings: dict[str, Building] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)  # by resourceEmail
    flows: dict[str, AuthFlow] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> grant id
    refresh_last_used: dict[str, float] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    events: dict[str, dict[str, StoredEvent]] = field(default_factory=dict)  # calendar -> id -> event
    channels: dict[str, Channel] = field(default_factory=dict)
    change_seq: int = 0
    sync_epoch: dict[str, int] = field(default_factory=dict)  # calendar -> epoch (bump = 410)

    def reset(self) -> None:
        fresh = GoogleState()
        for name in self.__dataclass_fields__:
            if name != "clock":
                setattr(self, name, getattr(fresh, name))
        self.clock.offset_s = 0.0

    def next_seq(self) -> int:
        self.change_seq += 1
        return self.change_seq

    def domain_of_customer(self, customer_id: str) -> Domain | None:
        return next((d for d in self.domains.values() if d.customer_id == customer_id), None)

    def customer_of(self, user: User) -> str | None:
        return self.domains[user.domain].customer_id if user.domain in self.domains else None

    def dump(self) -> dict[str, Any]:
        """JSON-able snapshot for test assertions; secrets and tokens are left out."""
        return {
            "now": self.clock.time(),
            "clients": {k: {**asdict(v), "client_secret": "***"} for k, v in self.clients.items()},
            "domains": {k: asdict(v) for k, v in self.domains.items()},
            "users": {k: asdict(v) for k, v in self.users.items()},
            "buildings": {k: v.resource for k, v in self.buildings.items()},
            "rooms": {k: v.resource for k, v in self.rooms.items()},
            "grants": {
                k: {**asdict(v), "refresh_tokens": len(v.refresh_tokens)} for k, v in self.grants.items()
            },
            "access_tokens": len(self.access_tokens),
            "events": {
                cal: {eid: ev.resource for eid, ev in evs.items()} for cal, evs in self.events.items()
            },
            "channels": {k: asdict(v) for k, v in self.channels.items()},
        }
