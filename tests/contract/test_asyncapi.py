"""The AsyncAPI document is the code's event contract: docs/asyncapi.json is what the generator
writes, every service's real subscribers are in it (topic and consumer group), every topic sent
or received is a registered topic, and each service serves its part at /asyncapi.json."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

from visitor_common import asyncapi
from visitor_common.events import EVENT_REGISTRY
from visitor_common.runtime import ServiceRuntime
from visitor_common.topics import all_topics

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
MODULES = {
    "auth": "auth_service",
    "appointments": "appointments_service",
    "calendar-google": "calendar_google",
    "calendar-outlook": "calendar_outlook",
    "notifications": "notifications_service",
    "web": "web_service",
}
REGISTERED = {t.name for t in all_topics(1)}


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, tuple[Any, ServiceRuntime]]]:
    """Each service's app as its bootstrap builds it (no broker started), with its runtime."""
    made: list[ServiceRuntime] = []
    original = ServiceRuntime.for_settings.__func__  # type: ignore[attr-defined]

    def capture(cls: type[ServiceRuntime], *args: Any, **kwargs: Any) -> ServiceRuntime:
        runtime = original(cls, *args, **kwargs)
        made.append(runtime)
        return runtime

    patch = pytest.MonkeyPatch()
    patch.setattr(ServiceRuntime, "for_settings", classmethod(capture))
    logging.disable(logging.WARNING)  # "keys unset" warnings of settings left at their defaults
    try:
        built = {}
        for name, module in MODULES.items():
            app = importlib.import_module(f"{module}.bootstrap").create_app()
            built[name] = (app, made[-1])
        yield built
    finally:
        logging.disable(logging.NOTSET)
        patch.undo()


def test_the_document_in_docs_is_generated_from_the_code() -> None:
    assert DOC.read_text() == asyncapi.render(asyncapi.asyncapi_document()), "run `make docs`"


def test_every_subscriber_of_every_service_is_in_the_contract(apps: dict[str, Any]) -> None:
    for name, (_, runtime) in apps.items():
        assert runtime.settings.service_name == name
        pairs = [(topic.name, sub.group_id) for sub in runtime.broker.subscribers for topic in sub.topics]
        grouped = {topic: group for topic, group in pairs if group is not None}
        views = tuple(sorted(topic for topic, group in pairs if group is None))
        assert grouped == asyncapi.SERVICES[name].receives, name
        assert views == tuple(sorted(asyncapi.SERVICES[name].views)), name


def test_the_document_lists_every_topic_sent_or_received() -> None:
    document = asyncapi.asyncapi_document()
    sent = {t for s in asyncapi.SERVICES.values() for t in s.sends}
    received = {t for s in asyncapi.SERVICES.values() for t in s.receives}
    assert set(document["channels"]) == sent | received
    assert sent | received <= REGISTERED, "every topic comes from visitor_common.topics"
    assert received <= sent, "a consumer with no producer reads nothing"
    for topic in sent | received:
        assert document["channels"][topic]["address"] == topic
    actions = {(op["action"], op["channel"]["$ref"].split("/")[-1]) for op in document["operations"].values()}
    assert {("send", t) for t in sent} | {("receive", t) for t in received} == actions


def test_every_registered_event_type_travels_on_some_topic_with_its_schema() -> None:
    assert asyncapi.covered_event_types() == set(EVENT_REGISTRY)
    messages = asyncapi.asyncapi_document()["components"]["messages"]
    assert set(EVENT_REGISTRY) <= set(messages)
    created = messages["jp.visitor-scheduling.appointment.created.v1"]
    assert created["payload"] == {"$ref": "#/components/schemas/CloudEvent_AppointmentCreated_"}
    assert {"ce_id", "ce_type", "ce_subject"} <= set(created["headers"]["required"])


def test_the_document_is_asyncapi_3_and_every_reference_resolves() -> None:
    document = asyncapi.asyncapi_document()
    ApplicationSchema.model_validate(document)  # FastStream's own AsyncAPI 3 model

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(document))
    assert len(found) > 50
    for ref in found:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        assert isinstance(node, dict), ref


@pytest.mark.parametrize("name", sorted(MODULES))
async def test_each_service_serves_its_part(apps: dict[str, Any], name: str) -> None:
    app, _ = apps[name]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    served = response.json()
    assert served == json.loads(json.dumps(asyncapi.asyncapi_document([name])))
    events = asyncapi.SERVICES[name]
    assert set(served["channels"]) == set(events.sends) | set(events.receives)
    assert served["asyncapi"] == "3.0.0"
