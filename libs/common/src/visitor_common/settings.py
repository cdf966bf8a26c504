"""Settings shared by every service, read from the environment with one prefix per service.

A service subclasses :class:`ServiceSettings` and sets ``env_prefix`` (``APPOINTMENTS_``,
``AUTH_``, ``CALENDAR_GOOGLE_``, ``CALENDAR_OUTLOOK_``), so one shell can hold the whole stack's
configuration without collisions.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """How a service reaches the Kafka-protocol broker."""

    model_config = SettingsConfigDict(extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    idempotent_producer: bool = Field(
        True,
        description="Enable the idempotent producer. On for Apache Kafka; off for Tansu, "
        "which rejects InitProducerId.",
    )
    client_id_prefix: str = "visitor-scheduling"
    partitions: int = Field(6, ge=1, description="Partitions of topics this service creates.")


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
    mongodb_uri: SecretStr | None = Field(
        None, description="MongoDB connection string; the in-memory store is used when unset."
    )
    mongodb_database: str = "visitor_scheduling"
    jwt_issuer: str = "visitor-scheduling-auth"
    jwt_audience: str = "visitor-scheduling"
    jwks_url: str | None = Field(None, description="Where the auth service publishes its JWKS.")

    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.kafka_bootstrap_servers,
            idempotent_producer=self.kafka_idempotent_producer,
            client_id_prefix=self.service_name,
            partitions=self.kafka_partitions,
        )
