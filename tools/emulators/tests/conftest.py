"""Fixtures for the provider-emulator suite: real emulators over real HTTPS.

Google fixtures live here. MICROSOFT FIXTURES: the Microsoft helper owns
``conftest_microsoft.py`` next to this file; it is loaded below by path (``pytest_plugins`` is
not allowed in a non-root conftest), and every public name it defines (fixtures included)
becomes part of this conftest. Keep Microsoft fixtures out of this file.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from provider_emulators.core.client import tls_context
from provider_emulators.core.server import EmulatorServer
from provider_emulators.google.app import create_app as create_google_app
from provider_emulators.google.testing import (
    GoogleControl,
    PushReceiver,
    SeededWorld,
    seed_world,
)


def _load_microsoft_fixtures() -> None:
    path = Path(__file__).with_name("conftest_microsoft.py")
    if not path.exists():
        return
    spec = importlib.util.spec_from_file_location("emulators_conftest_microsoft", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # registered before execution so dataclasses and typing can resolve the module by name
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    globals().update({k: v for k, v in vars(module).items() if not k.startswith("_")})


_load_microsoft_fixtures()


@pytest.fixture(scope="session")
def emulator_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA for the whole session (shared by both providers' servers)."""
    return tmp_path_factory.mktemp("emulator-ca")


@pytest.fixture(scope="session")
def google_server(emulator_data_dir: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(app_factory=create_google_app, data_dir=emulator_data_dir) as server:
        yield server


@pytest.fixture
def google_control(google_server: EmulatorServer) -> Iterator[GoogleControl]:
    """The control API client; the emulator is reset before every test."""
    control = GoogleControl(google_server.base_url, google_server.ca_path)
    control.reset()
    yield control
    control.close()


@pytest.fixture
def google_world(google_control: GoogleControl) -> SeededWorld:
    return seed_world(google_control)


@pytest.fixture
def google_http(google_server: EmulatorServer) -> Iterator[httpx.Client]:
    """A plain client trusting the emulator CA; redirects are not followed."""
    with httpx.Client(
        base_url=google_server.base_url, verify=tls_context(google_server.ca_path), timeout=10
    ) as client:
        yield client


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    with PushReceiver.running() as receiver:
        yield receiver


@pytest.fixture
def google_api(
    google_server: EmulatorServer, google_control: GoogleControl, google_world: SeededWorld
) -> Iterator[Callable[..., httpx.Client]]:
    """``google_api(email, scopes=None)`` → an httpx client with a fresh bearer token for ``email``."""
    clients: list[httpx.Client] = []

    def make(email: str = "alice@example.com", scopes: list[str] | None = None) -> httpx.Client:
        token = google_control.mint_token(email, google_world.client_id, scopes)["access_token"]
        client = httpx.Client(
            base_url=google_server.base_url,
            verify=tls_context(google_server.ca_path),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
