"""Configuration of the appointments service (environment prefix ``APPOINTMENTS_``)."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from visitor_common.sealing import MailSealSettings
from visitor_common.settings import ServiceSettings


class Settings(MailSealSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPOINTMENTS_")  # the rest from the base

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

    reception_wrong_codes_per_device: int = Field(
        5, ge=1, description="Wrong reception codes a device may try (within 15 minutes) before a lockout."
    )
    reception_wrong_codes_per_tenant: int = Field(
        20,
        ge=1,
        description="Wrong reception codes all of a tenant's devices together may try (within 15 "
        "minutes) before a lockout of the tenant's check-ins.",
    )
    reception_lockout_seconds: float = Field(
        30.0, gt=0, description="First check-in lockout after too many wrong codes; doubles with each next."
    )
    reception_lockout_max_seconds: float = Field(
        3600.0, gt=0, description="Longest check-in lockout (Retry-After) after too many wrong codes."
    )

    @model_validator(mode="after")
    def _absolute_link_for_mail(self) -> Self:
        # A mailed link must open from the guest's mailbox: with seal keys set (guest mails on),
        # the guest base URL has to be absolute.
        if self.mail_seal_keys and not urlsplit(self.guest_base_url).netloc:
            raise ValueError("guest_base_url must be an absolute URL when mail_seal_keys are set")
        return self
