"""Fixtures for the library's own tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from visitor_common.persistence import DocumentStore, InMemoryDocumentStore


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
            "(no MongoDB server can be installed on this machine); the in-memory run still covers "
            "the contract"
        )
    from testcontainers.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:8.0") as container:
        yield container.get_connection_url()


@pytest.fixture(params=["memory", pytest.param("mongodb", marks=pytest.mark.mongodb)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[DocumentStore]:
    if request.param == "memory":
        yield InMemoryDocumentStore()
        return
    from visitor_common.persistence.mongo import MongoDocumentStore

    uri = request.getfixturevalue("mongodb_uri")
    mongo = MongoDocumentStore(uri, f"contract_{uuid.uuid4().hex[:8]}")
    try:
        yield mongo
    finally:
        await mongo.close()
