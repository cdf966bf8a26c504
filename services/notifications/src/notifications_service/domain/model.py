"""What the service sends: one :class:`Mail` per recipient and event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class MailKind(StrEnum):
    INVITATION = "invitation"
    CONFIRMATION = "confirmation"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"


class IcsMethod(StrEnum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None = None

    @property
    def key(self) -> str:
        """The address as the dedupe key knows it (case does not make another person)."""
        return self.email.strip().lower()


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    method: IcsMethod


@dataclass(frozen=True)
class Mail:
    """One composed mail. ``text`` may hold the guest link or the reception code: it goes to
    the SMTP server and nowhere else (``repr`` leaves it out, so a log of the object cannot)."""

    kind: MailKind
    to: Recipient
    subject: str
    text: str = field(repr=False)
    calendar: Attachment | None = field(default=None, repr=False)


def delivery_key(event_id: str, recipient: Recipient) -> str:
    """One mail per (event, recipient): the id of its sent-mail record and of its Message-ID."""
    digest = hashlib.sha256(recipient.key.encode()).hexdigest()[:16]
    return f"{event_id}.{digest}"
