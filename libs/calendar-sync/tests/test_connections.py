"""Connection events start and stop drift watching, for the connector's own provider only."""

from __future__ import annotations

from typing import Any

import pytest

from calendar_sync.adapters.connections import ConnectionEventsHandler
from visitor_common.events import (
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    Provider,
    new_event,
    serialize_event,
)


class Monitor:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    async def register(self, *, connection_id: str, **_: Any) -> None:
        if self.fail:
            raise RuntimeError("provider down")
        self.calls.append(("register", connection_id))

    async def deactivate(self, connection_id: str) -> None:
        self.calls.append(("deactivate", connection_id))


class Tokens:
    def __init__(self) -> None:
        self.forgotten: list[str] = []

    def forget(self, connection_id: str) -> None:
        self.forgotten.append(connection_id)


def raw(model: Any, provider: Provider, connection_id: str = "c1") -> bytes:
    data = model(
        connection_id=connection_id,
        tenant_id="t1",
        employee_id="e1",
        provider=provider,
        account_email="host@example.com",
    )
    return serialize_event(new_event(data, source="/auth", subject=connection_id, tenant_id="t1"))


@pytest.mark.parametrize("own", [Provider.GOOGLE, Provider.OUTLOOK])
async def test_link_registers_and_unlink_or_reauth_deactivates_and_forgets_the_token(own: Provider) -> None:
    monitor, tokens = Monitor(), Tokens()
    handler = ConnectionEventsHandler(own, monitor, tokens)  # type: ignore[arg-type]
    await handler.handle(raw(CalendarConnectionLinked, own))
    await handler.handle(raw(CalendarConnectionUnlinked, own))
    await handler.handle(raw(CalendarConnectionReauthRequired, own, connection_id="c2"))
    assert monitor.calls == [("register", "c1"), ("deactivate", "c1"), ("deactivate", "c2")]
    assert tokens.forgotten == ["c1", "c2"]


@pytest.mark.parametrize("own", [Provider.GOOGLE, Provider.OUTLOOK])
async def test_the_other_providers_connections_and_garbage_are_ignored(own: Provider) -> None:
    other = Provider.OUTLOOK if own is Provider.GOOGLE else Provider.GOOGLE
    monitor = Monitor()
    handler = ConnectionEventsHandler(own, monitor)  # type: ignore[arg-type]
    await handler.handle(raw(CalendarConnectionLinked, other))
    await handler.handle(b"{not json")
    await handler.handle(b'{"type": "jp.visitor-scheduling.unknown.v1"}')
    assert monitor.calls == [] and handler.handled == 0


async def test_a_failing_monitor_does_not_raise() -> None:
    handler = ConnectionEventsHandler(Provider.GOOGLE, Monitor(fail=True))  # type: ignore[arg-type]
    await handler.handle(raw(CalendarConnectionLinked, Provider.GOOGLE))
    assert handler.handled == 1
