"""The Outlook connector reads the shared connector settings under their one set of names."""

from __future__ import annotations

import pytest

from calendar_outlook.settings import Settings
from calendar_sync.core.drift import DriftPolicy
from calendar_sync.engine.settings import ConnectorSettings


def test_shared_settings_use_the_connector_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "RETRY_MAX_ATTEMPTS": "3",
        "RETRY_BASE_SECONDS": "0.5",
        "RETRY_MAX_RETRY_AFTER_SECONDS": "12",
        "PROVIDER_TIMEOUT_SECONDS": "7",
        "PUSH_CHANNEL_TTL_SECONDS": "3600",
        "PUSH_RENEW_BEFORE_SECONDS": "600",
        "DRIFT_RESTORE_TENANTS": "t1",
        "PUBLIC_BASE_URL": "https://outlook.example/",
    }.items():
        monkeypatch.setenv(f"CALENDAR_OUTLOOK_{name}", value)
    settings = Settings()
    assert isinstance(settings, ConnectorSettings)
    policy = settings.retry_policy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.max_retry_after) == (
        3,
        0.5,
        5.0,
        12,
    )
    assert settings.provider_timeout_seconds == 7.0
    assert (settings.push_channel_ttl_seconds, settings.push_renew_before_seconds) == (3600, 600)
    assert (
        settings.policy_for("t1") is DriftPolicy.RESTORE and settings.policy_for("t2") is DriftPolicy.REPORT
    )
    assert settings.push_address("/notifications/outlook") == "https://outlook.example/notifications/outlook"
    assert settings.model_copy(update={"drift_push_enabled": False}).push_address("/n") is None


def test_outlook_keeps_its_own_defaults() -> None:
    settings = Settings()
    assert settings.consumer_group == "calendar-outlook" and settings.consumer_max_workers == 2
    assert settings.push_channel_ttl_seconds == 4200 * 60  # Graph's limit is 10070 minutes
    assert settings.retry_policy().max_delay == 5.0 and settings.drift_poll_seconds == 300.0
    with pytest.raises(ValueError, match="push_channel_ttl_seconds"):
        Settings(push_channel_ttl_seconds=10071 * 60)
