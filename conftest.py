"""Root conftest: shared fixtures for every suite (real broker, emulators, stores)."""

from __future__ import annotations

import pytest

pytest_plugins = ["devstack.pytest_plugin"]

# Tests that use one of these fixtures talk to a real process over a socket; `make test-fast`
# leaves them out by marker, so the marks are derived here rather than remembered per test.
_BROKER_FIXTURES = frozenset({"kafka_bootstrap", "fresh_kafka"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _BROKER_FIXTURES:
            item.add_marker(pytest.mark.broker)
        if "/tests/integration/" in str(item.path) or "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.integration)
