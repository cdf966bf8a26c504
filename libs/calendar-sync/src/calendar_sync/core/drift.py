"""Drift detection (R9): compare what the provider holds with what the connector applied.

Pure functions; the ``DriftMonitor`` (``monitor.py``) feeds them provider events from push
notifications, incremental sync and polling.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from calendar_sync.core.model import AppliedState, CalendarEntry, ProviderEvent
from visitor_common.events.sync import DriftChange, DriftKind


class DriftPolicy(StrEnum):
    REPORT = "report"
    RESTORE = "restore"


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a == b


def _norm(text: str | None) -> str:
    return (text or "").strip()


def entry_differences(entry: CalendarEntry, event: ProviderEvent) -> list[tuple[str, Any, Any]]:
    """Fields where the provider's event differs from the entry: ``(field, expected, actual)``.

    Fields the provider did not report (None) are not compared, except the room, whose absence
    is a difference.
    """
    diffs: list[tuple[str, Any, Any]] = []
    if event.start is not None and not _same_instant(entry.start, event.start):
        diffs.append(("start", entry.start.isoformat(), event.start.isoformat()))
    if event.end is not None and not _same_instant(entry.end, event.end):
        diffs.append(("end", entry.end.isoformat(), event.end.isoformat()))
    if event.title is not None and _norm(event.title) != _norm(entry.title):
        diffs.append(("title", entry.title, event.title))
    if event.description is not None and _norm(event.description) != _norm(entry.description):
        diffs.append(("description", entry.description, event.description))
    expected_room = entry.room.email.lower() if entry.room else None
    actual_room = event.room_email.lower() if event.room_email else None
    if expected_room != actual_room:
        diffs.append(("room", expected_room, actual_room))
    if event.tentative is not None and event.tentative != entry.tentative:
        diffs.append(("tentative", entry.tentative, event.tentative))
    return diffs


def in_flight(state: AppliedState, event: ProviderEvent) -> bool:
    """The event carries a newer appointment version than the applied state: a write of ours
    that is not recorded yet. Not drift."""
    return event.meta is not None and event.meta.appointment_version > state.appointment_version


def is_echo(state: AppliedState, observed: Mapping[str, ProviderEvent]) -> bool:
    """Every observed event of ``state`` is exactly what the connector wrote (the etag it
    recorded, or a newer version of ours in flight): the notification of our own write. Nothing
    to judge, and no need to take the appointment's lock."""
    seen = False
    for applied in state.entries.values():
        event = observed.get(applied.event_id)
        if event is None:
            continue
        seen = True
        if in_flight(state, event):
            continue
        if event.cancelled or applied.etag is None or event.etag != applied.etag:
            return False
    return seen


def detect_drift(state: AppliedState, observed: Mapping[str, ProviderEvent]) -> list[DriftChange]:
    """Drift of the applied entries whose provider events were observed (by event id).

    A cancelled (deleted) event is one ``deleted`` change; an edited one gives one ``edited``
    change per differing field. Entries not observed are not judged.
    """
    changes: list[DriftChange] = []
    for key, applied in sorted(state.entries.items()):
        event = observed.get(applied.event_id)
        if event is None or in_flight(state, event):
            continue
        if event.cancelled:
            changes.append(
                DriftChange(entry_key=key, provider_event_id=applied.event_id, kind=DriftKind.DELETED)
            )
            continue
        for field, expected, actual in entry_differences(applied.entry, event):
            changes.append(
                DriftChange(
                    entry_key=key,
                    provider_event_id=applied.event_id,
                    kind=DriftKind.EDITED,
                    field=field,
                    expected=expected,
                    actual=actual,
                )
            )
    return changes


def drift_signature(changes: list[DriftChange]) -> list[dict[str, Any]]:
    """JSON form stored in the applied state, to report the same drift only once."""
    return [c.model_dump(mode="json") for c in changes]
