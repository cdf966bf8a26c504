"""Configuration of the appointments service (environment prefix ``APPOINTMENTS_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from visitor_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPOINTMENTS_", env_nested_delimiter="__", extra="ignore")

    service_name: str = Field("appointments", description="Service name (logs, Kafka client id).")
    http_port: int = Field(8002, description="HTTP port of the API.")

    auth_url: str = Field("http://127.0.0.1:8001", description="Base URL of the auth service (internal API).")
    service_client_id: str = Field("appointments", description="Client id for the auth service-token grant.")
    service_client_secret: SecretStr = Field(
        SecretStr(""), description="Client secret for the auth service-token grant."
    )
    google_connector_url: str = Field("http://127.0.0.1:8003", description="Base URL of calendar-google.")
    outlook_connector_url: str = Field("http://127.0.0.1:8004", description="Base URL of calendar-outlook.")
    http_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of calls to auth and connectors.")

    guest_link_ttl_hours: float = Field(
        14 * 24, gt=0, description="Guest links expire after this, or when the last candidate starts."
    )
    guest_rate_limit_per_minute: int = Field(
        30, ge=1, description="Requests per minute allowed per guest token and per client IP."
    )
    reception_code_attempts: int = Field(20, ge=1, description="Retries when a drawn code is taken.")

    guest_base_url: str = Field(
        "/v1/guest/appointments",
        description="Base of the guest scheduling URL (the public scheduling page); the token is "
        "appended as the last segment.",
    )
