"""Settings both connectors share, under one set of names.

Each connector's ``Settings`` subclasses :class:`ConnectorSettings`, sets its ``env_prefix``
(``CALENDAR_GOOGLE_`` / ``CALENDAR_OUTLOOK_``) and adds only its own settings (provider base
URLs and the like); where the two want a different default it redeclares the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from calendar_sync.core.drift import DriftPolicy
from calendar_sync.engine.consumer import RedeliveryPolicy
from calendar_sync.engine.retry import RetryPolicy
from visitor_common import topics
from visitor_common.settings import ServiceSettings


class ConnectorSettings(ServiceSettings):
    appointments_topic: str | None = Field(
        None,
        description="Topic of this provider's appointments; unset = the registry's topic for the "
        "provider (override only to isolate tests).",
    )
    connections_topic: str = Field(
        topics.CONNECTIONS,
        description="Topic of calendar-connection events (override only to isolate tests).",
    )
    consumer_group: str = Field(
        "", description="Kafka consumer group of the connector (unset: the service name)."
    )
    consumer_max_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Kafka consumers of the appointments topic in this process (partitions run in "
        "parallel, each in order; the retry topic has one).",
    )

    provider_ca_file: Path | None = Field(
        None, description="Extra CA certificate to trust for the provider hosts (the emulator's CA)."
    )
    provider_timeout_seconds: float = Field(15.0, gt=0, description="Timeout of one provider API request.")
    provider_batch_writes: bool = Field(
        True,
        description="Send the event writes issued together (a confirmation's releases and patch) as "
        "one batch request (Google's batch endpoint, Graph's $batch); off: each write on its own.",
    )

    auth_url: str = Field("http://127.0.0.1:8001", description="Base URL of the auth service's internal API.")
    service_client_id: str = Field(
        "", description="Service credential for the auth service (unset: the service name)."
    )
    service_client_secret: SecretStr = Field(SecretStr(""), description="Its secret (never logged).")

    retry_max_attempts: int = Field(6, ge=1, description="Calls per provider operation on 429/5xx.")
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

    notification_rate_limit_per_minute: int = Field(
        600,
        ge=0,
        description="Requests to the public notification endpoint per client address per minute "
        "(then 429 with Retry-After; in-process, per replica); 0: unlimited.",
    )
    directory_cache_seconds: float = Field(300.0, ge=0, description="TTL of cached room groups and rooms.")

    public_base_url: str | None = Field(
        None,
        description="Base URL the provider can reach; push notifications are posted to "
        "{public_base_url}/notifications/<provider>. Push is off while unset (polling remains).",
    )
    drift_push_enabled: bool = Field(True, description="Use push channels when public_base_url is set.")
    push_channel_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="Requested push channel lifetime."
    )
    push_renew_before_seconds: int = Field(
        3600, ge=1, description="Renew a channel this long before it expires."
    )
    drift_poll_seconds: float = Field(
        60.0,
        gt=0,
        description="Drift poll interval of a connection whose push channel is missing or failing.",
    )
    drift_healthy_poll_seconds: float = Field(
        6 * 3600.0, gt=0, description="Drift poll interval of a connection whose push channel is live."
    )
    drift_poll_concurrency: int = Field(
        4, ge=1, le=64, description="Drift polls running at once per instance."
    )
    drift_debounce_seconds: float = Field(
        0.2, ge=0, description="Coalesce a connection's notifications for this long before syncing it."
    )
    drift_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="An instance that stopped heartbeating this long loses its connections to the others.",
    )
    drift_rebalance_seconds: float = Field(
        300.0, gt=0, description="Re-read every connection's owner at least this often."
    )
    drift_instance_id: str | None = Field(
        None, description="This instance's id among the connector's instances; unset = a random one."
    )
    drift_policy: DriftPolicy = Field(
        DriftPolicy.REPORT, description="Default drift policy: report or restore."
    )
    drift_restore_tenants: str = Field("", description="Comma-separated tenant ids whose policy is restore.")

    @model_validator(mode="after")
    def _names_follow_the_service(self) -> Self:
        # One name per connector: its consumer group and its service credential default to it.
        self.consumer_group = self.consumer_group or self.service_name
        self.service_client_id = self.service_client_id or self.service_name
        return self

    def restore_tenants(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.drift_restore_tenants.split(",") if t.strip())

    def policy_for(self, tenant_id: str) -> DriftPolicy:
        return DriftPolicy.RESTORE if tenant_id in self.restore_tenants() else self.drift_policy

    def push_address(self, path: str) -> str | None:
        """Where the provider posts notifications (``path`` under the public base URL), or
        None while push is off."""
        if not self.public_base_url or not self.drift_push_enabled:
            return None
        return self.public_base_url.rstrip("/") + path

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.retry_max_attempts,
            base_delay=self.retry_base_seconds,
            max_delay=self.retry_max_delay_seconds,
            max_retry_after=self.retry_max_retry_after_seconds,
        )

    def redelivery_policy(self) -> RedeliveryPolicy:
        return RedeliveryPolicy(
            max_redeliveries=self.max_redeliveries,
            base_delay=self.redelivery_base_seconds,
            max_delay=self.redelivery_max_seconds,
        )
