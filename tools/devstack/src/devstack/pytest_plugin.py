"""Fixtures shared by every test suite (loaded from the root conftest.py).

- ``kafka_broker``: the broker for this run, for the whole session (``devstack.brokers.run_broker``:
  ``KAFKA_BOOTSTRAP_SERVERS``, else Apache Kafka when ``VISITOR_BROKER=kafka``, else Tansu);
  ``kafka_bootstrap``: its "host:port".
- ``fresh_kafka``: a broker of its own for tests that stop and restart it (never an external
  one: Apache Kafka when ``VISITOR_BROKER=kafka``, else Tansu).
- ``apache_kafka``: a real Apache Kafka for tests that need what only it does (durable topics,
  idempotent producers): the external broker if set, else one started here; skipped, with the
  reason, without a JDK and Maven.
- ``store``: every document-store adapter in turn (the contract suites run on each);
  ``mongodb_uri``: MONGODB_URI, a testcontainers MongoDB, or a skip that says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from devstack.brokers import EXTERNAL_ENV, Broker, BrokerUnavailable, ExternalBroker, local_broker, run_broker
from devstack.kafka import KafkaBroker, kafka_unavailable_reason
from visitor_common.persistence import DocumentStore, InMemoryDocumentStore


def pytest_report_header() -> str:
    """Which broker this run uses, on the first lines of every test run (and CI log)."""
    try:
        broker = run_broker()
    except (BrokerUnavailable, ValueError) as error:
        return f"broker: none ({error})"
    idempotence = "on" if broker.idempotent else "off"
    where = broker.bootstrap_servers if isinstance(broker, ExternalBroker) else "started by the fixtures"
    return f"broker: {broker.kind} ({where}; idempotent producers {idempotence})"


def _broker(choose: Callable[[], Broker]) -> Broker:
    """The broker ``choose`` picks, started; a skip that says why if it cannot run here."""
    try:
        return choose().start()
    except BrokerUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    broker = _broker(run_broker)
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def fresh_kafka() -> Iterator[Broker]:
    broker = _broker(local_broker)
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    def choose() -> Broker:
        external = os.environ.get(EXTERNAL_ENV, "").strip()
        if external:
            return ExternalBroker(external)
        reason = kafka_unavailable_reason()
        if reason:
            raise BrokerUnavailable(reason)
        return KafkaBroker(data_dir=tmp_path_factory.mktemp("apache-kafka"))

    broker = _broker(choose)
    try:
        yield broker
    finally:
        broker.close()


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
