"""Configuration of the auth service (environment prefix ``AUTH_``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from visitor_common.settings import ServiceSettings


class ServiceClient(BaseModel):
    """One internal caller allowed to obtain a service token (client-credentials style)."""

    secret: SecretStr
    scopes: list[str] = Field(default_factory=list)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_")  # the rest from the base

    service_name: str = "auth"
    http_port: int = 8001
    public_base_url: str = Field(
        "http://127.0.0.1:8001",
        description="Where browsers reach this service; the OAuth redirect URIs are built from it.",
    )
    link_redirect_base_url: str | None = Field(
        None,
        description="Base of the OAuth redirect URIs when the browser should come back to another "
        "front (the web pages, which forward to this service's callback); public_base_url when unset.",
    )

    # --- API sign-in (JWT) -------------------------------------------------------------------
    signing_key_pem: SecretStr | None = Field(
        None, description="PEM private key (Ed25519 preferred); generated at start when unset."
    )
    access_token_ttl_seconds: int = Field(900, ge=60)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=300)
    service_token_ttl_seconds: int = Field(900, ge=60)
    service_clients: dict[str, ServiceClient] = Field(
        default_factory=dict, description='JSON {client_id: {"secret": ..., "scopes": [...]}}.'
    )
    reception_token_ttl_seconds: int = Field(
        300,
        ge=60,
        le=900,
        description="Lifetime of a reception device's access token; a revoked device's last "
        "token works at most this long.",
    )
    reception_max_failures: int = Field(
        5, ge=1, description="Failed reception-token exchanges per client id or address before a lockout."
    )
    reception_lockout_seconds: float = Field(
        30.0, gt=0, description="First lockout after too many failures; doubles with each further one."
    )
    reception_max_lockout_seconds: float = Field(900.0, gt=0, description="Longest lockout.")
    sign_in_max_failures_per_account: int = Field(
        5,
        ge=1,
        description="Failed sign-ins for one tenant + e-mail (registered or not) before a lockout.",
    )
    sign_in_max_failures_per_address: int = Field(
        20, ge=1, description="Failed sign-ins from one client address before a lockout."
    )
    sign_in_lockout_seconds: float = Field(
        30.0, gt=0, description="First sign-in lockout; doubles with each further failure."
    )
    sign_in_max_lockout_seconds: float = Field(900.0, gt=0, description="Longest sign-in lockout.")
    operator_key: SecretStr | None = Field(
        None, description="Value of X-Operator-Key for /operator routes; the routes refuse when unset."
    )

    # --- refresh-token encryption at rest ----------------------------------------------------
    token_encryption_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="JSON {kid: base64 AES key (16/24/32 bytes)}."
    )
    token_encryption_active_kid: str | None = None

    # --- linking -------------------------------------------------------------------------------
    link_state_ttl_seconds: int = Field(600, ge=30)
    access_token_refresh_margin_seconds: int = Field(
        120, ge=0, description="A cached provider access token is renewed this long before it expires."
    )
    google_connector_url: str | None = Field(
        None, description="Base URL of the Google connector; unlinking asks it to release the holds first."
    )
    outlook_connector_url: str | None = Field(
        None, description="Base URL of the Outlook connector; unlinking asks it to release the holds first."
    )
    hold_release_timeout_seconds: float = Field(
        15.0,
        gt=0,
        description="How long an unlink waits for the connector to release the connection's holds "
        "before it revokes the grant anyway.",
    )
    provider_timeout_seconds: float = Field(10.0, gt=0)
    provider_ca_file: str | None = Field(None, description="Extra CA certificate (PEM) to trust.")

    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_certs_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    google_issuer: str = "https://accounts.google.com"
    google_scopes: list[str] = Field(
        default_factory=lambda: [
            "openid",
            "email",
            "https://www.googleapis.com/auth/calendar",
            "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
        ]
    )

    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr = SecretStr("")
    microsoft_authority_host: str = "https://login.microsoftonline.com"
    microsoft_tenant: str = "organizations"
    microsoft_graph_url: str = "https://graph.microsoft.com/v1.0"
    microsoft_scopes: list[str] = Field(
        default_factory=lambda: [
            "https://graph.microsoft.com/User.Read",
            "https://graph.microsoft.com/Calendars.ReadWrite",
            "https://graph.microsoft.com/Place.Read.All",
        ]
    )

    @field_validator("service_clients", "token_encryption_keys", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        # pydantic-settings already decodes JSON from the environment; this covers str passed in code.
        return json.loads(value) if isinstance(value, str) else value

    def redirect_uri(self, provider: str) -> str:
        base = self.link_redirect_base_url or self.public_base_url
        return f"{base.rstrip('/')}/v1/calendar-connections/{provider}/callback"

    @property
    def microsoft_authority(self) -> str:
        return f"{self.microsoft_authority_host.rstrip('/')}/{self.microsoft_tenant}"
