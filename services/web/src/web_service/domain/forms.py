"""The new-appointment form: raw fields in, the appointments API's request body out (pure).

The form is plain HTML (no JavaScript), so every row arrives as text; this module keeps what
was typed (to show it again), the problems per field, and the parsed candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from web_service.domain.timezones import zone_named

MAX_SLOTS = 10
GUEST_ROWS = 3
DURATIONS = (15, 30, 45, 60, 90, 120, 180, 240)
ANY_ROOM = ""


@dataclass
class SlotRow:
    day: str = ""
    start: str = ""
    room: str = ANY_ROOM
    error: str | None = None
    parsed: tuple[datetime, datetime] | None = None

    @property
    def empty(self) -> bool:
        return not self.day and not self.start


@dataclass
class GuestRow:
    name: str = ""
    company: str = ""
    email: str = ""


@dataclass
class AppointmentForm:
    title: str = ""
    duration: int = 30
    zone: str = "Asia/Tokyo"
    hold: bool = True
    any_free_room: bool = False
    notes: str = ""
    guests: list[GuestRow] = field(default_factory=lambda: [GuestRow() for _ in range(GUEST_ROWS)])
    slots: list[SlotRow] = field(default_factory=lambda: [SlotRow() for _ in range(MAX_SLOTS)])
    errors: list[str] = field(default_factory=list)

    @property
    def filled_slots(self) -> list[SlotRow]:
        return [s for s in self.slots if s.parsed is not None]

    @property
    def valid(self) -> bool:
        return not self.errors and all(s.error is None for s in self.slots)


def _field(data: dict[str, str], name: str, limit: int = 300) -> str:
    return (data.get(name) or "").strip()[:limit]


def _parse_slot(row: SlotRow, duration: int, zone: str) -> None:
    if row.empty:
        return
    try:
        day = date.fromisoformat(row.day)
        start = time.fromisoformat(row.start)
    except ValueError:
        row.error = "日付と開始時刻を入力してください / Enter a date and a start time"
        return
    begins = datetime.combine(day, start.replace(second=0, microsecond=0), ZoneInfo(zone))
    row.parsed = (begins, begins + timedelta(minutes=duration))


def parse_form(data: dict[str, str], default_zone: str) -> AppointmentForm:
    """Read the submitted fields; problems go to ``errors`` / the rows, never raise."""
    form = AppointmentForm(zone=zone_named(data.get("tz"), default_zone))
    form.title = _field(data, "title", 200)
    form.notes = _field(data, "notes", 2000)
    form.hold = data.get("hold") == "on"
    form.any_free_room = data.get("any_free_room") == "on"
    try:
        form.duration = int(data.get("duration") or 30)
    except ValueError:
        form.duration = 30
    if form.duration not in DURATIONS:
        form.errors.append("所要時間を選んでください / Choose a duration")
        form.duration = 30
    if not form.title:
        form.errors.append("件名を入力してください / Enter a title")
    form.guests = [
        GuestRow(
            _field(data, f"guest{i}_name", 100),
            _field(data, f"guest{i}_company", 200),
            _field(data, f"guest{i}_email", 254),
        )
        for i in range(GUEST_ROWS)
    ]
    _check_guests(form)
    form.slots = [
        SlotRow(
            _field(data, f"slot{i}_date", 10),
            _field(data, f"slot{i}_start", 8),
            _field(data, f"slot{i}_room"),
        )
        for i in range(MAX_SLOTS)
    ]
    for row in form.slots:
        _parse_slot(row, form.duration, form.zone)
    if not form.filled_slots and all(s.error is None for s in form.slots):
        form.errors.append("候補日時を1つ以上入力してください / Enter at least one candidate time")
    return form


def _check_guests(form: AppointmentForm) -> None:
    named = [g for g in form.guests if g.name or g.email or g.company]
    if not named:
        form.errors.append("ゲストを1人以上入力してください / Enter at least one guest")
    for guest in named:
        if not guest.name:
            form.errors.append("ゲストの氏名を入力してください / Enter the guest's name")
        try:
            validate_email(guest.email, check_deliverability=False)
        except EmailNotValidError:
            form.errors.append(
                f"ゲストのメールアドレスが正しくありません / The guest's e-mail is not valid: {guest.email}"
            )


def request_body(form: AppointmentForm) -> dict[str, Any]:
    """The appointments API's ``CreateAppointmentIn`` for a valid form."""
    candidates = []
    for row in form.filled_slots:
        assert row.parsed is not None
        slot: dict[str, Any] = {"start": row.parsed[0].isoformat(), "end": row.parsed[1].isoformat()}
        if row.room:
            slot["room"] = {"email": row.room}
        candidates.append(slot)
    guests = [
        {"name": g.name, "email": g.email, **({"company": g.company} if g.company else {})}
        for g in form.guests
        if g.name or g.email
    ]
    body: dict[str, Any] = {
        "title": form.title,
        "guests": guests,
        "duration_minutes": form.duration,
        "candidates": candidates,
        "hold_candidates": form.hold,
        "any_free_room": form.any_free_room,
    }
    if form.notes:
        body["notes"] = form.notes
    return body
