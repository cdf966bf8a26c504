"""Graph ``POST /v1.0/$batch``: each request runs as if sent alone; the batch's changes are
announced in one notification; bad batches get a clear 400 and change nothing; a batch without a
token is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from provider_emulators.microsoft.testing import GraphReceiver

GraphFactory = Callable[..., httpx.Client]


def in_an_hour() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def event(subject: str) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": "2030-03-04T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-04T11:00:00", "timeZone": "UTC"},
    }


def test_each_request_is_answered_on_its_own(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    made = graph.post("/me/events", json=event("Keep")).json()
    gone = graph.post("/me/events", json=event("Gone")).json()
    answer = graph.post(
        "/$batch",
        json={
            "requests": [
                {
                    "id": "a",
                    "method": "PATCH",
                    "url": f"/me/events/{made['id']}",
                    "body": {"subject": "Kept"},
                    "headers": {"Content-Type": "application/json"},
                },
                {"id": "b", "method": "DELETE", "url": f"/me/events/{gone['id']}"},
                {"id": "c", "method": "DELETE", "url": "/me/events/AAMkNoSuchEvent"},
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert (by_id["a"]["status"], by_id["a"]["body"]["subject"]) == (200, "Kept")
    assert by_id["b"]["status"] == 204
    assert by_id["c"]["status"] == 404 and by_id["c"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert graph.get(f"/me/events/{made['id']}").json()["subject"] == "Kept"
    assert graph.get(f"/me/events/{gone['id']}").status_code == 404


def test_the_changes_of_one_batch_are_announced_in_one_notification(
    ms_graph: GraphFactory, ms_receiver: GraphReceiver
) -> None:
    graph = ms_graph()
    subscription = graph.post(
        "/subscriptions",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": ms_receiver.url,
            "resource": "me/events",
            "expirationDateTime": in_an_hour(),
            "clientState": "state",
        },
    )
    assert subscription.status_code == 201, subscription.text
    made = graph.post("/me/events", json=event("Keep")).json()
    gone = graph.post("/me/events", json=event("Gone")).json()
    assert len(ms_receiver.wait_for(2)) == 2  # a write sent alone: a notification of its own
    answer = graph.post(
        "/$batch",
        json={
            "requests": [
                {"id": "1", "method": "PATCH", "url": f"/me/events/{made['id']}", "body": {"subject": "K"}},
                {"id": "2", "method": "DELETE", "url": f"/me/events/{gone['id']}"},
                {"id": "3", "method": "POST", "url": "/me/events", "body": event("New")},
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    received = ms_receiver.settle(0.3)
    assert len(received) == 3
    items = received[2]["body"]["value"]
    assert sorted(item["changeType"] for item in items) == ["created", "deleted", "updated"]
    assert {item["resourceData"]["id"] for item in items} >= {made["id"], gone["id"]}


def test_a_malformed_or_oversized_batch_is_refused_and_changes_nothing(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    made = graph.post("/me/events", json=event("Stays")).json()
    delete = {"id": "1", "method": "DELETE", "url": f"/me/events/{made['id']}"}
    bad = [{}, {"requests": []}, {"requests": [delete, {"id": "2"}]}, {"requests": [delete] * 21}]
    for body in bad:
        refused = graph.post("/$batch", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "BadRequest"
    assert graph.get(f"/me/events/{made['id']}").status_code == 200


def test_a_batch_without_a_token_is_refused(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    refused = graph.post("/$batch", json={"requests": []}, headers={"Authorization": ""})
    assert refused.status_code == 401
