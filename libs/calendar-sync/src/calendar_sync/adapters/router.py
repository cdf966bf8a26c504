"""The rooms and availability HTTP API (``visitor_common.contracts.availability``) for any
``CalendarProvider``: ``GET /v1/rooms`` and ``POST /v1/availability``.

The employee comes from the JWT (tenant isolation: the connection is looked up by the token's
tenant and employee, never by a client-supplied id). Room groups and rooms are cached per
tenant with a TTL. While the employee has not chosen a group (building / room list) and groups
exist, ``/v1/rooms`` answers ``selection_required`` with the choices (R4/R5). A directory
permission problem is a 403 problem with the provider's explanation, never a 5xx.

Directory entries come from the tenant's administrators and are not ours to trust: the
providers' mappings hand them over unjudged, and every room is validated here against the
contract. One that does not validate (an address that is not an e-mail address, a capacity
that is not a number…) is left out of the rooms — and so out of "any free room" — and reported: a warning
in the answer (``warnings``) and one log line per directory load, never a 5xx.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Depends
from pydantic import ValidationError

from calendar_sync.core.errors import (
    AuthServiceUnavailable,
    ConnectionInactive,
    PermissionMissing,
    ProviderError,
    ReauthRequired,
    TokenError,
    TransientProviderError,
)
from calendar_sync.core.model import BusyInterval, CalendarBusy
from calendar_sync.core.provider import CalendarProvider
from calendar_sync.engine.engine import ProviderSession, TokenSource
from calendar_sync.engine.retry import RetryPolicy
from visitor_common.contracts.availability import (
    AvailabilityAnswer,
    AvailabilityQuery,
    BusyPeriod,
    DirectoryWarning,
    Room,
    RoomAvailability,
    RoomDirectory,
    RoomGroup,
    SlotAvailability,
)
from visitor_common.contracts.connections import ConnectionInfo
from visitor_common.security.jwt import Principal
from visitor_common.web import ProblemError, require_employee

log = logging.getLogger(__name__)
MAX_ENTRY_CHARS = 120


class ConnectionLookup(TokenSource, Protocol):
    """``AuthTokenClient`` implements it."""

    async def connection_for_employee(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None: ...


@dataclass(frozen=True)
class Directory:
    """A tenant's room groups and its rooms that validate, with the entries left out."""

    groups: list[RoomGroup]
    rooms: list[Room]
    warnings: list[DirectoryWarning]


@dataclass
class _Cached:
    directory: Directory
    expires: float


class DirectoryCache:
    """Room groups and rooms per tenant, for ``ttl_seconds``."""

    def __init__(self, ttl_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, tenant_id: str, load: Callable[[], Awaitable[Directory]]) -> Directory:
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            cached = self._entries.get(tenant_id)
            if cached is not None and cached.expires > self._clock():
                return cached.directory
            directory = await load()
            self._entries[tenant_id] = _Cached(directory, self._clock() + self._ttl)
            return directory


def _entry(value: object) -> str:
    """An untrusted directory value, safe to echo: printable, truncated."""
    text = "".join(c if c.isprintable() else "\ufffd" for c in str(value))
    return text if len(text) <= MAX_ENTRY_CHARS else text[: MAX_ENTRY_CHARS - 1] + "…"


