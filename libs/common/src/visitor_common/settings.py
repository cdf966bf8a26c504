"""Settings shared by every service, read from the environment with one prefix per service.

A service subclasses :class:`ServiceSettings` and sets ``env_prefix`` (``APPOINTMENTS_``,
``AUTH_``, ``CALENDAR_GOOGLE_``, ``CALENDAR_OUTLOOK_``), so one shell can hold the whole stack's
configuration without collisions.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base of every service's settings."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    service_name: str = Field("service", description="Name in logs, client ids and event sources.")
    http_host: str = Field("127.0.0.1", description="Interface the HTTP API listens on.")
    http_port: int = Field(8000, description="Port of the HTTP API.")
    log_level: str = Field("INFO", description="Root log level (JSON logs, secrets redacted).")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap host:port list.")
    kafka_idempotent_producer: bool = Field(
        True, description="Idempotent producer: true for Apache Kafka, false for Tansu (local)."
    )
    kafka_partitions: int = Field(6, ge=1, description="Partitions of the topics the service creates.")
    kafka_request_timeout_ms: int = Field(
        10_000,
        ge=1000,
        description="How long a publish may wait for the broker before it fails (the outbox "
        "then keeps the event and retries; a failed send is never delivered later).",
    )
    kafka_session_timeout_ms: int = Field(
        10_000,
        ge=1000,
        description="Consumer-group session timeout: how long a silent member keeps its partitions "
        "(on Tansu, group joins also wait about half of it).",
    )
    kafka_heartbeat_interval_ms: int = Field(
        1_000, ge=100, description="Consumer heartbeat interval; below a third of the session timeout."
    )
    kafka_fetch_max_wait_ms: int = Field(
        500,
        ge=1,
        le=10_000,
        description="How long an idle consumer's fetch waits for data (aiokafka's default): the "
        "consumers off the hot path (retries, connections).",
    )
    kafka_hot_fetch_max_wait_ms: int = Field(
        10,
        ge=1,
        le=10_000,
        description="The same for the consumers on the confirmation path (the connectors' appointment "
        "topics, the appointments service's sync status): a short wait delivers a record sooner when "
        "the broker does not answer a parked fetch on arrival (Tansu); each idle consumer then asks "
        "about this often, so it is kept to those few groups.",
    )
    kafka_enabled: bool = Field(
        True,
        description="Connect to Kafka at start-up: consumers, publishers and the outbox relay (off "
        "only for HTTP-only tests; events then stay in the outbox).",
    )
    create_topics: bool = Field(True, description="Create missing topics at start-up.")
    outbox_poll_seconds: float = Field(
        1.0, gt=0, description="How often the outbox relay looks for unsent events without being woken."
    )
    mongodb_uri: SecretStr | None = Field(
        None, description="MongoDB connection string; the in-memory store is used when unset."
    )
    mongodb_database: str = Field("visitor_scheduling", description="MongoDB database name.")
    sqlite_path: Path | None = Field(
        None,
        description="SQLite file of the durable embedded store, used when no MongoDB URI is set "
        "(`make run` sets one per service under its state dir); in memory when both are unset.",
    )
    jwt_issuer: str = Field("visitor-scheduling-auth", description="Expected `iss` of access tokens.")
    jwt_audience: str = Field("visitor-scheduling", description="Expected `aud` of access tokens.")
    jwks_url: str | None = Field(None, description="Where the auth service publishes its JWKS.")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDR ranges of the reverse proxies (ingress) "
        "whose X-Forwarded-For / X-Forwarded-Proto are believed; empty: none, the peer address "
        "is the client (rate limits key on it).",
    )

    @property
    def event_source(self) -> str:
        """CloudEvents ``source`` of everything this service emits: ``/services/<service_name>``."""
        return f"/services/{self.service_name}"

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in _entries(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as error:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range") from error
        return ",".join(_entries(value))

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _entries(self.trusted_proxies)

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> Self:
        if self.kafka_heartbeat_interval_ms * 3 > self.kafka_session_timeout_ms:
            raise ValueError(
                "kafka_heartbeat_interval_ms must be at most a third of kafka_session_timeout_ms "
                f"(got {self.kafka_heartbeat_interval_ms} and {self.kafka_session_timeout_ms})"
            )
        return self


def _entries(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
