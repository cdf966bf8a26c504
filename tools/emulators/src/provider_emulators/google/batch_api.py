"""``POST /batch/calendar/v3``: Google's batch endpoint. A ``multipart/mixed`` body of
``application/http`` requests, each run as if sent alone with the batch's ``Authorization``;
the answer is ``multipart/mixed`` again, one ``response-<Content-ID>`` part per request, in order.
At most 50 requests (Calendar's documented limit for a batch)."""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Request, Response

from provider_emulators.core.batch import InnerAnswer, run_inside
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.errors import invalid

MAX_REQUESTS = 50
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def _split_head(text: bytes) -> tuple[list[str], bytes]:
    match = _HEAD_END.search(text)
    head, rest = (text, b"") if match is None else (text[: match.start()], text[match.end() :])
    return head.decode("latin-1").splitlines(), rest


def _parts(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    match = _BOUNDARY.search(content_type)
    if not content_type.startswith("multipart/mixed") or match is None:
        raise invalid("Bad Request: a batch is multipart/mixed with a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, content = _split_head(chunk.lstrip(b"\r\n"))
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}
        parts.append((headers, content.rstrip(b"\r\n")))
    return parts


def _request_line(head: list[str]) -> bool:
    """An HTTP request line: ``METHOD /path[?query] [HTTP/1.1]``."""
    words = head[0].split() if head else []
    return len(words) in (2, 3) and words[0].upper() in _METHODS and words[1].startswith("/")


def _answer_part(content_id: str, inner: InnerAnswer) -> bytes:
    reason = "OK" if inner.status < 400 else "Error"
    lines = [
        "Content-Type: application/http",
        f"Content-ID: <response-{content_id}>",
        "",
        f"HTTP/1.1 {inner.status} {reason}",
        *(f"{k}: {v}" for k, v in inner.headers if k.lower() in ("content-type", "retry-after", "etag")),
        f"Content-Length: {len(inner.content)}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + inner.content + b"\r\n"


def build_batch_router(emu: GoogleEmulator) -> APIRouter:
    router = APIRouter()

    @router.post("/batch/calendar/v3")
    async def batch(request: Request) -> Response:
        emu.tokens.authenticate(request.headers.get("authorization"))
        parts = _parts(await request.body(), request.headers.get("content-type", ""))
        if not parts:
            raise invalid("Bad Request: an empty batch")
        if len(parts) > MAX_REQUESTS:
            raise invalid(f"Bad Request: more than {MAX_REQUESTS} requests in a batch")
        requests = [_split_head(content) for _, content in parts]
        if not all(_request_line(head) for head, _ in requests):
            # every part checked before any runs: a bad batch changes nothing
            raise invalid("Bad Request: a batch part without a request line")
        base = f"{request.url.scheme}://{request.url.netloc}"
        boundary = f"batch_{secrets.token_hex(12)}"
        body = bytearray()
        for n, ((headers, _), (head, inner_body)) in enumerate(zip(parts, requests, strict=True)):
            request_line = head[0].split()
            inner_headers = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
            inner_headers.pop("Content-Length", None)
            inner_headers["Authorization"] = request.headers["authorization"]
            method, target = request_line[0].upper(), request_line[1]
            inner = await run_inside(request.app, base, method, target, inner_headers, inner_body)
            content_id = headers.get("content-id", f"<item{n}>").strip("<>")
            body += f"--{boundary}\r\n".encode() + _answer_part(content_id, inner)
        body += f"--{boundary}--\r\n".encode()
        return Response(bytes(body), media_type=f"multipart/mixed; boundary={boundary}")

    return router
