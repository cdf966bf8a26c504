"""How every service runs uvicorn: on uvloop with httptools, and forwarding headers are believed
from configured proxies only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from pydantic import ValidationError

from visitor_common.runner import uvicorn_options
from visitor_common.settings import ServiceSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str | None]:
        return {"client": request.client.host if request.client else None, "scheme": request.url.scheme}

    return app


@asynccontextmanager
async def serving(settings: ServiceSettings) -> AsyncIterator[str]:
    """The app under a real uvicorn, started with the options ``serve`` uses."""
    server = uvicorn.Server(uvicorn.Config(echo_app(), **uvicorn_options(settings)))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://{settings.http_host}:{settings.http_port}"
    finally:
        server.should_exit = True
        await task


async def who(base: str, forwarded_for: str) -> dict[str, str]:
    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}
    async with httpx.AsyncClient(base_url=base) as client:
        body: dict[str, str] = (await client.get("/who", headers=headers)).json()
        return body


async def test_by_default_no_proxy_is_trusted_not_even_loopback() -> None:
    async with serving(ServiceSettings(http_port=free_port())) as base:
        assert await who(base, "203.0.113.7") == {"client": "127.0.0.1", "scheme": "http"}


@pytest.mark.parametrize("trusted", ["127.0.0.1", "10.0.0.0/8, 127.0.0.0/8"])
async def test_a_configured_proxy_passes_the_real_client_on(trusted: str) -> None:
    async with serving(ServiceSettings(http_port=free_port(), trusted_proxies=trusted)) as base:
        assert await who(base, "203.0.113.7") == {"client": "203.0.113.7", "scheme": "https"}


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    async with serving(ServiceSettings(http_port=free_port(), trusted_proxies="10.1.0.0/16")) as base:
        assert (await who(base, "203.0.113.7"))["client"] == "127.0.0.1"


def test_services_run_on_uvloop_and_parse_http_with_httptools() -> None:
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    config = uvicorn.Config(echo_app(), **uvicorn_options(ServiceSettings()))
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_trusted_proxies_must_be_addresses_or_ranges() -> None:
    assert ServiceSettings(trusted_proxies=" 10.0.0.0/8 ,fd00::/8,").trusted_proxy_list == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    with pytest.raises(ValidationError, match="not an IP address"):
        ServiceSettings(trusted_proxies="10.0.0.0/8,ingress.local")
    assert uvicorn_options(ServiceSettings())["proxy_headers"] is False
