"""The wire form of a :class:`Mail`: UTF-8 plain text, the .ics as ``text/calendar`` with its
METHOD, and a Message-ID derived from the delivery key — a resend after a crash carries the same
id, so mail programs can drop the copy.

Built with the standard library's ``compat32`` MIME classes and flattened once, here: the
``EmailMessage`` API parses every header it is given and refolds each one again on output,
which took 3.3 ms of CPU per mail (profiled: the largest part of the service's work per
confirmation); this way it is a fraction of that, and the bytes are what the SMTP server gets.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass, field
from datetime import datetime
from email import encoders
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import cast

from notifications_service.domain.model import Mail

MESSAGE_ID_DOMAIN = "visitor-scheduling.notifications"
_WIRE = email.policy.compat32.clone(linesep="\r\n")


@dataclass(frozen=True)
class OutgoingMessage:
    """What goes to the SMTP server: the envelope and the message's bytes (CRLF line ends).
    ``data`` holds the mail's text (a guest link, a reception code): ``repr`` leaves it out."""

    envelope_from: str
    envelope_to: tuple[str, ...]
    data: bytes = field(repr=False)

    def parsed(self) -> EmailMessage:
        """The message as a mail program reads it."""
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


def message_id(delivery_key: str) -> str:
    return f"<{delivery_key}@{MESSAGE_ID_DOMAIN}>"


def _address(name: str | None, addr: str) -> str:
    # formataddr quotes an ASCII display name and RFC 2047-encodes any other
    return formataddr((name or "", addr), charset="utf-8")


def mime_message(mail: Mail, *, sender: str, delivery_key: str, date: datetime) -> OutgoingMessage:
    sender_name, sender_addr = parseaddr(sender)
    text = MIMEText(mail.text, "plain", "utf-8")
    message: Message
    if mail.calendar is None:
        message = text
    else:
        calendar = MIMEBase("text", "calendar", method=mail.calendar.method.value, charset="utf-8")
        calendar.set_payload(mail.calendar.content)
        encoders.encode_base64(calendar)
        calendar.add_header("Content-Disposition", "attachment", filename=mail.calendar.filename)
        message = MIMEMultipart("mixed", _subparts=[text, calendar])
    message["From"] = _address(sender_name, sender_addr)
    message["To"] = _address(mail.to.name, mail.to.email)
    # compat32 folds a Header object itself (RFC 2047 words for the non-ASCII ones)
    subject = Header(mail.subject, "us-ascii" if mail.subject.isascii() else "utf-8")
    message["Subject"] = cast(str, subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(delivery_key)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Visitor-Mail-Kind"] = mail.kind.value
    return OutgoingMessage(sender_addr, (mail.to.email,), message.as_bytes(policy=_WIRE))
