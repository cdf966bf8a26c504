"""Microsoft-specific ``/__emulator`` control endpoints (JSON in, JSON out).

The common ones (``POST /reset``, ``GET /state``, ``GET /requests``, ``POST|GET|DELETE /faults``,
``DELETE /faults/{id}``) come from ``provider_emulators.core.control``. Added here:

- ``POST /apps`` ``{redirect_uris, client_id?, client_secret?, name?, permissions?}`` → app incl. secret
- ``POST /tenants`` ``{domain, id?, display_name?, admin_consent_required?}`` (409 on duplicates)
- ``PUT /tenants/{id|domain}/policy`` ``{admin_consent_required}``
- ``POST /tenants/{t}/admin-consents`` ``{client_id, scopes}``;
  ``DELETE /tenants/{t}/admin-consents/{client_id}``
- ``POST /users`` ``{email, name, tenant?, is_admin?, personal?}`` (personal → consumer tenant)
- ``POST /room-lists`` ``{email, display_name, tenant}``
- ``POST /rooms`` ``{email, display_name, tenant, room_list?, capacity?, building?, floor_number?,
  floor_label?, booking_type?, is_wheelchair_accessible?, tags?}``
- ``POST /tokens`` ``{user, client_id, scopes}`` → the token endpoint's answer (access, refresh
  and id token) for a grant made without the sign-in pages, as if the user had consented: the
  drift bench's bulk seeding (``devstack.fleet``); the tokens work like any others
- ``POST /tokens/expire`` ``{user?, client_id?}`` → ``{expired: n}`` (access tokens)
- ``POST /grants/revoke`` ``{user?, client_id?}`` → ``{revoked: n}`` (refresh tokens and user consent)
- ``PUT /settings`` ``{access_token_lifetime_s?, refresh_token_lifetime_s?, code_lifetime_s?,
  retire_redeemed_refresh_tokens?, enforce_mailbox_concurrency?, mailbox_concurrency_limit?,
  graph_latency_ms?, validation_timeout_s?, delta_page_size?, notification_ca_path?}``
- ``GET /mailboxes/{email}/events`` (incl. deleted); ``POST`` (create), ``PATCH /{id}`` (edit),
  ``DELETE /{id}``: changes made "in Outlook" — new changeKey, delta entries, notifications
- ``POST /delta/invalidate`` ``{mailbox}`` → its delta/skip tokens answer 410 ``resyncRequired``
- ``POST /subscriptions/{id}/lifecycle``
  ``{lifecycle_event: reauthorizationRequired|subscriptionRemoved|missed}`` → ``{delivered, status}``
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from provider_emulators.microsoft import calendar
from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import GraphError
from provider_emulators.microsoft.identity import token_response
from provider_emulators.microsoft.notify import lifecycle_payload
from provider_emulators.microsoft.scopes import parse_scopes, resource_scopes
from provider_emulators.microsoft.state import (
    CONSUMER_TENANT_ID,
    App,
    Room,
    RoomList,
    StoredEvent,
    Tenant,
    User,
)
from provider_emulators.microsoft.timeutil import now

PREFIX = "/__emulator"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppIn(_Body):
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uris: list[str]
    name: str = "Test application"
    permissions: list[str] = Field(
        default_factory=lambda: ["User.Read", "Calendars.ReadWrite", "Place.Read.All"]
    )


class TenantIn(_Body):
    id: str | None = None
    domain: str
    display_name: str | None = None
    admin_consent_required: bool = False


class PolicyIn(_Body):
    admin_consent_required: bool


class AdminConsentIn(_Body):
    client_id: str
    scopes: list[str]


class UserIn(_Body):
    email: str
    name: str
    tenant: str | None = None
    is_admin: bool = False
    personal: bool = False


class RoomListIn(_Body):
    email: str
    display_name: str
    tenant: str


class RoomIn(_Body):
    email: str
    display_name: str
    tenant: str
    room_list: str | None = None
    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = None
    floor_label: str | None = None
    booking_type: Literal["standard", "reserved", "unknown"] = "standard"
    is_wheelchair_accessible: bool = False
    tags: list[str] = Field(default_factory=list)


class TokenSelector(_Body):
    user: str | None = None
    client_id: str | None = None


class MintIn(_Body):
    user: str
    client_id: str
    scopes: list[str]


class LifecycleIn(_Body):
    lifecycle_event: Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]


class DeltaInvalidateIn(_Body):
    mailbox: str


class SettingsIn(_Body):
    access_token_lifetime_s: int | None = Field(default=None, ge=0)
    refresh_token_lifetime_s: int | None = Field(default=None, ge=0)
    code_lifetime_s: int | None = Field(default=None, ge=0)
    retire_redeemed_refresh_tokens: bool | None = None
    enforce_mailbox_concurrency: bool | None = None
    mailbox_concurrency_limit: int | None = Field(default=None, ge=1)
    graph_latency_ms: int | None = Field(default=None, ge=0)
    validation_timeout_s: float | None = Field(default=None, gt=0)
    delta_page_size: int | None = Field(default=None, ge=1)
    notification_ca_path: str | None = None


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


def _tenant(emu: Emulator, key: str) -> Tenant:
    tenant = emu.state.find_tenant(key)
    if tenant is None:
        raise _not_found(f"tenant {key}")
    return tenant


def _user_dump(user: User) -> dict[str, Any]:
    return {**asdict(user), "personal": user.personal}


def _tenant_dump(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "domain": tenant.domain,
        "display_name": tenant.display_name,
        "admin_consent_required": tenant.admin_consent_required,
        "admin_consents": {k: sorted(v) for k, v in tenant.admin_consents.items()},
    }


def _event_dump(emu: Emulator, ev: StoredEvent) -> dict[str, Any]:
    return {
        **calendar.render_event(emu, ev, expand=[p["id"] for p in ev.ext_props]),
        "deleted": ev.deleted,
        "seq": ev.seq,
    }


def state_dump(emu: Emulator) -> dict[str, Any]:
    """Everything a test may want to assert on."""
    state = emu.state
    mailboxes: dict[str, list[dict[str, Any]]] = {}
    for ev in state.events.values():
        mailboxes.setdefault(ev.mailbox, []).append(_event_dump(emu, ev))
    counters = state.counters
    return {
        "provider": "microsoft",
        "base_url": emu.base_url,
        "settings": asdict(state.settings),
        "tenants": [_tenant_dump(t) for t in state.tenants.values()],
        "users": [_user_dump(u) for u in state.users.values()],
        "apps": [asdict(a) for a in state.apps.values()],
        "room_lists": [asdict(r) for r in state.room_lists.values()],
        "rooms": [asdict(r) for r in state.rooms.values()],
        "mailboxes": mailboxes,
        "subscriptions": [
            {**asdict(s), "expiration": s.expiration.isoformat()} for s in state.subscriptions.values()
        ],
        "refresh_tokens": {"live": sum(1 for r in state.refresh_tokens.values() if not r.revoked)},
        "concurrency": {
            "max_in_flight": dict(counters.max_in_flight),
            "in_flight": dict(counters.in_flight),
            "requests_by_mailbox": dict(counters.requests_by_mailbox),
            "throttled": dict(counters.throttled),
        },
        "notifications": {
            "sent": counters.notifications_sent,
            "failed": counters.notifications_failed,
            "log": list(state.notification_log),
        },
    }


def _event_or_404(emu: Emulator, mailbox: str, event_id: str) -> StoredEvent:
    try:
        return calendar.find_event(emu, mailbox.lower(), event_id)
    except GraphError as exc:
        raise _not_found(f"event {event_id} in {mailbox}") from exc


def _graph_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a calendar operation, turning Graph validation errors into 400s."""
    try:
        return fn(*args, **kwargs)
    except GraphError as exc:
        raise HTTPException(
            status_code=exc.status, detail={"code": exc.code, "message": exc.message}
        ) from exc


