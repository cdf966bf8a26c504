"""The event contract as an AsyncAPI 3 document, built from the code.

What travels where comes from the topic registry (:mod:`visitor_common.topics`) and the event
registry (:data:`visitor_common.events.EVENT_REGISTRY`); message schemas are the pydantic
models' JSON schemas; the headers are what :func:`visitor_common.messaging.event_headers` and
the dead-letter / retry paths write. Which service sends and receives on each topic is
:data:`SERVICES` below. The services publish through the outbox and ``publish_event`` on a topic
chosen at run time, so no FastStream publisher object exists to read; the receiving side is
checked against every service's real FastStream subscribers by the test suite (topic and
consumer group), so this table cannot drift from the code (docs/decisions/0011).

Each service serves its own part at ``/asyncapi.json``; ``docs/asyncapi.json`` is the whole
document (``make docs`` regenerates it)::

    python -m visitor_common.asyncapi --write docs/asyncapi.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic.json_schema import models_json_schema

from visitor_common import topics
from visitor_common.events import (
    APPOINTMENT_EVENTS,
    EVENT_REGISTRY,
    GUEST_MESSAGE_EVENTS,
    CalendarConnectionDeactivated,
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    CalendarSyncStatusReported,
    CloudEvent,
    EventData,
    GuestCheckedIn,
    RoomPreferenceChanged,
)
from visitor_common.messaging import CLOUDEVENTS_CONTENT_TYPE, event_headers

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.0.0"
KAFKA_BINDING = "0.5.0"
SCHEMA_REF = "#/components/schemas/{model}"

# The payloads each topic carries (its ``.retry`` topic carries the same records).
TOPIC_EVENTS: dict[str, tuple[type[EventData], ...]] = {
    topics.APPOINTMENT_LIFECYCLE: (*APPOINTMENT_EVENTS, GuestCheckedIn),
    topics.GOOGLE_APPOINTMENTS: APPOINTMENT_EVENTS,
    topics.OUTLOOK_APPOINTMENTS: APPOINTMENT_EVENTS,
    topics.SYNC_STATUS: (CalendarSyncStatusReported,),
    topics.CONNECTIONS: (
        CalendarConnectionLinked,
        CalendarConnectionDeactivated,
        CalendarConnectionUnlinked,
        CalendarConnectionReauthRequired,
        RoomPreferenceChanged,
    ),
    topics.GUEST_MESSAGES: GUEST_MESSAGE_EVENTS,
}

# Headers of the failure paths (calendar_sync.engine.consumer, visitor_common.messaging).
RETRY_HEADERS = {
    "x-attempt": "On .retry topics: the delivery attempt of this record.",
    "x-not-before": "On .retry topics: the time before which the record is not retried.",
    "x-error": "On .retry topics: why the previous attempt failed.",
}
DEAD_LETTER_HEADERS = {
    "x-error": "Why the record was parked (at most 1000 characters).",
    "x-source-topic": "The topic the record came from.",
}


@dataclass(frozen=True)
class ServiceEvents:
    """What one service sends, and what it receives in which consumer group."""

    sends: tuple[str, ...] = ()
    receives: dict[str, str] = field(default_factory=dict)  # topic -> consumer group
    # topics also read without a consumer group, every partition from the start, into a local view
    # (no committed offsets; e.g. appointments' connection statuses, decision 0017)
    views: tuple[str, ...] = ()


def _connector(name: str, topic: str) -> ServiceEvents:
    return ServiceEvents(
        sends=(topics.SYNC_STATUS, topics.retry_topic(topic), topics.dead_letter_topic(topic)),
        receives={
            topic: name,
            topics.retry_topic(topic): f"{name}.retry",
            topics.CONNECTIONS: f"{name}.connections",
        },
    )


SERVICES: dict[str, ServiceEvents] = {
    "auth": ServiceEvents(sends=(topics.CONNECTIONS,)),
    "appointments": ServiceEvents(
        sends=(
            topics.APPOINTMENT_LIFECYCLE,
            topics.GOOGLE_APPOINTMENTS,
            topics.OUTLOOK_APPOINTMENTS,
            topics.GUEST_MESSAGES,
            topics.dead_letter_topic(topics.SYNC_STATUS),
            topics.dead_letter_topic(topics.CONNECTIONS),
        ),
        receives={topics.SYNC_STATUS: "appointments", topics.CONNECTIONS: "appointments-connections"},
        views=(topics.CONNECTIONS,),
    ),
    "calendar-google": _connector("calendar-google", topics.GOOGLE_APPOINTMENTS),
    "calendar-outlook": _connector("calendar-outlook", topics.OUTLOOK_APPOINTMENTS),
    "notifications": ServiceEvents(
        sends=(
            topics.dead_letter_topic(topics.APPOINTMENT_LIFECYCLE),
            topics.dead_letter_topic(topics.GUEST_MESSAGES),
        ),
        receives={
            topics.APPOINTMENT_LIFECYCLE: "notifications.lifecycle",
            topics.GUEST_MESSAGES: "notifications.guest-messages",
        },
    ),
    "web": ServiceEvents(),  # HTTP only: no broker
}


def _kind(topic: str) -> tuple[str, str]:
    """``(base topic, "" | "retry" | "dlq")``."""
    for suffix in ("retry", "dlq"):
        if topic.endswith(f".{suffix}"):
            return topic.removesuffix(f".{suffix}"), suffix
    return topic, ""


def _message_id(model: type[EventData]) -> str:
    return model.cloudevent_type()


def _cloudevent_headers() -> dict[str, Any]:
    """The binary-mode headers ``publish_event`` writes beside the structured body."""
    sample = CloudEvent[EventData].model_construct(
        id="-", type="-", source="-", subject="-", tenantid="-", data=EventData()
    )
    names = sorted(event_headers(sample))
    return {
        "type": "object",
        "description": "CloudEvents binary-mode attributes, copies of the envelope's (for routing).",
        "properties": {name: {"type": "string"} for name in names},
        "required": names,
    }


def _header_schema(optional: dict[str, str], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` plus the ``optional`` headers (name -> meaning)."""
    schema = dict(base or {"type": "object"})
    properties = dict(schema.get("properties", {}))
    properties |= {name: {"type": "string", "description": text} for name, text in optional.items()}
    return schema | {"properties": properties}


