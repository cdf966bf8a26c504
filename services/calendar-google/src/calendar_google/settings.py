"""Settings of the Google connector (environment prefix ``CALENDAR_GOOGLE_``); the shared ones
are in ``calendar_sync.engine.settings.ConnectorSettings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from calendar_sync.engine.settings import ConnectorSettings


class Settings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="CALENDAR_GOOGLE_")  # the rest from the base

    service_name: str = "calendar-google"
    http_port: int = Field(8003, description="HTTP port of the connector.")
    provider_timeout_seconds: float = Field(15.0, gt=0, description="Timeout of one Google API request.")

    calendar_base_url: str = Field("https://www.googleapis.com", description="Google Calendar API v3 host.")
    directory_base_url: str = Field(
        "https://admin.googleapis.com", description="Admin SDK Directory API host."
    )
    event_id_salt: str = Field("vs1", description="Namespace of the deterministic event ids.")
