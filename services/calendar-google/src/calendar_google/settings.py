"""Settings of the Google connector (environment prefix ``CALENDAR_GOOGLE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from calendar_sync.core import DriftPolicy
from visitor_common import topics
from visitor_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALENDAR_GOOGLE_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "calendar-google"
    http_port: int = Field(8003, description="HTTP port of the connector.")
    consumer_group: str = Field("calendar-google", description="Kafka consumer group of the connector.")
    create_topics: bool = Field(True, description="Create missing topics at start-up.")
    appointments_topic: str = Field(
        topics.GOOGLE_APPOINTMENTS,
        description="Topic of Google-bound appointments (override only to isolate tests).",
    )
    connections_topic: str = Field(
        topics.CONNECTIONS,
        description="Topic of calendar-connection events (override only to isolate tests).",
    )

    calendar_base_url: str = Field("https://www.googleapis.com", description="Google Calendar API v3 host.")
    directory_base_url: str = Field(
        "https://admin.googleapis.com", description="Admin SDK Directory API host."
    )
    provider_ca_file: Path | None = Field(
        None, description="Extra CA certificate to trust for the provider hosts (the emulator's CA)."
    )
    provider_timeout_seconds: float = Field(15.0, gt=0, description="Timeout of one Google API request.")

    auth_url: str = Field("http://127.0.0.1:8001", description="Base URL of the auth service's internal API.")
    service_client_id: str = Field("calendar-google", description="Service credential for the auth service.")
    service_client_secret: SecretStr = Field(SecretStr(""), description="Its secret (never logged).")

    retry_max_attempts: int = Field(6, ge=1, description="Calls per provider operation on 429/403-rate/5xx.")
    retry_base_seconds: float = Field(0.2, gt=0, description="Backoff base (full jitter, doubling).")
    retry_max_delay_seconds: float = Field(10.0, gt=0, description="Backoff ceiling.")
    retry_max_retry_after_seconds: float = Field(
        30.0,
        gt=0,
        description="A longer Retry-After is not slept in-line: the change goes to the retry topic.",
    )
    max_redeliveries: int = Field(5, ge=0, description="Retry-topic rounds before the dead-letter topic.")
    redelivery_base_seconds: float = Field(2.0, gt=0, description="First retry-topic delay (doubles).")
    redelivery_max_seconds: float = Field(60.0, gt=0, description="Ceiling of the retry-topic delay.")
    consumer_max_workers: int = Field(
        6, ge=1, le=64, description="Kafka consumers per topic in this process (partitions run in parallel)."
    )

    directory_cache_seconds: float = Field(300.0, ge=0, description="TTL of cached buildings and rooms.")

    public_base_url: str | None = Field(
        None,
        description="Base URL Google can reach; push channels post to "
        "{public_base_url}/notifications/google. Push is off while unset (polling remains).",
    )
    push_channel_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="Requested push channel lifetime."
    )
    push_renew_before_seconds: int = Field(
        3600, ge=1, description="Renew a channel this long before it expires."
    )
    drift_poll_seconds: float = Field(60.0, gt=0, description="Fallback drift poll interval.")
    drift_policy: DriftPolicy = Field(
        DriftPolicy.REPORT, description="Default drift policy: report or restore."
    )
    drift_restore_tenants: str = Field("", description="Comma-separated tenant ids whose policy is restore.")
    event_id_salt: str = Field("vs1", description="Namespace of the deterministic event ids.")

    def restore_tenants(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.drift_restore_tenants.split(",") if t.strip())

    def policy_for(self, tenant_id: str) -> DriftPolicy:
        return DriftPolicy.RESTORE if tenant_id in self.restore_tenants() else self.drift_policy
