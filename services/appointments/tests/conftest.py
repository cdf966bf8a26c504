"""Fixtures of the appointments service's tests; the fakes live in ``appointments_testkit``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from appointments_testkit import (  # noqa: E402
    Clock,
    FakeDirectory,
    FakeGateway,
    Harness,
    Keys,
    unit_settings,
)

from appointments_service.bootstrap import create_app  # noqa: E402
from appointments_service.settings import Settings  # noqa: E402


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def make_harness(keys: Keys) -> Callable[..., Any]:
    """Build an app on fakes; use as ``async with make_harness(...) as h``."""

    @asynccontextmanager
    async def build(settings: Settings | None = None, **overrides: Any) -> AsyncIterator[Harness]:
        directory = overrides.pop("directory", FakeDirectory())
        gateway = overrides.pop("gateway", FakeGateway())
        clock = overrides.pop("clock", Clock())
        app = create_app(
            settings or unit_settings(),
            verifier=keys.verifier(),
            directory=directory,
            gateway=gateway,
            clock=clock,
            **overrides,
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            yield Harness(app, client, keys, directory, gateway, clock)

    return build


@pytest.fixture
async def h(make_harness: Callable[..., Any]) -> AsyncIterator[Harness]:
    async with make_harness() as harness:
        yield harness
