"""Fixtures for the Microsoft emulator suite (loaded by ``conftest.py``).

One HTTPS server per session, reset before each test; a seeded world; a notification receiver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from provider_emulators.core.client import tls_context
from provider_emulators.core.server import EmulatorServer
from provider_emulators.microsoft.app import create_app as create_microsoft_app
from provider_emulators.microsoft.testing import (
    MS_SCOPES,
    GraphReceiver,
    MicrosoftControl,
    MsWorld,
    obtain_tokens,
    seed_ms_world,
    start_receiver,
)


@pytest.fixture(scope="session")
def ms_server(emulator_data_dir: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(app_factory=create_microsoft_app, data_dir=emulator_data_dir) as server:
        yield server


@pytest.fixture
def ms_control(ms_server: EmulatorServer) -> Iterator[MicrosoftControl]:
    control = MicrosoftControl(ms_server.base_url, ms_server.ca_path)
    control.reset()
    yield control
    control.close()


@pytest.fixture
def ms_http(ms_server: EmulatorServer) -> Iterator[httpx.Client]:
    """A client trusting the emulator CA; redirects are not followed."""
    with httpx.Client(
        base_url=ms_server.base_url, verify=tls_context(ms_server.ca_path), timeout=15
    ) as client:
        yield client


@pytest.fixture
def ms_world(ms_control: MicrosoftControl) -> MsWorld:
    return seed_ms_world(ms_control)


@pytest.fixture
def ms_graph(
    ms_server: EmulatorServer, ms_http: httpx.Client, ms_world: MsWorld
) -> Iterator[Callable[..., httpx.Client]]:
    """``ms_graph(account)`` → an httpx client for ``/v1.0`` authenticated as ``account``."""
    clients: list[httpx.Client] = []

    def make(account: str | None = None, scope: str = MS_SCOPES) -> httpx.Client:
        tokens = obtain_tokens(ms_http, ms_world, account or ms_world.host, scope)
        client = httpx.Client(
            base_url=f"{ms_server.base_url}/v1.0",
            verify=tls_context(ms_server.ca_path),
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=15,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def ms_receiver() -> Iterator[GraphReceiver]:
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()
