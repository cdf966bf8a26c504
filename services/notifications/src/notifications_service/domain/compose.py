"""Each mail the service sends, as a pure function of the event's data: subject and plain-text
body in Japanese first, then English, and the .ics where the visit has a time.

Times are shown in the tenant's display time zone (``NOTIFICATIONS_DISPLAY_TIMEZONE``, Japan
by default); the .ics carries them in UTC, so calendar programs convert for themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from notifications_service.domain.ics import location_of, visit_calendar
from notifications_service.domain.model import Attachment, IcsMethod, Mail, MailKind, Recipient
from visitor_common.events import AppointmentSnapshot, AppointmentStatus, CandidateSlot, Guest

WEEKDAYS_JA = "月火水木金土日"


@dataclass(frozen=True)
class Bilingual:
    ja: str
    en: str


@cache
def _templates() -> Environment:
    # Plain text only: autoescape off is right here (HTML escaping would mangle "&" in a URL).
    return Environment(
        loader=PackageLoader("notifications_service", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - plain-text mail bodies, never HTML
    )


def _render(kind: MailKind, **values: object) -> str:
    return _templates().get_template(f"{kind.value}.txt.j2").render(**values)


def when(start: datetime, end: datetime | None, zone: ZoneInfo) -> Bilingual:
    """``2030年4月1日(月) 10:00〜11:00 (Asia/Tokyo)`` / ``Mon 1 Apr 2030, 10:00–11:00 (Asia/Tokyo)``."""
    s = start.astimezone(zone)
    ja = f"{s.year}年{s.month}月{s.day}日({WEEKDAYS_JA[s.weekday()]}) {s:%H:%M}"
    en = f"{s:%a} {s.day} {s:%b %Y}, {s:%H:%M}"
    if end is not None:
        e = end.astimezone(zone)
        ja += f"〜{e:%H:%M}"
        en += f"–{e:%H:%M}"
    return Bilingual(f"{ja} ({zone.key})", f"{en} ({zone.key})")


def _slot(slot: CandidateSlot, zone: ZoneInfo) -> Bilingual:
    return when(slot.start, slot.end, zone)


def _place(slot: CandidateSlot) -> Bilingual:
    location = location_of(slot)
    return Bilingual(location or "受付でご案内します", location or "reception will show you the way")


def _host(appointment: AppointmentSnapshot, host_name: str | None) -> str:
    return host_name or str(appointment.host_email)


def _guest(guest: Guest) -> Recipient:
    return Recipient(email=str(guest.email), name=guest.name)


def _organizer(appointment: AppointmentSnapshot, host_name: str | None) -> Recipient:
    return Recipient(email=str(appointment.host_email), name=host_name)


def _calendar(
    appointment: AppointmentSnapshot,
    slot: CandidateSlot,
    method: IcsMethod,
    host_name: str | None,
    stamp: datetime,
) -> Attachment:
    """The visit as an iCalendar attachment: organized by the host, every guest invited."""
    return visit_calendar(
        appointment,
        slot,
        method,
        organizer=_organizer(appointment, host_name),
        attendees=[_guest(g) for g in appointment.guests],
        stamp=stamp,
    )


def _subject(ja: str, en: str, title: str) -> str:
    return f"【{ja}】{title} / {en}: {title}"


def invitation(
    appointment: AppointmentSnapshot,
    guest: Guest,
    *,
    host_name: str | None,
    guest_url: str,
    link_expires_at: datetime | None,
    zone: ZoneInfo,
) -> Mail:
    expires = when(link_expires_at, None, zone) if link_expires_at else Bilingual("", "")
    text = _render(
        MailKind.INVITATION,
        guest_name=guest.name,
        host=_host(appointment, host_name),
        title=appointment.title,
        guest_url=guest_url,
        slots=[_slot(c, zone) for c in appointment.candidates],
        expires=expires,
    )
    subject = _subject("ご来訪日時のご確認", "Please choose a time", appointment.title)
    return Mail(MailKind.INVITATION, _guest(guest), subject, text)


def confirmation(
    appointment: AppointmentSnapshot,
    guest: Guest,
    *,
    host_name: str | None,
    reception_code: str,
    zone: ZoneInfo,
    stamp: datetime,
) -> Mail | None:
    slot = appointment.confirmed_slot()
    if slot is None:
        return None
    text = _render(
        MailKind.CONFIRMATION,
        guest_name=guest.name,
        host=_host(appointment, host_name),
        title=appointment.title,
        slot=_slot(slot, zone),
        place=_place(slot),
        reception_code=reception_code,
    )
    calendar = _calendar(appointment, slot, IcsMethod.REQUEST, host_name, stamp)
    subject = _subject("ご来訪日時の確定", "Visit confirmed", appointment.title)
    return Mail(MailKind.CONFIRMATION, _guest(guest), subject, text, calendar)


def rescheduled(appointment: AppointmentSnapshot, guest: Guest, *, zone: ZoneInfo, stamp: datetime) -> Mail:
    slot = appointment.confirmed_slot() if appointment.status is AppointmentStatus.CONFIRMED else None
    text = _render(
        MailKind.RESCHEDULED,
        guest_name=guest.name,
        host=_host(appointment, None),
        title=appointment.title,
        confirmed=slot is not None,
        slot=_slot(slot, zone) if slot else None,
        place=_place(slot) if slot else None,
        slots=[_slot(c, zone) for c in appointment.candidates],
    )
    calendar = _calendar(appointment, slot, IcsMethod.REQUEST, None, stamp) if slot else None
    subject = _subject("ご来訪日時の変更", "Visit rescheduled", appointment.title)
    return Mail(MailKind.RESCHEDULED, _guest(guest), subject, text, calendar)


def cancelled(appointment: AppointmentSnapshot, guest: Guest, *, zone: ZoneInfo, stamp: datetime) -> Mail:
    # A confirmed visit was in the guest's calendar (we sent a REQUEST): cancel that entry.
    slot = appointment.confirmed_slot()
    text = _render(
        MailKind.CANCELLED,
        guest_name=guest.name,
        host=_host(appointment, None),
        title=appointment.title,
        slot=_slot(slot, zone) if slot else None,
    )
    calendar = _calendar(appointment, slot, IcsMethod.CANCEL, None, stamp) if slot else None
    subject = _subject("ご来訪の取り消し", "Visit cancelled", appointment.title)
    return Mail(MailKind.CANCELLED, _guest(guest), subject, text, calendar)


def checked_in(
    *,
    title: str,
    host: Recipient,
    guests: tuple[Guest, ...],
    slot: CandidateSlot,
    checked_in_at: datetime,
    zone: ZoneInfo,
) -> Mail:
    names = [g.name for g in guests]
    guests_text = Bilingual("、".join(f"{n} 様" for n in names) or "お客様", ", ".join(names) or "Your guest")
    text = _render(
        MailKind.CHECKED_IN,
        host=host.name or host.email,
        guests=guests_text,
        title=title,
        slot=_slot(slot, zone),
        place=_place(slot),
        checked_in_at=when(checked_in_at, None, zone),
    )
    subject = _subject("ご来訪者の到着", "Your guest has arrived", title)
    return Mail(MailKind.CHECKED_IN, host, subject, text)
