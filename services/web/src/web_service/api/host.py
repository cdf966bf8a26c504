"""The host console: sign in, the calendar link, new appointments, the list and one appointment."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from visitor_common.contracts.availability import AvailabilityQuery, RoomDirectory, TimeSlot
from web_service.adapters.api import ApiError
from web_service.api.deps import apis_of, as_host, settings_of
from web_service.api.linking import chooser_context
from web_service.api.pages import NOT_FOUND, PageError, render, see_other
from web_service.api.security import check_csrf, session_of
from web_service.domain import forms, timezones
from web_service.domain.messages import NOT_BOOKABLE

router = APIRouter(tags=["host"])
FormText = Annotated[str | None, Form(max_length=500)]
APPOINTMENT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_FORM_FIELDS = 100


def _when(slot: dict[str, Any], zone: str) -> str:
    start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
    return timezones.slot_label(start, end, zone)


# --- sign in / out ----------------------------------------------------------------------------------
@router.get("/", include_in_schema=False)
async def home() -> Response:
    return see_other("/host")


@router.get("/host/sign-in", response_class=HTMLResponse, summary="Sign-in page")
async def sign_in_page(request: Request) -> Response:
    if session_of(request).signed_in:
        return see_other("/host")
    return render(request, "sign_in.html", {})


@router.post("/host/sign-in", response_class=HTMLResponse, summary="Sign in")
async def sign_in(
    request: Request,
    csrf_token: FormText = None,
    tenant_id: Annotated[str | None, Form(max_length=64)] = None,
    email: Annotated[str | None, Form(max_length=254)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
) -> Response:
    check_csrf(request, csrf_token)
    filled = {"tenant_id": (tenant_id or "").strip(), "email": (email or "").strip()}
    if not (filled["tenant_id"] and filled["email"] and password):
        return render(request, "sign_in.html", {"filled": filled, "problem": "missing"}, 400)
    try:
        tokens = await apis_of(request).auth.sign_in(filled["tenant_id"], filled["email"], password)
    except ApiError as error:
        problem = "unavailable" if error.status >= 500 else "refused"
        return render(request, "sign_in.html", {"filled": filled, "problem": problem}, 400)
    session_of(request).sign_in(tokens, filled["email"], filled["tenant_id"])
    return see_other("/host")


@router.post("/host/sign-out", summary="Sign out")
async def sign_out(request: Request, csrf_token: FormText = None) -> Response:
    check_csrf(request, csrf_token)
    session_of(request).sign_out()
    return see_other("/host/sign-in")


# --- the console ------------------------------------------------------------------------------------
def _summary(item: dict[str, Any], zone: str) -> dict[str, Any]:
    confirmed = next((c for c in item["candidates"] if c["slot_id"] == item.get("confirmed_slot_id")), None)
    first = confirmed or (item["candidates"][0] if item["candidates"] else None)
    return {
        "id": item["appointment_id"],
        "title": item["title"],
        "status": item["status"],
        "sync": item["calendar_sync"]["state"],
        "when": _when(first, zone) if first else "",
        "candidates": len(item["candidates"]),
        "code": item.get("reception_code"),
    }


@router.get("/host", response_class=HTMLResponse, summary="The host's console")
async def console(request: Request) -> Response:
    apis = apis_of(request)
    zone = settings_of(request).default_time_zone
    connection = await as_host(request, apis.auth.current_connection)
    try:
        items = await as_host(request, apis.appointments.mine)
        listing_error = None
    except ApiError as error:
        items, listing_error = [], error.code
    context = {
        "connection": connection,
        "appointments": [_summary(i, zone) for i in items],
        "listing_error": listing_error,
        "zone": zone,
    }
    return render(request, "console.html", context)


# --- new appointment ----------------------------------------------------------------------------------
async def _form_context(request: Request, form: forms.AppointmentForm) -> dict[str, Any]:
    connection = await as_host(request, apis_of(request).auth.current_connection)
    context: dict[str, Any] = {
        "form": form,
        "connection": connection,
        "durations": forms.DURATIONS,
        "zones": timezones.ZONES,
    }
    context |= await chooser_context(request, connection)
    directory: RoomDirectory | None = context.get("directory")
    context["rooms"] = directory.rooms if directory else []
    return context


@router.get("/host/appointments/new", response_class=HTMLResponse, summary="New-appointment screen")
async def new_appointment(request: Request) -> Response:
    form = forms.AppointmentForm(zone=settings_of(request).default_time_zone)
    return render(request, "new_appointment.html", await _form_context(request, form))


async def _preview(request: Request, form: forms.AppointmentForm, connection: dict[str, Any]) -> list[Any]:
    """Free/busy of the host and the rooms for each filled row, from the connector."""
    rows = form.filled_slots
    rooms = sorted({r.room for r in rows if r.room})
    query = AvailabilityQuery(
        slots=[TimeSlot(start=r.parsed[0], end=r.parsed[1]) for r in rows if r.parsed],
        room_emails=rooms,
        include_preferred_rooms=form.any_free_room,
    )
    connector = apis_of(request).connector(str(connection["provider"]))
    answer = await as_host(request, lambda token: connector.availability(token, query))
    return list(answer.slots)


@router.post("/host/appointments", response_class=HTMLResponse, summary="Check availability or send")
async def submit_appointment(request: Request) -> Response:
    data = await _form_fields(request)
    check_csrf(request, data.get("csrf_token"))
    form = forms.parse_form(data, settings_of(request).default_time_zone)
    context = await _form_context(request, form)
    if not form.valid:
        return render(request, "new_appointment.html", context, 422)
    if data.get("action") == "preview":
        if context["connection"] is None:
            context["preview_error"] = "not_linked"
        else:
            try:
                context["preview"] = await _preview(request, form, context["connection"])
            except (ApiError, ValueError) as error:
                context["preview_error"] = getattr(error, "code", "validation_failed")
        return render(request, "new_appointment.html", context)
    try:
        created = await as_host(
            request, lambda t: apis_of(request).appointments.create(t, forms.request_body(form))
        )
    except ApiError as error:
        context["api_error"] = error
        return render(request, "new_appointment.html", context, error.status if error.status < 500 else 503)
    session = session_of(request)
    session.remember(session.links, str(created["appointment_id"]), str(created["guest_url"]))
    return see_other(f"/host/appointments/{created['appointment_id']}")


async def _form_fields(request: Request) -> dict[str, str]:
    try:
        submitted = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    except Exception as error:  # multipart parser refusals (too many fields, bad encoding)
        raise PageError(400, NOT_BOOKABLE) from error
    return {k: v for k, v in submitted.items() if isinstance(v, str)}


# --- one appointment ----------------------------------------------------------------------------------
def _checked_id(appointment_id: str) -> str:
    if not APPOINTMENT_ID.fullmatch(appointment_id):
        raise PageError(404, NOT_FOUND)
    return appointment_id


async def _appointment(request: Request, appointment_id: str) -> dict[str, Any]:
    try:
        return await as_host(request, lambda t: apis_of(request).appointments.get(t, appointment_id))
    except ApiError as error:
        if error.status in (404, 422):
            raise PageError(404, NOT_FOUND) from error
        raise PageError(503, NOT_BOOKABLE) from error


@router.get("/host/appointments/{appointment_id}", response_class=HTMLResponse, summary="One appointment")
async def appointment_page(
    request: Request, appointment_id: str, done: Annotated[str | None, Query(max_length=20)] = None
) -> Response:
    item = await _appointment(request, _checked_id(appointment_id))
    zone = settings_of(request).default_time_zone
    candidates = [{**c, "when": _when(c, zone)} for c in item["candidates"]]
    context = {
        "a": item,
        "candidates": candidates,
        "guest_url": session_of(request).links.get(appointment_id),
        "zone": zone,
        "done": done,
    }
    return render(request, "appointment.html", context)


def _version(value: str | None) -> int:
    try:
        return max(0, int(value or "0"))
    except ValueError:
        return 0


@router.post("/host/appointments/{appointment_id}/restore", summary="Restore the calendar (R9)")
async def restore(
    request: Request, appointment_id: str, csrf_token: FormText = None, version: FormText = None
) -> Response:
    _checked_id(appointment_id)
    check_csrf(request, csrf_token)
    try:
        await as_host(
            request, lambda t: apis_of(request).appointments.restore(t, appointment_id, _version(version))
        )
    except ApiError as error:
        if error.status == 404:
            raise PageError(404, NOT_FOUND) from error
        return see_other(f"/host/appointments/{appointment_id}?done=refused")
    return see_other(f"/host/appointments/{appointment_id}?done=restore")


@router.post("/host/appointments/{appointment_id}/guest-link", summary="Issue a new guest link")
async def reissue(
    request: Request, appointment_id: str, csrf_token: FormText = None, version: FormText = None
) -> Response:
    _checked_id(appointment_id)
    check_csrf(request, csrf_token)
    try:
        issued = await as_host(
            request,
            lambda t: apis_of(request).appointments.reissue_link(t, appointment_id, _version(version)),
        )
    except ApiError as error:
        if error.status == 404:
            raise PageError(404, NOT_FOUND) from error
        return see_other(f"/host/appointments/{appointment_id}?done=refused")
    session = session_of(request)
    session.remember(session.links, appointment_id, str(issued["guest_url"]))
    return see_other(f"/host/appointments/{appointment_id}?done=link")
