"""Test kit of the notifications service: event builders (sealed like the appointments service
seals them), a recording SMTP double, and parsing of what was sent."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from notifications_service.adapters.smtp import SendFailed
from notifications_service.domain.message import OutgoingMessage
from visitor_common.events import (
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentSnapshot,
    AppointmentStatus,
    CandidateSlot,
    CloudEvent,
    EventData,
    Guest,
    GuestCheckedIn,
    GuestConfirmationRequested,
    GuestInvitationRequested,
    RoomRef,
    new_event,
)
from visitor_common.sealing import Sealer, seal_context

SEAL_KEYS = {"m1": Sealer.generate_key()}
SEALER = Sealer.from_config(SEAL_KEYS)
START = datetime(2030, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
GUEST_URL = "https://visit.example/v1/guest/appointments/Zt7bQ2kqVhH3nR8sW1yX4cE6pL0m"
CODE = "482913"


def snapshot(
    appointment_id: str = "appt-1",
    *,
    version: int = 1,
    status: AppointmentStatus = AppointmentStatus.PROPOSED,
    guests: tuple[Guest, ...] | None = None,
    start: datetime = START,
    confirmed: bool = False,
) -> AppointmentSnapshot:
    candidates = (
        CandidateSlot(
            slot_id="s1",
            start=start,
            end=start + timedelta(hours=1),
            room=RoomRef(email="room-7@example.com", name="会議室7 / Room 7"),
        ),
        CandidateSlot(slot_id="s2", start=start + timedelta(days=1), end=start + timedelta(days=1, hours=1)),
    )
    if confirmed:
        status = AppointmentStatus.CONFIRMED if status is AppointmentStatus.PROPOSED else status
    return AppointmentSnapshot(
        appointment_id=appointment_id,
        tenant_id="acme",
        version=version,
        host_employee_id="e-host",
        host_email="hana@example.com",
        title="製品デモ / Product demo",
        guests=guests
        if guests is not None
        else (
            Guest(name="山田 太郎", company="Yamada Co.", email="taro@guest.example"),
            Guest(name="Jane Roe", email="jane@guest.example"),
        ),
        duration_minutes=60,
        status=status,
        candidates=candidates,
        confirmed_slot_id="s1" if confirmed else None,
    )


def envelope(data: EventData, appointment_id: str = "appt-1", event_id: str | None = None) -> CloudEvent[Any]:
    return new_event(
        data, source="/services/appointments", subject=appointment_id, tenant_id="acme", event_id=event_id
    )


def invitation(
    appointment_id: str = "appt-1", *, sealer: Sealer = SEALER, **kw: Any
) -> GuestInvitationRequested:
    return GuestInvitationRequested(
        appointment=snapshot(appointment_id, **kw),
        host_name="花子 Hana",
        guest_url=sealer.seal(GUEST_URL, seal_context(appointment_id, "guest_url")),
        link_expires_at=START - timedelta(hours=1),
    )


def confirmation(
    appointment_id: str = "appt-1", *, version: int = 3, code: str = CODE, **kw: Any
) -> GuestConfirmationRequested:
    return GuestConfirmationRequested(
        appointment=snapshot(appointment_id, version=version, confirmed=True, **kw),
        host_name="花子 Hana",
        reception_code=SEALER.seal(code, seal_context(appointment_id, "reception_code")),
    )


def rescheduled(
    appointment_id: str = "appt-1", *, version: int = 4, confirmed: bool = True
) -> AppointmentRescheduled:
    return AppointmentRescheduled(
        appointment=snapshot(
            appointment_id, version=version, confirmed=confirmed, start=START + timedelta(days=2)
        )
    )


def cancelled(
    appointment_id: str = "appt-1", *, version: int = 5, confirmed: bool = True
) -> AppointmentCancelled:
    base = snapshot(appointment_id, version=version, confirmed=confirmed)
    return AppointmentCancelled(appointment=base.model_copy(update={"status": AppointmentStatus.CANCELLED}))


def checked_in(appointment_id: str = "appt-1") -> GuestCheckedIn:
    base = snapshot(appointment_id, version=3, confirmed=True)
    return GuestCheckedIn(
        appointment_id=appointment_id,
        tenant_id="acme",
        appointment_version=3,
        title=base.title,
        host_employee_id=base.host_employee_id,
        host_email=base.host_email,
        host_name="花子 Hana",
        guests=base.guests,
        slot=base.candidates[0],
        checked_in_at=START - timedelta(minutes=5),
        device_id="dev-1",
    )


class RecordingSmtp:
    """Stands in for the SMTP server in unit tests: records messages, fails on demand."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.failures: list[SendFailed] = []
        self.attempts = 0

    def fail_next(self, *errors: SendFailed) -> None:
        self.failures.extend(errors)

    async def send(self, message: OutgoingMessage) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        parsed = message.parsed()
        assert message.envelope_to == tuple(a.addr_spec for a in parsed["To"].addresses)
        self.messages.append(parsed)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def ics_of(message: EmailMessage) -> bytes | None:
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()  # type: ignore[attr-defined]
            return content.encode() if isinstance(content, str) else bytes(content)
    return None


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("NOTIFICATIONS_"):
            monkeypatch.delenv(name)
