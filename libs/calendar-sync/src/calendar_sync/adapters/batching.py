"""Provider writes issued together go out as one batch request (Google's batch endpoint, Graph's
``$batch``), invisibly to the caller.

:class:`BatchingTransport` wraps the provider client's httpx transport. A request its codec calls
batchable (an event write) waits for the event loop to go round twice — what the engine's phase
started at once (a confirmation's two releases and its patch) has arrived by then — and the
requests that gathered under one bearer token travel as one batch; a request alone goes out as
it came. Each caller gets an ``httpx.Response`` of its own, rebuilt from its part of the batch
answer, so the adapters read it, classify its error and retry it exactly as a single call's (and
the client's response hooks — metrics, the "provider call" log line — still see one answer per
call). A batch that fails as a whole (unreachable, 429, 5xx) gives every request in it the same
failure. No clock is involved: nothing waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class PartAnswer:
    """One request's answer inside a batch answer."""

    status: int
    headers: list[tuple[str, str]]
    content: bytes


class BatchCodec(Protocol):
    """One provider's batch format."""

    max_requests: int

    def batchable(self, request: httpx.Request) -> bool: ...

    def encode(self, requests: Sequence[httpx.Request]) -> httpx.Request:
        """The one batch request carrying ``requests`` (whose bodies have been read)."""
        ...

    def decode(self, requests: Sequence[httpx.Request], answer: httpx.Response) -> list[PartAnswer]:
        """Each request's answer, in the order of ``requests``, from a 2xx batch ``answer``."""
        ...


@dataclass
class _Waiting:
    request: httpx.Request
    answer: asyncio.Future[httpx.Response] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _answer_to(request: httpx.Request, status: int, headers: Any, content: bytes) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=content, request=request)


class BatchingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, codec: BatchCodec) -> None:
        self._inner = inner
        self._codec = codec
        self._gathering: dict[str, list[_Waiting]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._codec.batchable(request):
            return await self._inner.handle_async_request(request)
        await request.aread()
        key = request.headers.get("authorization", "")
        waiting = _Waiting(request)
        gathering = self._gathering.setdefault(key, [])
        gathering.append(waiting)
        if len(gathering) == 1:
            loop = asyncio.get_running_loop()
            # two turns of the loop: callers started together reach this point within one
            loop.call_soon(loop.call_soon, self._flush, key)
        return await waiting.answer

    def _flush(self, key: str) -> None:
        gathered = self._gathering.pop(key, [])
        size = self._codec.max_requests
        for start in range(0, len(gathered), size):
            chunk = gathered[start : start + size]
            task = asyncio.ensure_future(self._send(chunk))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, chunk: list[_Waiting]) -> None:
        try:
            if len(chunk) == 1:
                answers = [await self._exchange(chunk[0].request)]
            else:
                answers = await self._batch([w.request for w in chunk])
        except BaseException as error:  # every caller sees what the one request met
            for waiting in chunk:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for waiting, answer in zip(chunk, answers, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(answer)

    async def _batch(self, requests: list[httpx.Request]) -> list[httpx.Response]:
        batch = self._codec.encode(requests)
        batch.extensions.setdefault("timeout", requests[0].extensions.get("timeout", {}))
        answer = await self._exchange(batch)
        if answer.is_error:  # the batch as a whole: each request gets that answer as its own
            return [_answer_to(r, answer.status_code, answer.headers, answer.content) for r in requests]
        parts = self._codec.decode(requests, answer)
        return [
            _answer_to(request, part.status, part.headers, part.content)
            for request, part in zip(requests, parts, strict=True)
        ]

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """``request`` on the inner transport, its answer read whole (it outlives this task)."""
        response = await self._inner.handle_async_request(request)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return _answer_to(request, response.status_code, response.headers, content)

    async def aclose(self) -> None:
        await self._inner.aclose()
