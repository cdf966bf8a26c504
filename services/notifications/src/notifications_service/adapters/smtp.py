"""Sending over SMTP with aiosmtplib; failures sorted into worth-retrying and not."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from notifications_service.settings import Settings


class SendFailed(Exception):
    """The SMTP server did not accept the message. ``transient``: a later attempt may work
    (connection trouble, 4xx); otherwise retrying cannot help (5xx: bad recipient, refused)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _is_transient(error: aiosmtplib.SMTPException) -> bool:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= r.code < 500 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    # Connect, disconnect, timeout, TLS handshake: the server may be back soon.
    return True


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                use_tls=s.smtp_tls == "tls",
                start_tls=s.smtp_tls == "starttls",
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPException as error:
            raise SendFailed(f"{type(error).__name__}: {error}", transient=_is_transient(error)) from error
        except OSError as error:
            raise SendFailed(f"{type(error).__name__}: {error}", transient=True) from error
