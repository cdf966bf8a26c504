"""Control API, fault injection, request counters and per-mailbox concurrency."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from provider_emulators.core.server import EmulatorServer
from provider_emulators.microsoft.testing import (
    MS_REDIRECT_URI,
    MicrosoftControl,
    MsWorld,
    obtain_tokens,
    seed_ms_world,
)

GraphFactory = Callable[..., httpx.Client]
EVENT = {
    "subject": "Visit",
    "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "UTC"},
}


def fire(graph: httpx.Client, count: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: graph.get("/me/events"), range(count)))


# --- concurrency -------------------------------------------------------------------------------------------


def test_max_concurrency_is_recorded_per_mailbox(
    ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    for _ in range(3):
        assert graph.get("/me").status_code == 200
    assert ms_control.state()["concurrency"]["max_in_flight"][ms_world.host] == 1
    ms_control.settings(graph_latency_ms=300)
    responses = fire(graph, 6)
    assert all(r.status_code == 200 for r in responses)
    concurrency = ms_control.state()["concurrency"]
    assert concurrency["max_in_flight"][ms_world.host] == 6
    assert concurrency["in_flight"][ms_world.host] == 0
    assert concurrency["requests_by_mailbox"][ms_world.host] == 9
    assert ms_world.colleague not in concurrency["max_in_flight"]


def test_enforced_mailbox_concurrency_gives_429(
    ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    ms_control.settings(graph_latency_ms=1000, enforce_mailbox_concurrency=True)
    responses = fire(graph, 6)
    throttled = [r for r in responses if r.status_code == 429]
    assert len(throttled) == 2
    assert sum(r.status_code == 200 for r in responses) == 4
    error = throttled[0].json()["error"]
    assert error["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in error["message"]
    assert throttled[0].headers["retry-after"] == "1"
    state = ms_control.state()
    assert state["concurrency"]["throttled"][ms_world.host] == 2
    assert state["requests"]["GET /v1.0/me/events"] == 6  # throttled requests are counted too


# --- faults ------------------------------------------------------------------------------------------------


def test_injected_graph_faults_look_like_graph(ms_graph: GraphFactory, ms_control: MicrosoftControl) -> None:
    graph = ms_graph()
    ms_control.add_fault(r"^/v1\.0/me/events$", method="POST", status=429, retry_after=7, count=1)
    throttled = graph.post("/me/events", json=EVENT)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    error = throttled.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert {"request-id", "date"} <= error["innerError"].keys()
    assert graph.post("/me/events", json=EVENT).status_code == 201  # count=1: spent

    ms_control.add_fault(
        r"^/v1\.0/me$", status=503, reason="ServiceNotAvailable", message="Try later", count=1
    )
    unavailable = graph.get("/me")
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == {
        **unavailable.json()["error"],
        "code": "ServiceNotAvailable",
        "message": "Try later",
    }
    ms_control.add_fault(r"^/v1\.0/me/events", status=401, count=1)
    assert graph.get("/me/events").json()["error"]["code"] == "InvalidAuthenticationToken"
    ms_control.add_fault(r"^/v1\.0/me/events", status=500, count=1)
    assert graph.get("/me/events").json()["error"]["code"] == "InternalServerError"


def test_injected_token_faults_look_like_aad(
    ms_http: httpx.Client, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    ms_control.add_fault(r"/oauth2/v2\.0/token$", status=503, count=1)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": ms_world.client_id,
        "client_secret": ms_world.client_secret,
    }
    failed = ms_http.post("/organizations/oauth2/v2.0/token", data=form)
    assert failed.status_code == 503
    body = failed.json()
    assert body["error"] == "temporarily_unavailable"
    assert body["error_description"].startswith("AADSTS50001:")
    assert (
        ms_http.post("/organizations/oauth2/v2.0/token", data=form).status_code == 200
    )  # the token survived


def test_latency_only_fault(ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld) -> None:
    graph = ms_graph()
    ms_control.add_fault(r"^/v1\.0/me$", status=None, latency_ms=250)
    responses = list(ThreadPoolExecutor(max_workers=3).map(lambda _: graph.get("/me"), range(3)))
    assert all(r.status_code == 200 for r in responses)
    assert ms_control.state()["concurrency"]["max_in_flight"][ms_world.host] == 3


# --- state and counters ------------------------------------------------------------------------------------


def test_state_dump_and_request_counters(
    ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    ev = graph.post("/me/events", json=EVENT).json()
    graph.delete(f"/me/events/{ev['id']}")
    graph.get("/me/events")
    graph.get("/me/events")
    state = ms_control.state()
    assert state["provider"] == "microsoft"
    mailbox = state["mailboxes"][ms_world.host]
    assert [(e["id"], e["deleted"]) for e in mailbox] == [(ev["id"], True)]
    assert state["requests"]["GET /v1.0/me/events"] == 2
    assert state["requests"]["POST /v1.0/me/events"] == 1
    assert state["requests"]["POST /organizations/oauth2/v2.0/token"] == 1
    assert {t["domain"] for t in state["tenants"]} == {"consumers", "contoso.example", "fabrikam.example"}
    assert {u["email"] for u in state["users"] if u["personal"]} == {ms_world.personal}
    assert len(state["rooms"]) == 3 and state["room_lists"][0]["rooms"] == ms_world.rooms
    assert state["refresh_tokens"]["live"] == 1
    assert ms_control.requests()["GET /v1.0/me/events"] == 2


def test_reset_clears_everything(
    ms_control: MicrosoftControl, ms_world: MsWorld, ms_graph: GraphFactory
) -> None:
    graph = ms_graph()
    graph.post("/me/events", json=EVENT)
    ms_control.add_fault("^/v1.0/me$", status=500)
    ms_control.reset()
    state = ms_control.state()
    assert state["users"] == [] and state["apps"] == [] and state["mailboxes"] == {}
    assert state["faults"] == [] and state["requests"] == {}
    assert [t["domain"] for t in state["tenants"]] == ["consumers"]
    assert graph.get("/me").json()["error"]["code"] == "InvalidAuthenticationToken"


def test_direct_outlook_edits(
    ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    ev = graph.post("/me/events", json=EVENT).json()
    edited = ms_control.edit_event(ms_world.host, ev["id"], {"subject": "Moved by host", "showAs": "oof"})
    assert edited["changeKey"] != ev["changeKey"]
    assert graph.get(f"/me/events/{ev['id']}").json()["subject"] == "Moved by host"
    ms_control.delete_event(ms_world.host, ev["id"])
    assert graph.get(f"/me/events/{ev['id']}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PATCH", "/mailboxes/host@contoso.example/events/nope", {"subject": "x"}, 404),
        ("DELETE", "/mailboxes/host@contoso.example/events/nope", None, 404),
        ("POST", "/mailboxes/nobody@contoso.example/events", EVENT, 404),
        ("POST", "/mailboxes/host@contoso.example/events", {"subject": "no times"}, 400),
        ("POST", "/users", {"email": "x@nowhere.example", "name": "X", "tenant": "nowhere.example"}, 404),
        (
            "POST",
            "/users",
            {"email": "host@contoso.example", "name": "Again", "tenant": "contoso.example"},
            409,
        ),
        ("POST", "/tenants", {"domain": "contoso.example"}, 409),
        ("POST", "/tenants", {"domain": "x.example", "unknown_field": 1}, 422),
        ("PUT", "/tenants/nowhere.example/policy", {"admin_consent_required": True}, 404),
        (
            "POST",
            "/rooms",
            {
                "email": "r@contoso.example",
                "display_name": "R",
                "tenant": "contoso.example",
                "room_list": "none@contoso.example",
            },
            404,
        ),
        (
            "POST",
            "/rooms",
            {
                "email": "r@contoso.example",
                "display_name": "R",
                "tenant": "contoso.example",
                "booking_type": "vip",
            },
            422,
        ),
        ("PUT", "/settings", {"graph_latency_ms": -1}, 422),
        ("DELETE", "/faults/nope", None, 404),
    ],
)
def test_control_errors(
    ms_control: MicrosoftControl, ms_world: MsWorld, method: str, path: str, body: Any, status: int
) -> None:
    assert ms_control.http.request(method, f"/__emulator{path}", json=body).status_code == status


def test_tokens_expire_per_user_and_client(
    ms_http: httpx.Client, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    host = obtain_tokens(ms_http, ms_world, ms_world.host)
    colleague = obtain_tokens(ms_http, ms_world, ms_world.colleague)
    assert ms_control.expire_access_tokens(client_id="someone-else") == 0
    assert ms_control.expire_access_tokens(user=ms_world.colleague) == 1
    assert (
        ms_http.get("/v1.0/me", headers={"Authorization": f"Bearer {host['access_token']}"}).status_code
        == 200
    )
    assert (
        ms_http.get("/v1.0/me", headers={"Authorization": f"Bearer {colleague['access_token']}"}).status_code
        == 401
    )
    assert ms_control.expire_access_tokens() == 2


def test_https_and_create_app_usage(ms_server: EmulatorServer, ms_control: MicrosoftControl) -> None:
    assert ms_server.base_url.startswith("https://")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{ms_server.base_url}/common/v2.0/.well-known/openid-configuration", verify=True)
    world = seed_ms_world(ms_control)
    assert world.client_id in {a["client_id"] for a in ms_control.state()["apps"]}
    assert MS_REDIRECT_URI in ms_control.state()["apps"][0]["redirect_uris"]
