"""The local stack's mail sink: an SMTP server that accepts every message and keeps it as an
``.eml`` file, so nothing leaves the machine and a test (or a person) can read what was sent.

    python -m devstack.mail_sink --dir .state/mail --port 1025

Each message becomes ``<dir>/<UTC timestamp>-<id>.eml`` (the bytes as received, so any mail
program opens it); names sort by arrival. A file appears complete or not at all: it is written
under a dot-name and renamed. No TLS and no authentication: it listens on loopback only unless
told otherwise, and is for development.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_PORT = 1025
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


def message_name(now: datetime | None = None) -> str:
    """``20261201T092530.123456Z-<12 hex>.eml``: sorts by arrival, never collides."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{uuid.uuid4().hex[:12]}.eml"


def _write_whole(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(content)
    os.replace(temporary, path)


@dataclass
class EmlWriter:
    """aiosmtpd handler: one ``.eml`` per accepted message."""

    directory: Path
    written: list[Path] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        path = self.directory / message_name()
        await asyncio.to_thread(_write_whole, path, envelope.original_content or b"")
        self.written.append(path)
        return "250 Message accepted for delivery"


@dataclass
class MailSink:
    """A running sink: ``host``/``port`` to send to, ``directory`` to read from."""

    directory: Path
    host: str
    port: int
    writer: EmlWriter
    server: asyncio.Server = field(repr=False)

    def messages(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_sink(
    directory: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, writer: EmlWriter | None = None
) -> MailSink:
    """Listen on ``host:port`` (``0``: any free port) and write into ``directory`` (created).
    ``writer``: another handler writing there (a test's slow server, say)."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    writer = writer or EmlWriter(directory)

    def protocol() -> SMTP:
        return SMTP(writer, hostname="mail-sink.local", data_size_limit=MAX_MESSAGE_BYTES)

    server = await asyncio.get_running_loop().create_server(protocol, host, port)
    bound: Any = server.sockets[0].getsockname()
    return MailSink(directory, host, int(bound[1]), writer, server)


@contextlib.asynccontextmanager
async def running_sink(
    directory: Path, host: str = "127.0.0.1", port: int = 0, *, writer: EmlWriter | None = None
) -> AsyncIterator[MailSink]:
    sink = await start_sink(directory, host, port, writer=writer)
    try:
        yield sink
    finally:
        await sink.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.mail_sink", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the .eml files go")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"SMTP port ({DEFAULT_PORT})")
    return parser.parse_args(argv)


async def serve(directory: Path, host: str, port: int) -> None:
    sink = await start_sink(directory, host, port)
    print(
        f"mail sink: smtp://{sink.host}:{sink.port} -> every message as an .eml file in "
        f"{sink.directory.resolve()}",
        flush=True,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await sink.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    asyncio.run(serve(args.dir, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
