"""RFC 3339 parsing/formatting and the emulator clock (which tests can move forward)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from provider_emulators.google.errors import invalid

UTC = dt.UTC


class Clock:
    """Wall clock plus an offset set through the control API."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def time(self) -> float:
        return time.time() + self.offset_s

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), UTC)


def parse_rfc3339(value: str, field: str) -> dt.datetime:
    """Parse a timestamp with an explicit offset (Google rejects naive ones in queries)."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            raise invalid(f"Bad Request: {field} must have a time zone offset", field)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(f"Bad Request: invalid {field} value '{value}'", field) from None


def parse_event_time(value: Any, field: str) -> dt.datetime:
    """Parse an EventDateTime (``dateTime`` [+ ``timeZone``] or all-day ``date``) to UTC."""
    try:
        return _parse_event_time(value, field)
    except OverflowError:
        raise invalid(f"Invalid {field} time.", field) from None


def _parse_event_time(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, dict):
        raise invalid(f"Invalid {field} time.", field)
    zone = _zone(value.get("timeZone"), field)
    if isinstance(value.get("dateTime"), str):
        try:
            parsed = dt.datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        except ValueError:
            raise invalid(f"Invalid {field} time.", field) from None
        if parsed.tzinfo is None:
            if zone is None:
                raise invalid(f"Missing time zone definition for {field} time.", field)
            parsed = parsed.replace(tzinfo=zone)
        return parsed.astimezone(UTC)
    if isinstance(value.get("date"), str):
        try:
            day = dt.date.fromisoformat(value["date"])
        except ValueError:
            raise invalid(f"Invalid {field} time.", field) from None
        return dt.datetime.combine(day, dt.time(), zone or UTC).astimezone(UTC)
    raise invalid(f"Missing {field} time.", field)


def _zone(name: Any, field: str) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"Invalid time zone definition for {field} time.", field) from None


def format_utc(moment: dt.datetime, millis: bool = False) -> str:
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
