"""Settings of the Outlook connector (environment prefix ``CALENDAR_OUTLOOK_``); the shared ones
are in ``calendar_sync.engine.settings.ConnectorSettings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from calendar_sync.engine.settings import ConnectorSettings

MINUTE = 60


class Settings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="CALENDAR_OUTLOOK_")  # the rest from the base

    service_name: str = "calendar-outlook"
    http_port: int = Field(8004, description="HTTP port of the connector.")
    provider_timeout_seconds: float = Field(20.0, gt=0, description="Timeout of one Graph request.")
    retry_max_delay_seconds: float = Field(5.0, gt=0, description="Backoff ceiling.")
    push_channel_ttl_seconds: int = Field(
        4200 * MINUTE,
        ge=5 * MINUTE,
        le=10070 * MINUTE,
        description="Requested subscription lifetime (Graph allows at most 10070 minutes for events).",
    )
    drift_poll_seconds: float = Field(300.0, gt=0, description="Fallback drift poll interval per connection.")

    graph_base_url: str = Field(
        "https://graph.microsoft.com", description="Microsoft Graph root (the emulator's base URL in tests)."
    )
    mailbox_concurrency: int = Field(
        4, ge=1, le=4, description="Outlook allows 4 requests in flight per mailbox."
    )
    drift_window_days: int = Field(
        60, ge=1, le=365, description="How many days ahead the delta sync (drift) window reaches."
    )
