"""Fixtures shared by every test suite (loaded from the root conftest.py).

- ``kafka_bootstrap``: a real Tansu broker for the whole session ("host:port").
- ``fresh_kafka``: a broker of its own for tests that stop and restart it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.tansu import TansuBroker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with TansuBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def fresh_kafka() -> Iterator[TansuBroker]:
    broker = TansuBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
