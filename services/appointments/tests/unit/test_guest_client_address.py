"""Row 8: the guest limiter keys on the real client. Under uvicorn as ``serve`` runs it, a new
``X-Forwarded-For`` per request no longer buys a new allowance; behind a configured proxy each
real client gets its own."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from appointments_testkit import FakeDirectory, FakeGateway, Keys, unit_settings

from appointments_service.bootstrap import create_app
from visitor_common.runner import uvicorn_options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def guest_api(**settings: object) -> AsyncIterator[httpx.AsyncClient]:
    values = unit_settings(http_port=free_port(), guest_rate_limit_per_minute=3, **settings)
    app = create_app(values, verifier=Keys().verifier(), directory=FakeDirectory(), gateway=FakeGateway())
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(values)))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{values.http_port}") as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def statuses(client: httpx.AsyncClient, forwarded_for: list[str]) -> list[int]:
    out = []
    for i, address in enumerate(forwarded_for):
        # A different token each time, so only the per-address limit can apply.
        response = await client.get(
            f"/v1/guest/appointments/{'t' * 20}{i:04d}", headers={"X-Forwarded-For": address}
        )
        out.append(response.status_code)
    return out


async def test_a_new_forwarded_for_per_request_does_not_escape_the_limit() -> None:
    async with guest_api() as client:
        assert await statuses(client, [f"198.51.100.{i}" for i in range(4)]) == [404, 404, 404, 429]


async def test_behind_a_configured_proxy_each_real_client_has_its_own_allowance() -> None:
    async with guest_api(trusted_proxies="127.0.0.1") as client:
        assert await statuses(client, [f"198.51.100.{i}" for i in range(4)]) == [404] * 4
        assert await statuses(client, ["203.0.113.9"] * 4) == [404, 404, 404, 429]