def _directory_routes(router: APIRouter, emu: Emulator) -> None:
    state = emu.state

    @router.post("/apps")
    async def create_app_registration(body: AppIn) -> dict[str, Any]:
        app = App(
            client_id=body.client_id or str(uuid.uuid4()),
            secret=body.client_secret or secrets.token_urlsafe(30),
            redirect_uris=body.redirect_uris,
            name=body.name,
            permissions=body.permissions,
        )
        state.apps[app.client_id] = app
        return {"client_id": app.client_id, "client_secret": app.secret, **asdict(app)}

    @router.post("/tenants")
    async def create_tenant(body: TenantIn) -> dict[str, Any]:
        tenant_id = body.id or str(uuid.uuid4())
        if state.find_tenant(tenant_id) or state.find_tenant(body.domain):
            raise HTTPException(status_code=409, detail="tenant id or domain already exists")
        tenant = state.add_tenant(
            tenant_id, body.domain, body.display_name or body.domain, body.admin_consent_required
        )
        return _tenant_dump(tenant)

    @router.put("/tenants/{tenant}/policy")
    async def set_policy(tenant: str, body: PolicyIn) -> dict[str, Any]:
        found = _tenant(emu, tenant)
        found.admin_consent_required = body.admin_consent_required
        return _tenant_dump(found)

    @router.post("/tenants/{tenant}/admin-consents")
    async def grant_admin_consent(tenant: str, body: AdminConsentIn) -> dict[str, Any]:
        found = _tenant(emu, tenant)
        found.admin_consents.setdefault(body.client_id, set()).update(body.scopes)
        return _tenant_dump(found)

    @router.delete("/tenants/{tenant}/admin-consents/{client_id}")
    async def revoke_admin_consent(tenant: str, client_id: str) -> dict[str, Any]:
        found = _tenant(emu, tenant)
        found.admin_consents.pop(client_id, None)
        return _tenant_dump(found)

    @router.post("/users")
    async def create_user(body: UserIn) -> dict[str, Any]:
        if state.user_by_email(body.email) is not None:
            raise HTTPException(status_code=409, detail=f"user {body.email} already exists")
        tenant_id = CONSUMER_TENANT_ID if body.personal else _tenant(emu, body.tenant or "").id
        return _user_dump(state.add_user(body.email, body.name, tenant_id, body.is_admin))

    @router.post("/room-lists")
    async def create_room_list(body: RoomListIn) -> dict[str, Any]:
        room_list = RoomList(
            str(uuid.uuid4()), body.email.lower(), body.display_name, _tenant(emu, body.tenant).id
        )
        state.room_lists[room_list.email] = room_list
        return asdict(room_list)

    @router.post("/rooms")
    async def create_room(body: RoomIn) -> dict[str, Any]:
        room = Room(
            id=str(uuid.uuid4()),
            email=body.email.lower(),
            display_name=body.display_name,
            tenant_id=_tenant(emu, body.tenant).id,
            capacity=body.capacity,
            building=body.building,
            floor_number=body.floor_number,
            floor_label=body.floor_label,
            booking_type=body.booking_type,
            is_wheelchair_accessible=body.is_wheelchair_accessible,
            tags=body.tags,
        )
        if body.room_list is not None:
            room_list = state.room_lists.get(body.room_list.lower())
            if room_list is None:
                raise _not_found(f"room list {body.room_list}")
            room_list.rooms.append(room.email)
        state.rooms[room.email] = room
        return asdict(room)


