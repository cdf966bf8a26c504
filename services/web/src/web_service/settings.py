"""Configuration of the web front (environment prefix ``WEB_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from visitor_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_")  # the rest from the base

    service_name: str = Field("web", description="Service name (logs).")
    http_port: int = Field(8005, description="HTTP port of the pages.")
    kafka_enabled: bool = Field(False, description="The web front has no broker of its own; keep false.")
    create_topics: bool = Field(False, description="The web front creates no topics.")
    public_base_url: str = Field(
        "http://127.0.0.1:8005",
        description="Where browsers reach the pages; cookies are Secure when it is https. Give this "
        "as APPOINTMENTS_GUEST_BASE_URL (+ /g) and AUTH_LINK_REDIRECT_BASE_URL.",
    )
    auth_url: str = Field("http://127.0.0.1:8001", description="Base URL of the auth service's API.")
    appointments_url: str = Field("http://127.0.0.1:8002", description="Base URL of the appointments API.")
    google_connector_url: str = Field("http://127.0.0.1:8003", description="Base URL of calendar-google.")
    outlook_connector_url: str = Field("http://127.0.0.1:8004", description="Base URL of calendar-outlook.")
    http_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of calls to the services' APIs.")
    session_keys: list[SecretStr] = Field(
        default_factory=list,
        description="JSON list of Fernet keys sealing the session cookie, newest first (older ones "
        "still open cookies during a rotation); a throwaway key is generated when empty.",
    )
    session_ttl_seconds: int = Field(
        8 * 3600, ge=300, description="A session cookie older than this is ignored (sign in again)."
    )
    default_time_zone: str = Field("Asia/Tokyo", description="Time zone pages show times in by default.")

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.startswith("https://")
