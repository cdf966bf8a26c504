"""Which Kafka-protocol broker a run uses, decided here and nowhere else.

The local stack (``make run``), the end-to-end tests and the broker fixtures all ask
:func:`run_broker`, which picks, in this order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` set: that broker, run by someone else (never started or stopped
   here), with idempotent producers on. Any Kafka 4.x broker will do.
2. ``VISITOR_BROKER=kafka``: Apache Kafka started here from Maven Central jars
   (:mod:`devstack.kafka`; needs ``java`` and ``mvn``). ``make test`` sets it for the end-to-end
   suite when both are on PATH. Idempotent producers on.
3. Otherwise (``VISITOR_BROKER`` unset or ``tansu``): Tansu, in memory, the zero-install default.
   Idempotent producers off (Tansu rejects InitProducerId).

Tests that stop and restart their broker cannot do that to someone else's, so
:func:`local_broker` skips step 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from devstack.kafka import KafkaBroker, kafka_unavailable_reason
from devstack.tansu import TansuBroker, wait_for_port

EXTERNAL_ENV = "KAFKA_BOOTSTRAP_SERVERS"
KIND_ENV = "VISITOR_BROKER"
KINDS = ("tansu", "kafka")


class BrokerUnavailable(RuntimeError):
    """The requested broker cannot run on this machine; the message says why."""


class Broker(Protocol):
    """What the stack and the fixtures need of a broker, whichever kind it is."""

    kind: str
    idempotent: bool  # whether producers may use enable_idempotence

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def start(self) -> Broker: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self) -> Broker: ...

    def close(self) -> None: ...


class ExternalBroker:
    """A broker someone else runs: this process only connects to it."""

    kind = "external"
    idempotent = True

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap_servers = bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap_servers

    @property
    def pid(self) -> int | None:
        return None

    def start(self) -> ExternalBroker:
        """Fail fast, with the address, when nothing listens there."""
        host, _, port = self._bootstrap_servers.split(",")[0].strip().rpartition(":")
        try:
            wait_for_port(host, int(port), timeout=10.0)
        except TimeoutError as error:  # a mistake to report, not a reason to skip
            raise RuntimeError(f"{EXTERNAL_ENV}={self._bootstrap_servers}: {error}") from error
        return self

    def stop(self) -> None:
        return None

    def kill(self) -> None:
        raise RuntimeError("cannot kill a broker someone else runs")

    def restart(self) -> ExternalBroker:
        raise RuntimeError("cannot restart a broker someone else runs")

    def close(self) -> None:
        return None


def requested_kind() -> str:
    """``VISITOR_BROKER``: ``tansu`` (default) or ``kafka``."""
    kind = os.environ.get(KIND_ENV, "").strip().lower() or "tansu"
    if kind not in KINDS:
        raise ValueError(f"{KIND_ENV}={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def local_broker(port: int = 0, data_dir: Path | None = None) -> Broker:
    """A broker started (and stoppable) by this process: Apache Kafka when ``VISITOR_BROKER=kafka``,
    else Tansu. ``data_dir`` is where Kafka keeps its data (a temporary dir when None)."""
    if requested_kind() == "kafka":
        reason = kafka_unavailable_reason()
        if reason:
            raise BrokerUnavailable(f"{KIND_ENV}=kafka: {reason}")
        return KafkaBroker(port=port, data_dir=data_dir)
    return TansuBroker(port=port)


def run_broker(port: int = 0, data_dir: Path | None = None) -> Broker:
    """The broker for this run (not started yet): the external one, else :func:`local_broker`."""
    external = os.environ.get(EXTERNAL_ENV, "").strip()
    if external:
        return ExternalBroker(external)
    return local_broker(port, data_dir)
