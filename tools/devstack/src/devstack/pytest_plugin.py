"""Fixtures shared by every test suite (loaded from the root conftest.py).

- ``kafka_bootstrap``: a real Tansu broker for the whole session ("host:port").
- ``fresh_kafka``: a broker of its own for tests that stop and restart it.
- ``store``: every document-store adapter in turn (the contract suites run on each);
  ``mongodb_uri``: MONGODB_URI, a testcontainers MongoDB, or a skip that says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack.tansu import TansuBroker
from visitor_common.persistence import DocumentStore, InMemoryDocumentStore


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


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    return result.returncode == 0


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """A MongoDB to test against: MONGODB_URI, else a testcontainers one, else skip with why."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    if not _docker_available():
        pytest.skip(
            "MongoDB contract run skipped: MONGODB_URI is not set and no Docker engine answers "
            "(no MongoDB server can be installed on this machine); the in-memory and SQLite runs "
            "still cover the contract"
        )
    from testcontainers.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:8.0") as container:
        yield container.get_connection_url()


@pytest.fixture(params=["memory", "sqlite", pytest.param("mongodb", marks=pytest.mark.mongodb)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    if request.param == "memory":
        yield InMemoryDocumentStore()
        return
    if request.param == "sqlite":
        from visitor_common.persistence.sqlite import SqliteDocumentStore

        sqlite = SqliteDocumentStore(tmp_path / "store.sqlite3")
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    from visitor_common.persistence.mongo import MongoDocumentStore

    uri = request.getfixturevalue("mongodb_uri")
    mongo = MongoDocumentStore(uri, f"contract_{uuid.uuid4().hex[:8]}")
    try:
        yield mongo
    finally:
        await mongo.close()
