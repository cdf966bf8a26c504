"""``BatchingTransport`` on a scripted provider: writes issued together go out as one batch
(split at the codec's limit), each caller gets its own answer, a lone or unbatchable request
goes out as it came, and a batch failing as a whole fails each of its requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx

from calendar_sync.adapters.batching import BatchingTransport, PartAnswer


class ListCodec:
    """A toy batch format: a JSON list of ``[method, url]`` in, a list of ``[status, text]`` out."""

    max_requests = 3

    def batchable(self, request: httpx.Request) -> bool:
        return request.method != "GET"

    def encode(self, requests: Sequence[httpx.Request]) -> httpx.Request:
        items = [[r.method, str(r.url)] for r in requests]
        return httpx.Request("POST", "https://api.example/batch", json=items)

    def decode(self, requests: Sequence[httpx.Request], answer: httpx.Response) -> list[PartAnswer]:
        return [PartAnswer(status, [], text.encode()) for status, text in answer.json()]


class Provider:
    """Answers a batch item ``DELETE …/missing`` with 404 and any other with 200 and its URL."""

    def __init__(self, batch_status: int = 200) -> None:
        self.seen: list[httpx.Request] = []
        self.batch_status = batch_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path == "/batch":
            if self.batch_status != 200:
                return httpx.Response(self.batch_status, text="busy")
            items = json.loads(request.content)
            return httpx.Response(200, json=[[404 if u.endswith("missing") else 200, u] for _, u in items])
        return httpx.Response(200, text=str(request.url))


def client(provider: Provider) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=BatchingTransport(httpx.MockTransport(provider), ListCodec()))


async def test_requests_issued_together_go_as_one_batch_each_answered_on_its_own() -> None:
    provider = Provider()
    async with client(provider) as http:
        a, b, missing = await asyncio.gather(
            http.delete("https://api.example/e/a"),
            http.patch("https://api.example/e/b", json={"x": 1}),
            http.delete("https://api.example/e/missing"),
        )
    assert [r.url.path for r in provider.seen] == ["/batch"]
    assert (a.status_code, a.text, a.request.url.path) == (200, "https://api.example/e/a", "/e/a")
    assert (b.status_code, b.text) == (200, "https://api.example/e/b")
    assert missing.status_code == 404


async def test_a_batch_holds_at_most_the_codec_limit() -> None:
    provider = Provider()
    async with client(provider) as http:
        answers = await asyncio.gather(*(http.delete(f"https://api.example/e/{n}") for n in range(5)))
    assert [r.url.path for r in provider.seen] == ["/batch", "/batch"]
    assert [len(json.loads(r.content)) for r in provider.seen] == [3, 2]
    assert [r.text for r in answers] == [f"https://api.example/e/{n}" for n in range(5)]


async def test_a_lone_write_and_a_read_go_out_as_they_came() -> None:
    provider = Provider()
    async with client(provider) as http:
        alone = await http.delete("https://api.example/e/a")
        read, write = await asyncio.gather(
            http.get("https://api.example/e/b"), http.delete("https://api.example/e/c")
        )
    assert [r.url.path for r in provider.seen] == ["/e/a", "/e/b", "/e/c"]
    assert (alone.text, read.text, write.text) == (
        "https://api.example/e/a",
        "https://api.example/e/b",
        "https://api.example/e/c",
    )


async def test_a_batch_refused_as_a_whole_is_each_request_s_answer() -> None:
    provider = Provider(batch_status=503)
    async with client(provider) as http:
        answers = await asyncio.gather(
            http.delete("https://api.example/e/a"), http.delete("https://api.example/e/b")
        )
    assert [(r.status_code, r.text, r.request.url.path) for r in answers] == [
        (503, "busy", "/e/a"),
        (503, "busy", "/e/b"),
    ]


async def test_an_unreachable_provider_fails_every_request_of_the_batch() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport = BatchingTransport(httpx.MockTransport(unreachable), ListCodec())
    async with httpx.AsyncClient(transport=transport) as http:
        results = await asyncio.gather(
            http.delete("https://api.example/e/a"),
            http.delete("https://api.example/e/b"),
            return_exceptions=True,
        )
    assert all(isinstance(r, httpx.ConnectError) for r in results)


async def test_requests_under_different_tokens_are_never_batched_together() -> None:
    provider = Provider()
    async with client(provider) as http:
        await asyncio.gather(
            http.delete("https://api.example/e/a", headers={"Authorization": "Bearer one"}),
            http.delete("https://api.example/e/b", headers={"Authorization": "Bearer two"}),
        )
    assert sorted(r.url.path for r in provider.seen) == ["/e/a", "/e/b"]
