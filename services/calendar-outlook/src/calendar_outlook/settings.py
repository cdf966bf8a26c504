"""Settings of the Outlook connector (environment prefix ``CALENDAR_OUTLOOK_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from visitor_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALENDAR_OUTLOOK_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "calendar-outlook"
    http_port: int = 8004
    consumer_group: str = "calendar-outlook"

    graph_base_url: str = Field(
        "https://graph.microsoft.com", description="Microsoft Graph root (the emulator's base URL in tests)."
    )
    provider_ca_file: Path | None = Field(
        None, description="Extra CA bundle to trust for Graph (the emulator's generated CA)."
    )
    graph_timeout_seconds: float = Field(20.0, gt=0)
    mailbox_concurrency: int = Field(
        4, ge=1, le=4, description="Outlook allows 4 requests in flight per mailbox."
    )
    graph_max_attempts: int = Field(
        6, ge=1, description="Attempts per Graph call on 429/5xx before giving up."
    )
    graph_max_retry_after_seconds: float = Field(
        30.0,
        gt=0,
        description="A longer Retry-After is not slept in-line: the change goes to the retry topic.",
    )
    graph_backoff_base_seconds: float = Field(0.2, gt=0)

    auth_url: str = Field("http://127.0.0.1:8001", description="Base URL of the auth service's internal API.")
    service_client_id: str = "calendar-outlook"
    service_client_secret: SecretStr = SecretStr("")

    public_base_url: str | None = Field(
        None,
        description="Public HTTPS base URL of this service; Graph posts change notifications to "
        "{public_base_url}/notifications/outlook. Push drift detection is off while unset.",
    )
    subscription_lifetime_minutes: int = Field(4200, ge=5, le=10070)
    subscription_renew_margin_minutes: int = Field(60, ge=1)
    drift_poll_seconds: float = Field(300.0, gt=0, description="Fallback drift poll interval per connection.")
    drift_policy: str = Field("report", pattern="^(report|restore)$")
    drift_window_days: int = Field(60, ge=1, le=365)
    drift_push_enabled: bool = Field(True, description="Use Graph subscriptions when public_base_url is set.")
    consumer_max_workers: int = Field(8, ge=1, le=64, description="Records handled concurrently.")
    max_redeliveries: int = Field(5, ge=0, description="Retry-topic rounds before the dead-letter topic.")
    redelivery_base_seconds: float = Field(2.0, gt=0)
