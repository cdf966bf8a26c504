"""Running the requests of a batch call through the emulator's own app, one after another, as
if each had come on its own: every middleware (counting, per-mailbox limits, injected faults) and
every route sees it, so a batched write behaves exactly as the same write sent alone."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp


@dataclass(frozen=True)
class InnerAnswer:
    status: int
    headers: list[tuple[str, str]]
    content: bytes


async def run_inside(
    app: ASGIApp, base_url: str, method: str, target: str, headers: dict[str, str], content: bytes
) -> InnerAnswer:
    """``method target`` (a path with its query) on ``app``, answered in process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        response = await client.request(method, target, headers=headers, content=content)
    return InnerAnswer(response.status_code, list(response.headers.multi_items()), response.content)
