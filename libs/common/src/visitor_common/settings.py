"""Settings shared by every service, read from the environment with one prefix per service.

A service subclasses :class:`ServiceSettings` and sets ``env_prefix`` (``APPOINTMENTS_``,
``AUTH_``, ``CALENDAR_GOOGLE_``, ``CALENDAR_OUTLOOK_``), so one shell can hold the whole stack's
configuration without collisions.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base of every service's settings."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    service_name: str = "service"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_idempotent_producer: bool = True
    kafka_partitions: int = Field(6, ge=1)
    kafka_request_timeout_ms: int = Field(
        10_000,
        ge=1000,
        description="How long a publish may wait for the broker before it fails (the outbox "
        "then keeps the event and retries; a failed send is never delivered later).",
    )
    mongodb_uri: SecretStr | None = Field(
        None, description="MongoDB connection string; the in-memory store is used when unset."
    )
    mongodb_database: str = "visitor_scheduling"
    jwt_issuer: str = "visitor-scheduling-auth"
    jwt_audience: str = "visitor-scheduling"
    jwks_url: str | None = Field(None, description="Where the auth service publishes its JWKS.")
