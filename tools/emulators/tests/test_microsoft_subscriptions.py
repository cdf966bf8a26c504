"""Graph change notifications: subscription validation, renewal, delivery, lifecycle events."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from provider_emulators.microsoft.testing import GraphReceiver, MicrosoftControl, MsWorld

GraphFactory = Callable[..., httpx.Client]


def expires_in(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def subscription_body(receiver: GraphReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.url + "/lifecycle",
        "resource": "me/events",
        "expirationDateTime": expires_in(60),
        "clientState": "secret-client-state",
        **extra,
    }


def event_body(subject: str = "Visit") -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "UTC"},
    }


def graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def test_create_validates_the_endpoint(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    response = graph.post("/subscriptions", json=subscription_body(ms_receiver))
    assert response.status_code == 201, response.text
    sub = response.json()
    assert len(ms_receiver.validations) == 2  # notification and lifecycle URLs
    assert sub["id"] and sub["resource"] == "me/events"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["clientState"] == "secret-client-state"
    assert sub["notificationUrl"] == ms_receiver.url
    assert sub["applicationId"] == ms_world.client_id
    assert graph.get(f"/subscriptions/{sub['id']}").json()["id"] == sub["id"]
    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [sub["id"]]


@pytest.mark.parametrize("mode", ["wrong", "status500", "html", "slow"])
def test_validation_failures(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_control: MicrosoftControl, mode: str
) -> None:
    ms_control.settings(validation_timeout_s=0.3)
    ms_receiver.mode, ms_receiver.slow_s = mode, 1.0
    error = graph_error(
        ms_graph().post("/subscriptions", json=subscription_body(ms_receiver)), 400, "ValidationError"
    )
    assert "validation" in error["message"].lower()


def test_unreachable_endpoint(ms_graph: GraphFactory, ms_receiver: GraphReceiver) -> None:
    body = subscription_body(ms_receiver, notificationUrl="http://127.0.0.1:9/nothing")
    graph_error(ms_graph().post("/subscriptions", json=body), 400, "ValidationError")


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"changeType": "created,exploded"}, "InvalidRequest"),
        ({"changeType": None}, "InvalidRequest"),
        ({"resource": "me/messages"}, "ExtensionError"),
        ({"resource": None}, "InvalidRequest"),
        ({"expirationDateTime": "2000-01-01T00:00:00Z"}, "ExtensionError"),
        ({"expirationDateTime": "never"}, "InvalidRequest"),
        ({"expirationDateTime": None}, "InvalidRequest"),
        ({"notificationUrl": "ftp://example/"}, "InvalidRequest"),
        ({"lifecycleNotificationUrl": "not a url"}, "InvalidRequest"),
        ({"clientState": "x" * 129}, "InvalidRequest"),
    ],
)
def test_invalid_subscriptions(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, override: dict[str, Any], code: str
) -> None:
    body = {k: v for k, v in {**subscription_body(ms_receiver), **override}.items() if v is not None}
    graph_error(ms_graph().post("/subscriptions", json=body), 400, code)
    assert ms_receiver.validations == []


def test_expiration_limit(ms_graph: GraphFactory, ms_receiver: GraphReceiver) -> None:
    graph = ms_graph()
    graph_error(
        graph.post(
            "/subscriptions", json=subscription_body(ms_receiver, expirationDateTime=expires_in(10081))
        ),
        400,
        "ExtensionError",
    )
    assert (
        graph.post(
            "/subscriptions", json=subscription_body(ms_receiver, expirationDateTime=expires_in(10070))
        ).status_code
        == 201
    )


def test_renew_and_delete(ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_world: MsWorld) -> None:
    graph = ms_graph()
    sub = graph.post("/subscriptions", json=subscription_body(ms_receiver)).json()
    renewed = graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expires_in(3000)})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    graph_error(
        graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expires_in(20000)}),
        400,
        "ExtensionError",
    )
    graph_error(ms_graph(ms_world.colleague).get(f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 204
    graph_error(graph.delete(f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")
    graph_error(
        graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expires_in(10)}),
        404,
        "ResourceNotFound",
    )


def test_change_notifications(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    sub = graph.post("/subscriptions", json=subscription_body(ms_receiver)).json()
    ev = graph.post("/me/events", json=event_body()).json()
    graph.patch(f"/me/events/{ev['id']}", json={"subject": "Changed"})
    ms_control.edit_event(ms_world.host, ev["id"], {"subject": "Changed in Outlook"})
    ms_control.delete_event(ms_world.host, ev["id"])
    received = ms_receiver.wait_for(4)
    assert len(received) == 4
    notes = [r["body"]["value"][0] for r in received]
    assert sorted(n["changeType"] for n in notes) == ["created", "deleted", "updated", "updated"]
    note = notes[0]
    me = graph.get("/me").json()
    assert note["subscriptionId"] == sub["id"]
    assert note["clientState"] == "secret-client-state"
    assert note["tenantId"] == ms_world.contoso_id
    assert note["resource"] == f"Users/{me['id']}/Events/{ev['id']}"
    assert note["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert note["resourceData"]["@odata.id"] == note["resource"]
    assert note["resourceData"]["id"] == ev["id"]
    assert note["subscriptionExpirationDateTime"]
    assert all(r["path"] == "/graph/notify" for r in received)


def test_notifications_respect_change_type_mailbox_and_deletion(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    sub = graph.post("/subscriptions", json=subscription_body(ms_receiver, changeType="deleted")).json()
    ev = graph.post("/me/events", json=event_body()).json()
    ms_graph(ms_world.colleague).post("/me/events", json=event_body())
    graph.delete(f"/me/events/{ev['id']}")
    assert [r["body"]["value"][0]["changeType"] for r in ms_receiver.wait_for(1)] == ["deleted"]
    graph.delete(f"/subscriptions/{sub['id']}")
    graph.post("/me/events", json=event_body())
    assert len(ms_receiver.settle(0.2)) == 1


def test_lifecycle_notifications(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    sub = graph.post("/subscriptions", json=subscription_body(ms_receiver)).json()
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        assert ms_control.lifecycle(sub["id"], event) == {"delivered": True, "status": 202}
    received = ms_receiver.wait_for(3)
    assert [r["path"] for r in received] == ["/graph/notify/lifecycle"] * 3
    values = [r["body"]["value"][0] for r in received]
    assert [v["lifecycleEvent"] for v in values] == [
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    ]
    assert all(v["subscriptionId"] == sub["id"] and v["clientState"] == "secret-client-state" for v in values)
    graph_error(graph.get(f"/subscriptions/{sub['id']}"), 404, "ResourceNotFound")  # removed


def test_lifecycle_control_errors(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_control: MicrosoftControl
) -> None:
    no_url = {k: v for k, v in subscription_body(ms_receiver).items() if k != "lifecycleNotificationUrl"}
    plain = ms_graph().post("/subscriptions", json=no_url).json()
    assert plain["lifecycleNotificationUrl"] is None
    path = f"/__emulator/subscriptions/{plain['id']}/lifecycle"
    assert ms_control.http.post(path, json={"lifecycle_event": "missed"}).status_code == 400
    assert ms_control.http.post(path, json={"lifecycle_event": "exploded"}).status_code == 422
    unknown = ms_control.http.post(
        "/__emulator/subscriptions/nope/lifecycle", json={"lifecycle_event": "missed"}
    )
    assert unknown.status_code == 404


def test_failed_deliveries_are_counted_not_raised(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    graph.post("/subscriptions", json=subscription_body(ms_receiver))
    ms_receiver.notify_status = 500
    assert graph.post("/me/events", json=event_body()).status_code == 201
    ms_receiver.wait_for(1)
    deadline = time.monotonic() + 5
    while ms_control.state()["notifications"]["failed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    notifications = ms_control.state()["notifications"]
    assert notifications["failed"] == 1 and notifications["sent"] == 0
    assert notifications["log"][0]["delivered"] is False
