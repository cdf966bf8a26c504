"""The outbox relay's publish function sends the stored envelope's bytes unchanged, keyed by
its subject, with the same CloudEvents headers as a freshly published event."""

from __future__ import annotations

from typing import Any

from visitor_common.events import CalendarConnectionLinked, Provider, new_event
from visitor_common.messaging import event_headers, outbox_publisher
from visitor_common.outbox import OutboxEntry


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def publish(self, message: bytes, **kwargs: Any) -> None:
        self.sent.append({"message": message, **kwargs})


async def test_the_stored_bytes_go_out_as_they_are() -> None:
    data = CalendarConnectionLinked(
        connection_id="a1",
        tenant_id="t1",
        employee_id="e1",
        provider=Provider.GOOGLE,
        account_email="a@example.jp",
    )
    event = new_event(data, source="/services/appointments", subject="a1", tenant_id="t1")
    entry = OutboxEntry.for_event("some.topic.v1", event)
    broker = RecordingBroker()
    await outbox_publisher(broker)(entry)  # type: ignore[arg-type]
    [sent] = broker.sent
    assert sent["message"] == entry.payload.encode()
    assert sent["topic"] == "some.topic.v1" and sent["key"] == b"a1"
    assert sent["headers"] == event_headers(event)
