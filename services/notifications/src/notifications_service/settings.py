"""Configuration of the notifications service (environment prefix ``NOTIFICATIONS_``)."""

from __future__ import annotations

from email.headerregistry import Address
from email.policy import default as default_policy
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from visitor_common.sealing import MailSealSettings
from visitor_common.settings import ServiceSettings


class Settings(MailSealSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_")  # the rest from the base

    service_name: str = Field("notifications", description="Service name (logs, Kafka client id).")
    http_port: int = Field(8006, description="HTTP port (health, readiness, OpenAPI).")
    consumer_group: str = Field(
        "notifications",
        description="Kafka consumer-group prefix (one group per topic: <prefix>.lifecycle, "
        "<prefix>.guest-messages).",
    )

    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, ge=1, le=65535, description="SMTP server port.")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        "none",
        description="none (local sink only), starttls (upgrade after connecting, usually port 587) or "
        "tls (implicit TLS, usually port 465).",
    )
    smtp_username: str | None = Field(None, description="SMTP user; no authentication when unset.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(15.0, gt=0, description="Timeout of one SMTP conversation.")
    mail_from: str = Field(
        "Visitor Scheduling <noreply@visitor-scheduling.local>",
        description='Sender of every mail ("Name <address>" or an address).',
    )
    display_timezone: str = Field("Asia/Tokyo", description="Time zone dates and times are written in.")

    send_attempts: int = Field(
        5, ge=1, le=20, description="SMTP attempts per mail before the event is dead-lettered."
    )
    retry_initial_seconds: float = Field(1.0, gt=0, description="First backoff between SMTP attempts.")
    retry_max_seconds: float = Field(30.0, gt=0, description="Longest backoff between SMTP attempts.")
    inflight_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a mail being sent is reserved for its sender; a crashed sender's "
        "reservation lapses after this and the mail is sent again.",
    )

    @field_validator("mail_from")
    @classmethod
    def _one_address(cls, value: str) -> str:
        header = default_policy.header_factory("From", value)
        addresses: tuple[Address, ...] = getattr(header, "addresses", ())
        if len(addresses) != 1 or "@" not in addresses[0].addr_spec:
            raise ValueError("must be one mail address, optionally with a display name")
        return value

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> Self:
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("smtp_username and smtp_password are set together or not at all")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)
