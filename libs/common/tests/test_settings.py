"""Shared service settings: environment prefix and the consumer timing rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from visitor_common.runner import serve
from visitor_common.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")


def test_values_come_from_the_services_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_KAFKA_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "99999")  # unprefixed: not ours
    assert ExampleSettings().kafka_session_timeout_ms == 6000


def test_a_heartbeat_slower_than_a_third_of_the_session_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most a third"):
        ExampleSettings(kafka_session_timeout_ms=2000, kafka_heartbeat_interval_ms=1000)
    assert ExampleSettings(kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=1000)


def test_a_bad_configuration_exits_2_naming_the_variable_but_not_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXAMPLE_KAFKA_PARTITIONS", "s3cret-looking-value")
    started: list[object] = []
    with pytest.raises(SystemExit) as stopped:
        serve(ExampleSettings, started.append)  # type: ignore[arg-type]
    assert stopped.value.code == 2 and started == []
    err = capsys.readouterr().err
    assert "EXAMPLE_KAFKA_PARTITIONS" in err and "integer" in err
    assert "s3cret-looking-value" not in err
