"""The fault suite runs on a local Apache Kafka only: it stops and restarts the broker (which
cannot be done to someone else's), and Tansu keeps nothing across a restart."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from devstack.brokers import EXTERNAL_ENV, KIND_ENV, requested_kind
from devstack.kafka import kafka_unavailable_reason

# --import-mode=importlib does not put test directories on sys.path; faultkit must be importable.
sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: the fault suite (kills, broker restart, provider faults) on Apache Kafka"
    )


def apache_kafka_unavailable_reason() -> str | None:
    """Why the fault suite cannot run here, or None when it can."""
    if os.environ.get(EXTERNAL_ENV, "").strip():
        return (
            f"{EXTERNAL_ENV} is set: the fault suite restarts its broker, which it cannot do to "
            "someone else's"
        )
    if requested_kind() != "kafka":
        return (
            f"the fault suite runs on Apache Kafka only ({KIND_ENV}=kafka; make test sets it "
            "when java and mvn are on PATH)"
        )
    return kafka_unavailable_reason()


@pytest.fixture(autouse=True)
def _on_apache_kafka_only() -> None:
    reason = apache_kafka_unavailable_reason()
    if reason:
        pytest.skip(reason)
