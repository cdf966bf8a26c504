"""Google's batch endpoint (``POST /batch/calendar/v3``) for event writes issued together.

The batch is ``multipart/mixed``: each part an ``application/http`` request (request line,
headers, body) with a ``Content-ID``; the batch's ``Authorization`` applies to every request in
it. The answer is ``multipart/mixed`` again, each part the HTTP answer of the request whose
``Content-ID`` it names as ``response-<id>``. Calendar takes at most 50 requests per batch.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

import httpx

from calendar_sync.adapters.batching import PartAnswer

WRITES = frozenset({"POST", "PATCH", "DELETE"})
BATCH_PATH = "/batch/calendar/v3"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_MISSING = PartAnswer(
    502,
    [("content-type", "application/json")],
    b'{"error":{"code":502,"message":"No answer for this request in the batch."}}',
)


def _split_head(text: bytes) -> tuple[list[bytes], bytes]:
    """Header lines and the rest, at the first empty line (CRLF or LF)."""
    match = _HEAD_END.search(text)
    if match is None:
        return text.splitlines(), b""
    return text[: match.start()].splitlines(), text[match.end() :]


def _headers(lines: list[bytes]) -> list[tuple[str, str]]:
    found = []
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            found.append((name.strip().lower(), value.strip()))
    return found


def multipart_parts(body: bytes, content_type: str) -> list[tuple[list[tuple[str, str]], bytes]]:
    """The parts of a ``multipart/mixed`` body: each one's headers and content."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, content = _split_head(chunk.lstrip(b"\r\n"))
        parts.append((_headers(head), content.rstrip(b"\r\n")))
    return parts


class GoogleBatchCodec:
    max_requests = 50

    def __init__(self, calendar_base_url: str) -> None:
        self._base = httpx.URL(calendar_base_url.rstrip("/") + "/")

    def batchable(self, request: httpx.Request) -> bool:
        url = request.url
        return (
            request.method in WRITES
            and (url.host, url.port) == (self._base.host, self._base.port)
            and url.path.startswith("/calendar/v3/calendars/")
            and "/events" in url.path
            and not url.path.endswith("/watch")
        )

    def encode(self, requests: Sequence[httpx.Request]) -> httpx.Request:
        boundary = f"batch_{secrets.token_hex(12)}"
        body = bytearray()
        for n, request in enumerate(requests):
            body += (
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\n".encode()
            )
            body += f"{request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode()
            if request.content:
                body += (
                    f"Content-Type: application/json\r\nContent-Length: {len(request.content)}\r\n".encode()
                )
            body += b"\r\n" + request.content + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers = {
            "Authorization": requests[0].headers["authorization"],
            "Content-Type": f"multipart/mixed; boundary={boundary}",
        }
        return httpx.Request("POST", self._base.join(BATCH_PATH), headers=headers, content=bytes(body))

    def decode(self, requests: Sequence[httpx.Request], answer: httpx.Response) -> list[PartAnswer]:
        by_id: dict[str, PartAnswer] = {}
        for headers, content in multipart_parts(answer.content, answer.headers.get("content-type", "")):
            content_id = dict(headers).get("content-id", "").strip("<>")
            head, body = _split_head(content)
            if not head or not content_id.startswith("response-"):
                continue
            status_line = head[0].decode("latin-1").split()
            status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 502
            by_id[content_id.removeprefix("response-")] = PartAnswer(status, _headers(head[1:]), body)
        return [by_id.get(f"item{n}", _MISSING) for n in range(len(requests))]
