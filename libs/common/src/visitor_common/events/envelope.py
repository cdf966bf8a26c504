"""The CloudEvents 1.0 envelope every message travels in (structured JSON mode).

Extension attributes follow the CloudEvents naming rule (lower-case letters and digits only):
``tenantid``, ``appointmentversion`` and the optional ``traceparent`` of the CloudEvents
distributed-tracing extension (W3C trace context; absent from the JSON when unset, so envelopes
written before it still match). The Kafka key is always the ``subject`` (the appointment id for
appointment and sync events), so one aggregate's events stay in order.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from visitor_common import tracecontext

EVENT_TYPE_PREFIX = "jp.visitor-scheduling"


class EventData(BaseModel):
    """Base of every event payload. Subclasses set ``event_name`` and ``event_version``.

    The CloudEvents ``type`` is ``jp.visitor-scheduling.<event_name>.v<event_version>``; a
    breaking change to a payload is a new class with a higher version, never an edit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_name: ClassVar[str]
    event_version: ClassVar[int] = 1

    @classmethod
    def cloudevent_type(cls) -> str:
        return f"{EVENT_TYPE_PREFIX}.{cls.event_name}.v{cls.event_version}"


DataT = TypeVar("DataT", bound=EventData)


class CloudEvent(BaseModel, Generic[DataT]):
    """CloudEvents 1.0 envelope with this system's two extension attributes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    source: str = Field(min_length=1, description="URI-reference of the producing service.")
    type: str = Field(min_length=1)
    subject: str = Field(min_length=1, description="Aggregate id; also the Kafka key.")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: str = Field(min_length=1)
    appointmentversion: int | None = Field(None, ge=0)
    traceparent: str | None = Field(
        None,
        max_length=55,
        exclude_if=lambda value: value is None,
        description="W3C trace context of the change that produced the event (optional).",
    )
    data: DataT

    @property
    def key(self) -> bytes:
        return self.subject.encode()


@functools.cache
def envelope_class(data_type: type[DataT]) -> type[CloudEvent[DataT]]:
    """``CloudEvent[data_type]``, built once per payload class and kept: pydantic keeps the
    classes it makes for ``Model[T]`` only weakly, so a service that made one per event built
    it again (schema and all, ~1 ms) whenever the last one had been collected — 6 % of the
    appointments service's CPU under load (issue 14's profile)."""
    return CloudEvent[data_type]  # type: ignore[valid-type]


def new_event(
    data: DataT,
    *,
    source: str,
    subject: str,
    tenant_id: str,
    appointment_version: int | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent[DataT]:
    """Wrap a payload in its envelope; the CloudEvents ``type`` comes from the payload class.

    The envelope carries the current trace (:mod:`visitor_common.tracecontext`), and the scope
    learns the event and (for appointment-keyed events) the appointment id, so the log lines of
    the request that made the change name them."""
    fields: dict[str, Any] = {
        "source": source,
        "type": type(data).cloudevent_type(),
        "subject": subject,
        "tenantid": tenant_id,
        "appointmentversion": appointment_version,
        "traceparent": tracecontext.current_traceparent(),
        "data": data,
    }
    if event_id is not None:
        fields["id"] = event_id
    if time is not None:
        fields["time"] = time
    event = envelope_class(type(data))(**fields)
    tracecontext.bind(event_id=event.id, appointment_id=appointment_subject(event))
    return event


def appointment_subject(event: CloudEvent[Any]) -> str | None:
    """The appointment id an event is about: its subject, except for connection events."""
    return None if ".calendar-connection." in event.type else event.subject
