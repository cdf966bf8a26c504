"""The guest's page at the guest link: the visit, the candidates, the pick, the confirmation."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from web_service.adapters.api import ApiError
from web_service.api.deps import apis_of, settings_of
from web_service.api.pages import PageError, render, see_other
from web_service.api.security import check_csrf, session_of
from web_service.domain import timezones
from web_service.domain.ics import visit_ics
from web_service.domain.messages import GUEST_NOT_FOUND, SLOT_TAKEN, guest_explanation

router = APIRouter(tags=["guest"])
TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")
Zone = Annotated[str | None, Query(max_length=64)]
FormText = Annotated[str | None, Form(max_length=200)]


def _checked(token: str) -> str:
    if not TOKEN.fullmatch(token):
        raise PageError(404, GUEST_NOT_FOUND)
    return token


def _key(token: str) -> str:
    """How the browser's session remembers a link's reception code (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _code(request: Request, token: str, view: dict[str, Any]) -> str | None:
    """The reception code: the appointments API gives it to the link's holder once confirmed,
    so it shows in any browser; the one this browser remembered from its pick is the fallback."""
    given = view.get("reception_code")
    return str(given) if given else session_of(request).codes.get(_key(token))


def _refusal(error: ApiError) -> PageError:
    status = error.status if 400 <= error.status < 600 else 503
    headers = {"Retry-After": str(error.extra.get("retry_after", 30))} if status in (429, 503) else None
    return PageError(status, guest_explanation(error.code, status), headers=headers)


async def _view(request: Request, token: str) -> dict[str, Any]:
    try:
        return await apis_of(request).appointments.guest_view(token)
    except ApiError as error:
        raise _refusal(error) from error


def _slot(slot: dict[str, Any], zone: str) -> dict[str, Any]:
    start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
    return {
        "slot_id": slot["slot_id"],
        "label": timezones.slot_label(start, end, zone),
        "label_en": timezones.slot_label_en(start, end, zone),
        "room": slot.get("room_name"),
    }


def _page(
    request: Request, token: str, view: dict[str, Any], zone: str, status: int = 200, **extra: Any
) -> HTMLResponse:
    confirmed = view.get("confirmed_slot")
    # the offset shown next to the zone name is the one at the first candidate (DST may differ later)
    first = (view.get("candidates") or [confirmed or {"start": view["expires_at"]}])[0]
    at = datetime.fromisoformat(first["start"])
    context = {
        "token": token,
        "view": view,
        "zone": zone,
        "zones": timezones.ZONES,
        "offset": timezones.utc_offset(zone, at),
        "candidates": [_slot(s, zone) for s in view.get("candidates", [])],
        "confirmed": _slot(confirmed, zone) if confirmed else None,
        "code": _code(request, token, view),
        "host": view.get("host_name") if confirmed else None,
        "places": sorted({s["room_name"] for s in view.get("candidates", []) if s.get("room_name")}),
        **extra,
    }
    return render(request, "guest.html", context, status)


@router.get("/g/{token}", response_class=HTMLResponse, summary="The guest's scheduling page")
async def guest_page(request: Request, token: str, tz: Zone = None) -> Response:
    _checked(token)
    zone = timezones.zone_named(tz, settings_of(request).default_time_zone)
    return _page(request, token, await _view(request, token), zone)


@router.post("/g/{token}/pick", response_class=HTMLResponse, summary="Confirm one candidate")
async def guest_pick(
    request: Request,
    token: str,
    csrf_token: FormText = None,
    slot_id: Annotated[str | None, Form(max_length=64)] = None,
    tz: FormText = None,
) -> Response:
    _checked(token)
    check_csrf(request, csrf_token)
    zone = timezones.zone_named(tz, settings_of(request).default_time_zone)
    if not slot_id:
        view = await _view(request, token)
        return _page(request, token, view, zone, 422, problem="choose")
    try:
        picked = await apis_of(request).appointments.pick(token, slot_id)
    except ApiError as error:
        if error.code in ("slot_unavailable", "slot_not_found"):
            view = await _view(request, token)
            return _page(request, token, view, zone, 409, taken=SLOT_TAKEN)
        if error.code != "already_confirmed":
            raise _refusal(error) from error
    else:
        session = session_of(request)
        session.remember(session.codes, _key(token), str(picked["reception_code"]))
    return see_other(f"/g/{token}?tz={zone}")


@router.get("/g/{token}/visit.ics", summary="The confirmed visit as an iCalendar file")
async def guest_ics(request: Request, token: str) -> Response:
    _checked(token)
    view = await _view(request, token)
    slot = view.get("confirmed_slot")
    if not slot:
        raise PageError(404, GUEST_NOT_FOUND)
    code = _code(request, token, view)
    description = f"受付コード / Reception code: {code}" if code else "受付で担当者の名前をお伝えください。"
    body = visit_ics(
        uid=f"{_key(token)}@visitor-scheduling",
        title=str(view["title"]),
        start=datetime.fromisoformat(slot["start"]),
        end=datetime.fromisoformat(slot["end"]),
        location=slot.get("room_name"),
        description=description,
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="visit.ics"'},
    )
