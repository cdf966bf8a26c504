"""Running the requests of a batch call through the emulator's own app, one after another, as
if each had come on its own: every middleware (counting, per-mailbox limits, injected faults) and
every route sees it, so a batched write behaves exactly as the same write sent alone. The app
is called in process, as an ASGI server would call it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Message


@dataclass(frozen=True)
class InnerAnswer:
    status: int
    headers: list[tuple[str, str]]
    content: bytes


async def run_inside(
    app: ASGIApp, base_url: str, method: str, target: str, headers: dict[str, str], content: bytes
) -> InnerAnswer:
    """``method target`` (a path with its query) on ``app``, answered in process."""
    base = urlsplit(base_url)
    path, _, query = target.partition("?")
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw_headers += [(b"host", base.netloc.encode()), (b"content-length", str(len(content)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": base.scheme,
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 0),
        "server": (base.hostname or "127.0.0.1", base.port or 443),
    }
    answered = asyncio.Event()
    body_sent = False
    status, body = 500, bytearray()
    out_headers: list[tuple[str, str]] = []

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": content, "more_body": False}
        await answered.wait()  # as a server does: the client is there until it has its answer
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            out_headers.extend(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    await app(scope, receive, send)
    answered.set()
    return InnerAnswer(status, out_headers, bytes(body))
