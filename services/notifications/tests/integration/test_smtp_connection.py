"""``SmtpSender`` against a real SMTP server (aiosmtpd on a loopback port): mail after mail on
one kept connection; a connection the server dropped is replaced for the next mail; a refused
recipient fails for good and the next mail still goes out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications_service.adapters.smtp import SendFailed, SmtpSender
from notifications_service.domain.message import OutgoingMessage
from notifications_service.settings import Settings


@dataclass
class Server:
    """Accepts every mail except to ``refused@…``; remembers each mail's connection."""

    peers: list[Any] = field(default_factory=list)
    sessions: list[SMTP] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.peers.append(session.peer)
        return "250 accepted"

    def protocol(self) -> SMTP:
        session = SMTP(self)
        self.sessions.append(session)
        return session

    def drop_connections(self) -> None:
        for session in self.sessions:
            if session.transport is not None:
                session.transport.close()


@pytest.fixture
async def smtp_server() -> AsyncIterator[tuple[Server, int]]:
    server = Server()
    listening = await asyncio.get_running_loop().create_server(server.protocol, "127.0.0.1", 0)
    try:
        yield server, listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


def message(to: str, n: int) -> OutgoingMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "noreply@example.com", to, f"mail {n}"
    mail.set_content("hello")
    return OutgoingMessage("noreply@example.com", (to,), bytes(mail))


def sender(port: int) -> SmtpSender:
    return SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none"))


async def test_mail_after_mail_goes_over_one_connection(smtp_server: tuple[Server, int]) -> None:
    server, port = smtp_server
    smtp = sender(port)
    try:
        for n in range(5):
            await smtp.send(message("guest@example.org", n))
    finally:
        await smtp.close()
    assert len(server.peers) == 5
    assert len(set(server.peers)) == 1


async def test_a_connection_the_server_dropped_is_replaced(smtp_server: tuple[Server, int]) -> None:
    server, port = smtp_server
    smtp = sender(port)
    try:
        await smtp.send(message("guest@example.org", 1))
        server.drop_connections()
        await smtp.send(message("guest@example.org", 2))
    finally:
        await smtp.close()
    assert len(server.peers) == 2
    assert server.peers[0] != server.peers[1]


async def test_a_refused_recipient_fails_for_good_and_the_next_mail_goes_out(
    smtp_server: tuple[Server, int],
) -> None:
    server, port = smtp_server
    smtp = sender(port)
    try:
        with pytest.raises(SendFailed) as refused:
            await smtp.send(message("refused@example.org", 1))
        assert not refused.value.transient
        await smtp.send(message("guest@example.org", 2))
    finally:
        await smtp.close()
    assert len(server.peers) == 1