def _token_routes(router: APIRouter, emu: Emulator) -> None:
    state = emu.state

    def _matches(user_id: str, client_id: str, selector: TokenSelector) -> bool:
        user = state.user_by_email(selector.user) if selector.user else None
        if selector.user and (user is None or user.id != user_id):
            return False
        return not selector.client_id or selector.client_id == client_id

    @router.post("/tokens")
    async def mint(body: MintIn) -> dict[str, Any]:
        user = state.user_by_email(body.user)
        app = state.apps.get(body.client_id)
        if user is None or app is None:
            raise _not_found(f"user {body.user} or app {body.client_id}")
        scopes = parse_scopes(" ".join(body.scopes), app)  # as the authorize request keeps them
        consented = state.user_consents.setdefault((user.id, app.client_id), set())
        consented.update(resource_scopes(scopes))
        return token_response(emu, app, user, scopes, None, {})

    @router.post("/tokens/expire")
    async def expire_access_tokens(body: TokenSelector) -> dict[str, int]:
        past = now().replace(year=2000)
        hits = [t for t in state.access_tokens.values() if _matches(t.user_id, t.client_id, body)]
        for token in hits:
            token.expires_at = past
        return {"expired": len(hits)}

    @router.post("/grants/revoke")
    async def revoke_grants(body: TokenSelector) -> dict[str, int]:
        hits = [
            r
            for r in state.refresh_tokens.values()
            if not r.revoked and _matches(r.user_id, r.client_id, body)
        ]
        for record in hits:
            record.revoked = True
        for key in [k for k in state.user_consents if _matches(k[0], k[1], body)]:
            del state.user_consents[key]
        return {"revoked": len(hits)}

    @router.put("/settings")
    async def update_settings(body: SettingsIn) -> dict[str, Any]:
        values = body.model_dump(exclude_none=True)
        ca_path = values.pop("notification_ca_path", None)
        if ca_path is not None:
            emu.notifier.trust(ca_path)
        for name, value in values.items():
            setattr(state.settings, name, value)
        return asdict(state.settings)