def _reason(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "entry"
    return f"{where}: {first.get('msg', 'invalid')}"


def validated_directory(tenant_id: str, groups: list[RoomGroup], rooms: list[Room]) -> Directory:
    """Keep the rooms that validate against the contract; report the others."""
    valid: list[Room] = []
    warnings: list[DirectoryWarning] = []
    for room in rooms:
        raw = room.__dict__
        try:
            valid.append(Room.model_validate(raw))
        except ValidationError as error:
            entry = _entry(raw.get("email") or raw.get("name") or "?")
            group = raw.get("group_id")
            warnings.append(
                DirectoryWarning(
                    entry=entry, reason=_reason(error), group_id=_entry(group) if group is not None else None
                )
            )
    if warnings:
        log.warning(
            "directory entries left out of the room list",
            extra={
                "tenant_id": tenant_id,
                "skipped": len(warnings),
                "entries": [w.entry for w in warnings[:10]],
                "reasons": sorted({w.reason for w in warnings})[:5],
            },
        )
    return Directory(groups, valid, warnings)


def availability_router(
    provider: CalendarProvider,
    connections: ConnectionLookup,
    current_principal: Callable[..., Awaitable[Principal]],
    *,
    cache: DirectoryCache | None = None,
    policy: RetryPolicy | None = None,
) -> APIRouter:
    """Build the ``/v1`` rooms and availability routes for one provider."""
    directory = cache or DirectoryCache()
    retry = policy or RetryPolicy(max_attempts=3, max_retry_after=5.0)
    router = APIRouter(prefix="/v1", tags=["rooms"])

    async def employee_session(principal: Principal = Depends(current_principal)) -> _EmployeeSession:
        employee = require_employee(principal)
        assert employee.tenant_id is not None
        try:
            info = await connections.connection_for_employee(employee.tenant_id, employee.employee_id)
        except TokenError as error:
            raise _problem_for(error) from error
        if info is None or info.tenant_id != employee.tenant_id:
            raise ProblemError(
                409,
                "calendar_not_linked",
                "No calendar is linked",
                f"Link your {provider.provider.value} calendar first to see rooms and availability.",
            )
        if info.provider is not provider.provider:
            raise ProblemError(
                409,
                "wrong_provider",
                "The linked calendar belongs to another provider",
                f"Your active calendar connection is {info.provider.value}; ask its connector.",
            )
        session = ProviderSession(
            connections,
            info.connection_id,
            str(info.account_email),
            info.tenant_id,
            retry,
            asyncio.sleep,
            random.random,
        )
        return _EmployeeSession(info, session)

    async def load_directory(s: _EmployeeSession) -> Directory:
        async def load() -> Directory:
            groups = await s.session.call(provider.list_room_groups, "list room groups")
            rooms = await s.session.call(lambda a: provider.list_rooms(a, None), "list rooms")
            return validated_directory(s.info.tenant_id, groups, rooms)

        found: Directory = await _guard(directory.get(s.info.tenant_id, load))
        return found

    @router.get("/rooms", response_model=RoomDirectory, summary="Rooms the employee can book")
    async def rooms(s: _EmployeeSession = Depends(employee_session)) -> RoomDirectory:
        return _directory(provider, s.info.room_group_id, await load_directory(s))

    @router.post("/availability", response_model=AvailabilityAnswer, summary="Free/busy per slot")
    async def availability(
        query: AvailabilityQuery, s: _EmployeeSession = Depends(employee_session)
    ) -> AvailabilityAnswer:
        room_emails = [str(e).lower() for e in query.room_emails]
        warnings: list[DirectoryWarning] = []
        if query.include_preferred_rooms:
            chosen = _directory(provider, s.info.room_group_id, await load_directory(s))
            room_emails += [str(r.email).lower() for r in chosen.rooms]
            warnings = chosen.warnings  # "any free room" says which rooms it could not consider
        room_emails = list(dict.fromkeys(room_emails))
        host = str(s.info.account_email).lower()
        start = min(slot.start for slot in query.slots)
        end = max(slot.end for slot in query.slots)
        busy = await _guard(_free_busy(provider, s.session, [host, *room_emails], start, end))
        return AvailabilityAnswer(
            provider=provider.provider,
            slots=[_slot_answer(slot.start, slot.end, host, room_emails, busy) for slot in query.slots],
            warnings=warnings,
        )

    return router


@dataclass
class _EmployeeSession:
    info: ConnectionInfo
    session: ProviderSession


def _directory(provider: CalendarProvider, group_id: str | None, found: Directory) -> RoomDirectory:
    groups = found.groups
    selected = next((g for g in groups if g.id == group_id), None)
    if groups and selected is None:
        return RoomDirectory(
            provider=provider.provider, selection_required=True, choices=groups, warnings=found.warnings
        )
    chosen = [r for r in found.rooms if selected is None or r.group_id == selected.id]
    warnings = [w for w in found.warnings if selected is None or w.group_id in (None, selected.id)]
    return RoomDirectory(
        provider=provider.provider,
        selection_required=False,
        choices=groups,
        selected=selected,
        rooms=chosen,
        warnings=warnings,
    )


async def _free_busy(
    provider: CalendarProvider, session: ProviderSession, calendars: list[str], start: datetime, end: datetime
) -> dict[str, CalendarBusy]:
    size = max(1, provider.max_calendars_per_free_busy)
    batches = [calendars[i : i + size] for i in range(0, len(calendars), size)]
    merged: dict[str, CalendarBusy] = {}
    for batch in batches:
        answer = await session.call(lambda a, b=batch: provider.free_busy(a, b, start, end), "free busy")  # type: ignore[misc]
        merged.update({k.lower(): v for k, v in answer.items()})
    return merged


def _overlaps(interval: BusyInterval, start: datetime, end: datetime) -> bool:
    return interval.start < end and interval.end > start


def _slot_answer(
    start: datetime, end: datetime, host: str, rooms: list[str], busy: dict[str, CalendarBusy]
) -> SlotAvailability:
    host_busy = [b for b in busy.get(host, CalendarBusy()).busy if _overlaps(b, start, end)]
    answers = []
    for email in rooms:
        info = busy.get(email, CalendarBusy(error="notFound"))
        taken = any(_overlaps(b, start, end) for b in info.busy)
        answers.append(RoomAvailability(email=email, free=info.error is None and not taken, error=info.error))
    return SlotAvailability(
        start=start,
        end=end,
        host_free=not host_busy,
        host_busy=[BusyPeriod(start=b.start, end=b.end) for b in host_busy],
        rooms=answers,
    )


async def _guard(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except (ProviderError, TokenError) as error:
        raise _problem_for(error) from error


def _problem_for(error: Exception) -> ProblemError:
    if isinstance(error, PermissionMissing):
        return ProblemError(403, error.code, "The calendar account lacks a permission", error.message)
    if isinstance(error, ReauthRequired):
        return ProblemError(409, "reauth_required", "The calendar must be linked again", str(error))
    if isinstance(error, ConnectionInactive):
        return ProblemError(409, "connection_inactive", "The calendar connection is not active", str(error))
    if isinstance(error, TransientProviderError | AuthServiceUnavailable):
        return ProblemError(
            503, "provider_unavailable", "The calendar provider is unavailable", "Try again in a moment."
        )
    message = error.message if isinstance(error, ProviderError) else str(error)
    return ProblemError(502, "provider_rejected", "The calendar provider refused the request", message)
