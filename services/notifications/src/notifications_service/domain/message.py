"""The MIME message of a :class:`Mail`: UTF-8 plain text, the .ics as ``text/calendar`` with
its METHOD, and a Message-ID derived from the delivery key — a resend after a crash carries the
same id, so mail programs can drop the copy."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from notifications_service.domain.model import Mail

MESSAGE_ID_DOMAIN = "visitor-scheduling.notifications"


def message_id(delivery_key: str) -> str:
    return f"<{delivery_key}@{MESSAGE_ID_DOMAIN}>"


def mime_message(mail: Mail, *, sender: str, delivery_key: str, date: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(display_name=mail.to.name or "", addr_spec=mail.to.email)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(delivery_key)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Visitor-Mail-Kind"] = mail.kind.value
    message.set_content(mail.text, charset="utf-8")
    if mail.calendar is not None:
        message.add_attachment(
            mail.calendar.content,
            maintype="text",
            subtype="calendar",
            filename=mail.calendar.filename,
            params={"method": mail.calendar.method.value, "charset": "utf-8"},
        )
    return message
