"""Date/time helpers in Graph's formats (7 fractional digits, Windows or IANA zone names)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC

# The Windows zone names Graph uses most often, mapped to IANA names. IANA names work too.
WINDOWS_ZONES: dict[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "India Standard Time": "Asia/Kolkata",
    "AUS Eastern Standard Time": "Australia/Sydney",
}


class TimeZoneError(ValueError):
    """An unknown time zone name."""


class DateTimeError(ValueError):
    """An unparsable date/time value."""


def zone(name: str | None) -> dt.tzinfo:
    """Resolve a Windows or IANA zone name; empty means UTC."""
    if not name:
        return UTC
    iana = WINDOWS_ZONES.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(name) from exc


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def parse_iso(value: str) -> dt.datetime:
    """Parse an ISO 8601 instant; a value without offset is taken as UTC."""
    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        suffix = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{suffix}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise DateTimeError(value) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_datetime_tz(value: object) -> dt.datetime:
    """Parse a Graph ``dateTimeTimeZone`` object into an aware UTC datetime."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise DateTimeError(str(value))
    tz_name = value.get("timeZone")
    tz = zone(tz_name if isinstance(tz_name, str) else None)
    text = value["dateTime"].strip().replace("Z", "")
    parsed = parse_iso(text)
    local = parsed.replace(tzinfo=tz) if "+" not in text[10:] and "-" not in text[10:] else parsed
    return local.astimezone(UTC)


def graph_local(instant: dt.datetime, tz_name: str) -> dict[str, str]:
    """Render an instant as a Graph ``dateTimeTimeZone`` in ``tz_name``."""
    local = instant.astimezone(zone(tz_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


def graph_stamp(instant: dt.datetime) -> str:
    """Render an instant like Graph's ``createdDateTime`` (``...T10:00:00.1234567Z``)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def iso_z(instant: dt.datetime) -> str:
    """Render an instant as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
