"""In-memory state of the Microsoft emulator: directory, identity grants, mailboxes, subscriptions.

Every handler is ``async`` and runs on the server's single event loop, so the state needs no
lock; background notification threads only receive ready-made payloads.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from provider_emulators.microsoft.timeutil import now

CONSUMER_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
"""The tenant that holds every personal Microsoft account."""

ADMIN_ONLY_SCOPES = frozenset({"Place.Read.All"})
"""Graph permissions that only an administrator can consent to."""

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_RESOURCE = "https://graph.microsoft.com/"
MAX_CONCURRENT_PER_MAILBOX = 4


@dataclass
class Tenant:
    id: str
    domain: str
    display_name: str
    admin_consent_required: bool = False
    # client_id -> scopes an administrator consented to for the whole tenant
    admin_consents: dict[str, set[str]] = field(default_factory=dict)

    @property
    def is_consumer(self) -> bool:
        return self.id == CONSUMER_TENANT_ID


@dataclass
class User:
    id: str
    email: str
    name: str
    tenant_id: str
    is_admin: bool = False

    @property
    def personal(self) -> bool:
        return self.tenant_id == CONSUMER_TENANT_ID


@dataclass
class App:
    client_id: str
    secret: str
    redirect_uris: list[str]
    name: str = "Test application"
    # what ``.default`` expands to: the permissions configured on the app registration
    permissions: list[str] = field(
        default_factory=lambda: ["User.Read", "Calendars.ReadWrite", "Place.Read.All"]
    )


@dataclass
class AuthRequest:
    """An authorization request waiting on the account chooser / consent pages."""

    id: str
    tenant_path: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    response_mode: str
    prompt: str | None
    login_hint: str | None
    client_info: bool
    kind: str = "authorize"  # or "adminconsent"
    created: dt.datetime = field(default_factory=now)
    user_id: str | None = None


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: dt.datetime
    redeemed: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_id: str
    scopes: list[str]
    expires_at: dt.datetime
    revoked: bool = False
    replaced_by: str | None = None


@dataclass
class AccessToken:
    token: str
    client_id: str
    user_id: str
    scopes: list[str]
    expires_at: dt.datetime


@dataclass
class StoredEvent:
    """One event in one mailbox; ``data`` holds the Graph JSON fields as last written."""

    id: str
    mailbox: str
    data: dict[str, Any]
    start: dt.datetime
    end: dt.datetime
    seq: int
    created: dt.datetime
    modified: dt.datetime
    change_key: str
    ical_uid: str
    transaction_id: str | None = None
    ext_props: list[dict[str, str]] = field(default_factory=list)
    deleted: bool = False
    is_organizer: bool = True
    time_zone: str = "UTC"


@dataclass
class Room:
    id: str
    email: str
    display_name: str
    tenant_id: str
    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = None
    floor_label: str | None = None
    booking_type: str = "standard"
    is_wheelchair_accessible: bool = False
    tags: list[str] = field(default_factory=list)


@dataclass
class RoomList:
    id: str
    email: str
    display_name: str
    tenant_id: str
    rooms: list[str] = field(default_factory=list)


@dataclass
class Subscription:
    id: str
    user_id: str
    client_id: str
    change_types: list[str]
    notification_url: str
    lifecycle_notification_url: str | None
    resource: str
    expiration: dt.datetime
    client_state: str | None


@dataclass
class DeltaState:
    """What a ``$deltatoken`` or ``$skiptoken`` stands for."""

    mailbox: str
    start: dt.datetime
    end: dt.datetime
    since_seq: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    final_seq: int = 0


@dataclass
class Settings:
    access_token_lifetime_s: int = 3600
    refresh_token_lifetime_s: int = 90 * 24 * 3600
    code_lifetime_s: int = 600
    # Entra keeps a redeemed refresh token valid until it expires; the emulator retires it by
    # default so a client that keeps the old token is caught. Set False for Entra's behaviour.
    retire_redeemed_refresh_tokens: bool = True
    enforce_mailbox_concurrency: bool = False
    mailbox_concurrency_limit: int = MAX_CONCURRENT_PER_MAILBOX
    graph_latency_ms: int = 0
    validation_timeout_s: float = 10.0
    delta_page_size: int = 10


@dataclass
class Counters:
    requests_by_mailbox: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    throttled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notifications_sent: int = 0
    notifications_failed: int = 0


class MicrosoftState:
    """Everything the emulator knows; ``reset()`` returns to the seeded consumer tenant only."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.settings = Settings()
        self.tenants: dict[str, Tenant] = {}
        self.users: dict[str, User] = {}
        self.apps: dict[str, App] = {}
        self.auth_requests: dict[str, AuthRequest] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        # (user_id, client_id) -> scopes the user consented to
        self.user_consents: dict[tuple[str, str], set[str]] = {}
        self.events: dict[str, StoredEvent] = {}
        self.seq = 0
        self.rooms: dict[str, Room] = {}
        self.room_lists: dict[str, RoomList] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.delta_states: dict[str, DeltaState] = {}
        self.invalidated_delta: set[str] = set()
        self.counters = Counters()
        self.notification_log: list[dict[str, Any]] = []
        self.add_tenant(CONSUMER_TENANT_ID, "consumers", "Microsoft Accounts")

    # --- directory -------------------------------------------------------------------------

    def add_tenant(
        self, tenant_id: str, domain: str, display_name: str, admin_consent_required: bool = False
    ) -> Tenant:
        tenant = Tenant(tenant_id, domain.lower(), display_name, admin_consent_required)
        self.tenants[tenant_id] = tenant
        return tenant

    def find_tenant(self, key: str) -> Tenant | None:
        """Find a tenant by id or domain (case-insensitive)."""
        lowered = key.lower()
        for tenant in self.tenants.values():
            if tenant.id == lowered or tenant.domain == lowered:
                return tenant
        return None

    def add_user(self, email: str, name: str, tenant_id: str, is_admin: bool = False) -> User:
        user = User(str(uuid.uuid4()), email.lower(), name, tenant_id, is_admin)
        self.users[user.id] = user
        return user

    def user_by_email(self, email: str) -> User | None:
        lowered = email.lower()
        return next((u for u in self.users.values() if u.email == lowered), None)

    def mailbox_exists(self, email: str) -> bool:
        return self.user_by_email(email) is not None or email.lower() in self.rooms

    # --- tokens ----------------------------------------------------------------------------

    def new_refresh_token(self, client_id: str, user_id: str, scopes: list[str]) -> RefreshToken:
        token = "0.A" + secrets.token_urlsafe(48)
        expires = now() + dt.timedelta(seconds=self.settings.refresh_token_lifetime_s)
        record = RefreshToken(token, client_id, user_id, scopes, expires)
        self.refresh_tokens[token] = record
        return record

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def live_events(self, mailbox: str) -> list[StoredEvent]:
        return [e for e in self.events.values() if e.mailbox == mailbox and not e.deleted]
