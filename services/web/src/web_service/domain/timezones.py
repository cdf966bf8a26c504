"""Time zones the pages offer, and how a slot is written in one of them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Tokyo"
# The switcher's choices; any other IANA name typed into ?tz= falls back to the default.
ZONES: tuple[str, ...] = (
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "UTC",
)
WEEKDAYS_JA = "月火水木金土日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def zone_named(name: str | None, default: str = DEFAULT_ZONE) -> str:
    """``name`` when it is one of :data:`ZONES`, else ``default`` (never raises on odd input)."""
    return name if name in ZONES else default


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def slot_label(start: datetime, end: datetime, zone: str) -> str:
    """``2030年1月7日(月) 10:00–10:30`` in ``zone``."""
    s, e = local(start, zone), local(end, zone)
    day = f"{s.year}年{s.month}月{s.day}日({WEEKDAYS_JA[s.weekday()]})"
    end_day = "" if e.date() == s.date() else f"{e.month}月{e.day}日 "
    return f"{day} {s:%H:%M}–{end_day}{e:%H:%M}"


def slot_label_en(start: datetime, end: datetime, zone: str) -> str:
    """``Mon 7 Jan 2030, 10:00–10:30`` in ``zone``."""
    s, e = local(start, zone), local(end, zone)
    return f"{WEEKDAYS_EN[s.weekday()]} {s.day} {s:%b %Y}, {s:%H:%M}–{e:%H:%M}"


def utc_offset(zone: str, at: datetime) -> str:
    """``UTC+09:00`` for ``zone`` at ``at``."""
    offset = local(at, zone).utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
