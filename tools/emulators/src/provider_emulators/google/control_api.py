"""Google-specific ``/__emulator`` endpoints (the common ones come from ``core.control``).

JSON in, JSON out; unknown fields are refused (422). Setup:

- ``POST /clients``  ``{client_id, client_secret, redirect_uris[], name?, domain?}``
  (``domain`` makes an internal app: only that Workspace's users may sign in)
- ``POST /domains``  ``{domain, customer_id?}`` → ``{domain, customer_id}``
- ``POST /users``  ``{email, name?, domain?, personal?, directory_permission?, time_zone?}``
  (``domain`` defaults to the e-mail's domain when registered; ``personal: true`` = no ``hd``)
- ``PATCH /users/{email}``  ``{name?, directory_permission?}``
- ``POST /buildings``  ``{customer_id | domain, buildingId, buildingName, description?, floorNames[]}``
- ``POST /rooms``  ``{customer_id | domain, resourceName, resourceId?, resourceEmail?, capacity?,
  buildingId?, floorName?, floorSection?, resourceCategory?, resourceType?,
  userVisibleDescription?, resourceDescription?}`` → the CalendarResource

Tokens and time:

- ``POST /tokens``  ``{email, client_id, scopes[], offline?, nonce?}`` → a token response
  (skips the browser flow)
- ``POST /tokens/expire``  ``{email?, access_tokens?}`` → ``{expired: n}`` (empty body: all)
- ``POST /users/{email}/revoke``  ``{client_id?}`` → ``{revoked: n}`` (refresh → invalid_grant)
- ``POST /clock/advance``  ``{seconds}`` (codes, tokens, channels and idle refresh tokens age)
- ``POST /sync-tokens/invalidate``  ``{calendar_id?}`` (next use → 410 fullSyncRequired)

Calendar, as the user would act in Google Calendar itself (etag, sync token, push included):

- ``GET /calendars/{calendar_id}/events`` → ``{items: [...]}`` including cancelled events
- ``PATCH /calendars/{calendar_id}/events/{event_id}``  Event fields (patch semantics)
- ``DELETE /calendars/{calendar_id}/events/{event_id}`` → 204 (410 when already deleted)
- ``GET /push`` → ``{delivered, failed}`` notification counters
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from provider_emulators.core.faults import CONTROL_PREFIX
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.events import CalendarService
from provider_emulators.google.state import Building, Domain, OAuthClient, Room, User


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClientIn(_Body):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Test application"
    domain: str | None = None


class DomainIn(_Body):
    domain: str
    customer_id: str | None = None


class UserIn(_Body):
    email: str
    name: str | None = None
    domain: str | None = Field(
        default=None, description="Workspace domain; omitted = from the e-mail if registered"
    )
    personal: bool = False
    directory_permission: bool = False
    time_zone: str = "UTC"


class UserPatch(_Body):
    name: str | None = None
    directory_permission: bool | None = None


class _CustomerRef(_Body):
    customer_id: str | None = None
    domain: str | None = None


class BuildingIn(_CustomerRef):
    buildingId: str
    buildingName: str
    description: str | None = None
    floorNames: list[str] = Field(default_factory=list)


class RoomIn(_CustomerRef):
    resourceName: str
    resourceId: str | None = None
    resourceEmail: str | None = None
    resourceType: str | None = None
    resourceCategory: str = "CONFERENCE_ROOM"
    capacity: int | None = None
    buildingId: str | None = None
    floorName: str | None = None
    floorSection: str | None = None
    userVisibleDescription: str | None = None
    resourceDescription: str | None = None


class MintIn(_Body):
    email: str
    client_id: str
    scopes: list[str]
    offline: bool = True
    nonce: str | None = None


class ExpireIn(_Body):
    email: str | None = None
    access_tokens: list[str] | None = None


class RevokeIn(_Body):
    client_id: str | None = None


class ClockIn(_Body):
    seconds: float


class SyncInvalidateIn(_Body):
    calendar_id: str | None = None


def build_google_control_router(emu: GoogleEmulator, calendar: CalendarService) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator-control"])
    state = emu.state

    def customer(ref: _CustomerRef) -> str:
        if ref.customer_id and state.domain_of_customer(ref.customer_id):
            return ref.customer_id
        if ref.domain and ref.domain in state.domains:
            return state.domains[ref.domain].customer_id
        raise HTTPException(404, "unknown customer_id/domain")

    def user(email: str) -> User:
        found = state.users.get(email)
        if found is None:
            raise HTTPException(404, f"unknown user {email}")
        return found

    @router.post("/clients")
    async def add_client(body: ClientIn) -> dict[str, Any]:
        state.clients[body.client_id] = OAuthClient(**body.model_dump())
        return body.model_dump()

    @router.post("/domains")
    async def add_domain(body: DomainIn) -> dict[str, Any]:
        domain = Domain(body.domain, body.customer_id or f"C0{secrets.token_hex(4)}")
        state.domains[domain.domain] = domain
        return {"domain": domain.domain, "customer_id": domain.customer_id}

    @router.post("/users")
    async def add_user(body: UserIn) -> dict[str, Any]:
        domain = body.domain
        if domain is None and not body.personal:
            email_domain = body.email.rpartition("@")[2].lower()
            domain = email_domain if email_domain in state.domains else None
        if domain is not None and domain not in state.domains:
            raise HTTPException(404, f"unknown Workspace domain {domain}")
        email = body.email.lower()
        name = body.name or email.partition("@")[0]
        created = User(email, name, domain, body.directory_permission, time_zone=body.time_zone)
        state.users[created.email] = created
        state.events.setdefault(created.email, {})
        return {
            "email": created.email,
            "name": created.name,
            "domain": domain,
            "sub": created.sub,
            "directory_permission": created.directory_permission,
        }

    @router.patch("/users/{email}")
    async def patch_user(email: str, body: UserPatch) -> dict[str, Any]:
        found = user(email)
        if body.name is not None:
            found.name = body.name
        if body.directory_permission is not None:
            found.directory_permission = body.directory_permission
        return {"email": found.email, "name": found.name, "directory_permission": found.directory_permission}

    @router.post("/users/{email}/revoke")
    async def revoke_user(email: str, body: RevokeIn | None = None) -> dict[str, int]:
        user(email)
        client_id = body.client_id if body else None
        grants = [g for g in state.grants.values() if g.email == email and not g.revoked]
        grants = [g for g in grants if client_id is None or g.client_id == client_id]
        for grant in grants:
            emu.tokens.revoke_grant(grant)
        return {"revoked": len(grants)}

    @router.post("/buildings")
    async def add_building(body: BuildingIn) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "kind": "admin#directory#resources#buildings#Building",
            "etags": f'"{secrets.token_urlsafe(12)}"',
            "buildingId": body.buildingId,
            "buildingName": body.buildingName,
            "floorNames": body.floorNames,
        }
        if body.description is not None:
            resource["description"] = body.description
        state.buildings[body.buildingId] = Building(customer(body), resource)
        return resource

    @router.post("/rooms")
    async def add_room(body: RoomIn) -> dict[str, Any]:
        cid = customer(body)
        resource_id = body.resourceId or str(secrets.randbelow(10**11))
        email = (body.resourceEmail or f"c_{secrets.token_hex(10)}@resource.calendar.google.com").lower()
        building = state.buildings.get(body.buildingId or "")
        parts = [building.resource["buildingName"] if building else None, body.floorName, body.floorSection]
        generated = "-".join(p for p in parts if p) or ""
        generated = f"{generated}-{body.resourceName}" if generated else body.resourceName
        if body.capacity is not None:
            generated += f" ({body.capacity})"
        fields = body.model_dump(exclude={"customer_id", "domain"}, exclude_none=True)
        resource = {
            "kind": "admin#directory#resources#calendars#CalendarResource",
            "etags": f'"{secrets.token_urlsafe(12)}"',
            **fields,
            "resourceId": resource_id,
            "resourceEmail": email,
            "generatedResourceName": generated,
        }
        state.rooms[email] = Room(cid, resource)
        return resource

    @router.post("/tokens")
    async def mint(body: MintIn) -> dict[str, Any]:
        user(body.email)
        if body.client_id not in state.clients:
            raise HTTPException(404, f"unknown client {body.client_id}")
        grant = emu.tokens.find_or_create_grant(body.email, body.client_id, body.scopes)
        return emu.tokens.issue(grant, body.scopes, nonce=body.nonce, with_refresh=body.offline)

    @router.post("/tokens/expire")
    async def expire(body: ExpireIn | None = None) -> dict[str, int]:
        now = state.clock.time()
        count = 0
        for access in state.access_tokens.values():
            if body and body.email and access.email != body.email:
                continue
            if body and body.access_tokens is not None and access.token not in body.access_tokens:
                continue
            if access.expires_at > now:
                access.expires_at = now
                count += 1
        return {"expired": count}

    @router.post("/clock/advance")
    async def advance(body: ClockIn) -> dict[str, float]:
        state.clock.offset_s += body.seconds
        return {"now": state.clock.time()}

    @router.post("/sync-tokens/invalidate")
    async def invalidate(body: SyncInvalidateIn | None = None) -> dict[str, bool]:
        calendar.invalidate_sync_tokens(body.calendar_id if body else None)
        return {"invalidated": True}

    @router.get("/calendars/{calendar_id}/events")
    async def all_events(calendar_id: str) -> dict[str, Any]:
        return {"items": [e.resource for e in state.events.get(calendar_id, {}).values()]}

    @router.patch("/calendars/{calendar_id}/events/{event_id}")
    async def direct_edit(calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Edit an event as the user would in Google Calendar (etag, sync and push included)."""
        return calendar.patch(calendar_id, event_id, body)

    @router.delete("/calendars/{calendar_id}/events/{event_id}", status_code=204)
    async def direct_delete(calendar_id: str, event_id: str) -> Response:
        calendar.delete(calendar_id, event_id)
        return Response(status_code=204)

    @router.get("/push")
    async def push_stats() -> dict[str, int]:
        return {"delivered": emu.notifier.delivered, "failed": emu.notifier.failed}

    return router
