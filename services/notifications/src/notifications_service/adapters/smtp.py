"""Sending over SMTP with aiosmtplib; failures sorted into worth-retrying and not."""

from __future__ import annotations

import asyncio
import contextlib

import aiosmtplib

from notifications_service.domain.message import OutgoingMessage
from notifications_service.settings import Settings


class SendFailed(Exception):
    """The SMTP server did not accept the message. ``transient``: a later attempt may work
    (connection trouble, 4xx); otherwise retrying cannot help (5xx: bad recipient, refused)."""

    def __init__(self, message: str, *, transient: bool, reused: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.reused = reused  # on a connection kept from an earlier mail


def _is_transient(error: aiosmtplib.SMTPException) -> bool:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= r.code < 500 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    # Connect, disconnect, timeout, TLS handshake: the server may be back soon.
    return True


class SmtpSender:
    """One SMTP connection kept open and used for mail after mail (connecting, EHLO, TLS and
    login once instead of per mail), one mail at a time. A connection the server dropped while
    idle is noticed on the next mail, which then goes out on a new connection right away."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def send(self, message: OutgoingMessage) -> None:
        async with self._lock:
            try:
                await self._send_once(message)
            except SendFailed as error:
                if not error.transient or not error.reused:
                    raise
                await self._send_once(message)  # the kept connection had gone stale: once more

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()

    async def _send_once(self, message: OutgoingMessage) -> None:
        reused = self._client is not None and self._client.is_connected
        try:
            client = await self._connected()
            await client.sendmail(message.envelope_from, message.envelope_to, message.data)
        except aiosmtplib.SMTPException as error:
            self._drop()
            raise SendFailed(
                f"{type(error).__name__}: {error}", transient=_is_transient(error), reused=reused
            ) from error
        except OSError as error:
            self._drop()
            raise SendFailed(f"{type(error).__name__}: {error}", transient=True, reused=reused) from error

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            timeout=s.smtp_timeout_seconds,
        )
        await client.connect()
        self._client = client
        return client

    def _drop(self) -> None:
        """Forget the connection after a failure: the next mail starts on a new one (a refused
        recipient leaves the session in an unknown state; a broken socket is no use)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