def _mailbox_routes(router: APIRouter, emu: Emulator) -> None:
    @router.get("/mailboxes/{mailbox}/events")
    async def mailbox_events(mailbox: str) -> dict[str, Any]:
        events = [e for e in emu.state.events.values() if e.mailbox == mailbox.lower()]
        return {"value": [_event_dump(emu, e) for e in sorted(events, key=lambda e: e.created)]}

    @router.post("/mailboxes/{mailbox}/events", status_code=201)
    async def create_direct(mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
        if not emu.state.mailbox_exists(mailbox):
            raise _not_found(f"mailbox {mailbox}")
        ev, _ = _graph_call(calendar.create_event, emu, mailbox.lower(), body, direct=True)
        return _event_dump(emu, ev)

    @router.patch("/mailboxes/{mailbox}/events/{event_id}")
    async def edit_direct(mailbox: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        ev = _event_or_404(emu, mailbox, event_id)
        _graph_call(calendar.update_event, emu, ev, body, direct=True)
        return _event_dump(emu, ev)

    @router.delete("/mailboxes/{mailbox}/events/{event_id}")
    async def delete_direct(mailbox: str, event_id: str) -> dict[str, Any]:
        ev = _event_or_404(emu, mailbox, event_id)
        calendar.delete_event(emu, ev)
        return _event_dump(emu, ev)

    @router.post("/delta/invalidate")
    async def invalidate_delta(body: DeltaInvalidateIn) -> dict[str, int]:
        tokens = [t for t, s in emu.state.delta_states.items() if s.mailbox == body.mailbox.lower()]
        emu.state.invalidated_delta.update(tokens)
        return {"invalidated": len(tokens)}

    @router.post("/subscriptions/{sub_id}/lifecycle")
    async def lifecycle(sub_id: str, body: LifecycleIn) -> dict[str, Any]:
        sub = emu.state.subscriptions.get(sub_id)
        if sub is None:
            raise _not_found(f"subscription {sub_id}")
        url = sub.lifecycle_notification_url
        if url is None:
            raise HTTPException(status_code=400, detail="the subscription has no lifecycleNotificationUrl")
        user = emu.state.users[sub.user_id]
        status = await emu.notifier.post_now(
            url, lifecycle_payload(sub, body.lifecycle_event, user.tenant_id)
        )
        if body.lifecycle_event == "subscriptionRemoved":
            emu.state.subscriptions.pop(sub_id, None)
        return {"delivered": status is not None and status < 300, "status": status}


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["emulator-control"])
    _directory_routes(router, emu)
    _token_routes(router, emu)
    _mailbox_routes(router, emu)
    return router
