"""Aggregates of the auth service and the rules that act on them.

Documents are stored as ``model_dump(mode="json")`` so both persistence adapters behave alike;
every aggregate carries ``version`` for compare-and-set writes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from auth_service.domain import errors
from visitor_common.events import ConnectionStatus, Provider

PROVIDER_LABELS: dict[Provider, str] = {Provider.GOOGLE: "Google", Provider.OUTLOOK: "Microsoft 365"}
LINKED_MESSAGES: dict[Provider, str] = {
    Provider.GOOGLE: "Googleカレンダーと連携しました。",
    Provider.OUTLOOK: "Outlookカレンダーと連携しました。",
}
MICROSOFT_CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def new_id() -> str:
    return uuid.uuid4().hex


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class _Aggregate(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True, populate_by_name=True)

    id: str = Field(default_factory=new_id, alias="_id")
    version: int = 0
    # Pending events (transactional outbox), written in the same document write as the change.
    outbox: list[dict[str, Any]] = Field(default_factory=list)


class Tenant(_Aggregate):
    name: str
    created_at: datetime


class Employee(_Aggregate):
    tenant_id: str
    name: str
    email: str
    email_key: str = Field(description="Lower-cased e-mail, unique per tenant.")
    role: Role
    password_hash: str | None = None
    created_at: datetime

    def same_email(self, other: str) -> bool:
        return self.email_key == normalize_email(other)


def normalize_email(email: str) -> str:
    return email.strip().lower()


class EncryptedSecret(BaseModel):
    """AES-GCM ciphertext with the id of the key that sealed it (keys rotate)."""

    model_config = ConfigDict(frozen=True)

    kid: str
    nonce: str
    ciphertext: str


class ProviderIdentity(BaseModel):
    """Who signed in at the provider, as the verified id token says."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    subject: str
    email: str
    workspace: str | None = Field(
        None, description="Google ``hd`` or the Microsoft tenant id; None for a personal account."
    )


def check_linkable(identity: ProviderIdentity, employee: Employee) -> None:
    """R1 (only Workspace / Microsoft 365 work accounts) and R7 (same e-mail as the employee)."""
    label = PROVIDER_LABELS[identity.provider]
    if identity.workspace is None or identity.workspace == MICROSOFT_CONSUMER_TENANT:
        raise errors.personal_account(label, identity.email)
    if not employee.same_email(identity.email):
        raise errors.email_mismatch(employee.email, identity.email)


class CalendarConnection(_Aggregate):
    tenant_id: str
    employee_id: str
    provider: Provider
    account_email: str
    account_subject: str
    account_workspace: str | None = None
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    room_group_id: str | None = None
    refresh_token: EncryptedSecret | None = None
    scopes: list[str] = Field(default_factory=list)
    linked_at: datetime
    updated_at: datetime
    replaced_by: str | None = None

    @property
    def label(self) -> str:
        return PROVIDER_LABELS[self.provider]

    @property
    def room_selection_required(self) -> bool:
        return self.status is ConnectionStatus.ACTIVE and self.room_group_id is None

    def same_account(self, identity: ProviderIdentity) -> bool:
        return self.provider is identity.provider and self.account_subject == identity.subject

    def relink(
        self, identity: ProviderIdentity, token: EncryptedSecret, scopes: list[str], now: datetime
    ) -> None:
        self.status = ConnectionStatus.ACTIVE
        self.account_email = identity.email
        self.account_workspace = identity.workspace
        self.refresh_token = token
        self.scopes = scopes
        self.linked_at = now
        self.updated_at = now
        self.replaced_by = None

    def deactivate(self, replaced_by: str, now: datetime) -> None:
        """Kept (appointments bound to it explain themselves, R8) but no longer the active one."""
        self.status = ConnectionStatus.INACTIVE
        self.replaced_by = replaced_by
        self.updated_at = now

    def require_reauth(self, now: datetime) -> None:
        self.status = ConnectionStatus.REAUTH_REQUIRED
        self.refresh_token = None
        self.updated_at = now

    def unlink(self, now: datetime) -> None:
        self.status = ConnectionStatus.UNLINKED
        self.refresh_token = None
        self.updated_at = now

    def rotate_token(self, token: EncryptedSecret, now: datetime) -> None:
        self.refresh_token = token
        self.updated_at = now

    def choose_room_group(self, room_group_id: str, now: datetime) -> None:
        self.room_group_id = room_group_id
        self.updated_at = now

    def ensure_usable(self) -> None:
        """The internal token API hands out access only for an active, authorised connection."""
        if self.status is ConnectionStatus.REAUTH_REQUIRED:
            raise errors.reauth_required(self.label)
        if self.status is not ConnectionStatus.ACTIVE or self.refresh_token is None:
            raise errors.connection_inactive(self.status.value)


LinkPurpose = Literal["link", "admin_consent"]


class LinkState(_Aggregate):
    """A started link: single-use, expiring, bound to one employee. ``id`` is the state's hash."""

    tenant_id: str
    employee_id: str
    provider: Provider
    purpose: LinkPurpose = "link"
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    # PKCE verifier, nonce, or MSAL's whole auth-code flow: needed once, at the callback.
    flow: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def start(
        cls,
        state_hash: str,
        employee: Employee,
        provider: Provider,
        now: datetime,
        ttl: timedelta,
        flow: dict[str, Any],
        purpose: LinkPurpose = "link",
    ) -> LinkState:
        return cls(
            _id=state_hash,
            tenant_id=employee.tenant_id,
            employee_id=employee.id,
            provider=provider,
            purpose=purpose,
            created_at=now,
            expires_at=now + ttl,
            flow=flow,
        )

    def consume(self, provider: Provider, now: datetime) -> None:
        """Single use: the caller stores the result with a compare-and-set on ``version``."""
        if self.provider is not provider:
            raise errors.link_state_provider_mismatch()
        if self.used_at is not None:
            raise errors.link_state_used()
        if now >= self.expires_at:
            raise errors.link_state_expired()
        self.used_at = now
        self.flow = {}  # the verifier is spent; don't keep it around


class ReceptionDevice(_Aggregate):
    """A front-desk tablet of one tenant. It signs in with ``client_id`` + a secret shown once at
    registration (only its argon2 hash is kept); a revoked device keeps its record (who had
    which tablet when) but gets no more tokens."""

    tenant_id: str
    name: str
    client_id: str
    secret_hash: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def rename(self, name: str, now: datetime) -> None:
        self.name = name
        self.updated_at = now

    def revoke(self, now: datetime) -> bool:
        """Revoke once; False when it already was (revoking is idempotent)."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = now
        self.updated_at = now
        return True


class RefreshSession(_Aggregate):
    """An API client's refresh token (stored by hash), rotated on every use.

    Every token rotated from one sign-in belongs to that sign-in's *family* (RFC 9700 §4.14.2):
    presenting a token that was already used means a copy is in someone else's hands, so the
    whole family is revoked and both holders must sign in again."""

    tenant_id: str
    employee_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    family_id: str | None = Field(
        None, description="Id of the family's first session; None (stored before families): its own id."
    )
    revoked_at: datetime | None = None

    @property
    def family(self) -> str:
        return self.family_id or self.id

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at

    def revoke(self, now: datetime) -> bool:
        """Revoke once; False when it already was."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = now
        return True