def _messages(models: Iterable[type[EventData]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Component messages (one per event type) and the JSON schemas they reference."""
    models = sorted(set(models), key=_message_id)
    refs, definitions = models_json_schema(
        [(CloudEvent[m], "serialization") for m in models],  # type: ignore[valid-type]
        ref_template=SCHEMA_REF,
    )
    # one message per type on its topic and on the retry topic, where the retry headers join in
    headers = _header_schema(RETRY_HEADERS, _cloudevent_headers())
    messages = {
        _message_id(m): {
            "name": _message_id(m),
            "title": m.__name__,
            "summary": (m.__doc__ or m.__name__).strip().splitlines()[0],
            "contentType": CLOUDEVENTS_CONTENT_TYPE,
            "headers": headers,
            "payload": refs[(CloudEvent[m], "serialization")],  # type: ignore[valid-type]
            "bindings": {"kafka": {"key": {"type": "string", "description": "The envelope's subject."}}},
        }
        for m in models
    }
    return messages, definitions.get("$defs", {})


def _channel(topic: str) -> dict[str, Any]:
    base, kind = _kind(topic)
    description = {
        "": "",
        "retry": f"Records of {base} that failed and wait for a later attempt (same envelopes).",
        "dlq": f"Poison records of {base}, parked as they came with their error; see docs/runbook.md.",
    }[kind]
    channel: dict[str, Any] = {"address": topic, "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING}}}
    if description:
        channel["description"] = description
    if kind == "dlq":
        channel["messages"] = {"deadLetter": {"$ref": "#/components/messages/dead-letter"}}
    else:
        channel["messages"] = {
            _message_id(m): {"$ref": f"#/components/messages/{_message_id(m)}"} for m in TOPIC_EVENTS[base]
        }
    return channel


def _operation(service: str, action: str, topic: str, group: str | None) -> dict[str, Any]:
    channel = _channel(topic)
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{topic}"},
        "summary": f"{service} {'publishes to' if action == 'send' else 'consumes'} {topic}",
        "messages": [{"$ref": f"#/channels/{topic}/messages/{m}"} for m in channel["messages"]],
        "tags": [{"name": service}],
    }
    if group is not None:
        operation["bindings"] = {
            "kafka": {"groupId": {"type": "string", "enum": [group]}, "bindingVersion": KAFKA_BINDING}
        }
    return operation


def asyncapi_document(services: Sequence[str] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3 document of ``services`` (all of them by default): every topic they send
    or receive on, its messages with their schemas, and one operation per service and topic."""
    chosen = {name: SERVICES.get(name, ServiceEvents()) for name in (services or sorted(SERVICES))}
    operations: dict[str, Any] = {}
    for name, events in chosen.items():
        for topic in events.sends:
            operations[f"{name}.send.{topic}"] = _operation(name, "send", topic, None)
        for topic, group in events.receives.items():
            operations[f"{name}.receive.{topic}"] = _operation(name, "receive", topic, group)
    used = sorted({op["channel"]["$ref"].removeprefix("#/channels/") for op in operations.values()})
    models = [m for t in used if _kind(t)[1] != "dlq" for m in TOPIC_EVENTS[_kind(t)[0]]]
    messages, schemas = _messages(models)
    if any(_kind(t)[1] == "dlq" for t in used):
        messages["dead-letter"] = {
            "name": "dead-letter",
            "title": "Dead letter",
            "summary": "A record that could not be handled, unchanged (it may not even be JSON).",
            "headers": _header_schema(DEAD_LETTER_HEADERS),
            "payload": {"description": "The original record's value, byte for byte."},
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Visitor scheduling events" + (f": {', '.join(chosen)}" if services else ""),
            "version": CONTRACT_VERSION,
            "description": (
                "Every topic, who sends and who receives on it, and its messages: CloudEvents 1.0 "
                "envelopes in structured JSON mode, keyed by subject. Generated from "
                "visitor_common (python -m visitor_common.asyncapi)."
            ),
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "pathname": "",
                "protocol": "kafka",
                "description": "<PREFIX>_KAFKA_BOOTSTRAP_SERVERS of each service.",
            }
        },
        "channels": {topic: _channel(topic) for topic in used},
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def covered_event_types() -> set[str]:
    """Every CloudEvents type some topic carries (the registry must have none left over)."""
    return {m.cloudevent_type() for models in TOPIC_EVENTS.values() for m in models} & set(EVENT_REGISTRY)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@functools.cache
def _service_document(service: str) -> dict[str, Any]:
    # built on the first request, not with every app (tests build many apps)
    return asyncapi_document([service])


def asyncapi_router(service: str) -> APIRouter:
    """``GET /asyncapi.json``: this service's part of the event contract."""
    router = APIRouter(tags=["contract"])

    @router.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        return _service_document(service)

    return router


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", type=Path, help="write the whole document here (else stdout)")
    args = parser.parse_args(argv)
    text = render(asyncapi_document())
    if args.write:
        args.write.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
