"""The Google control API: setup validation, state dump, reset, token expiry, push counters."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from provider_emulators.google.testing import GoogleControl, PushReceiver, SeededWorld

ApiFactory = Callable[..., httpx.Client]
EVENTS = "/calendar/v3/calendars/primary/events"
DAY = {"start": {"date": "2030-01-07"}, "end": {"date": "2030-01-08"}}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", {"email": "x@unknown.test", "domain": "unknown.test"}),
        ("PATCH", "/users/nobody@example.com", {"name": "x"}),
        ("POST", "/users/nobody@example.com/revoke", {}),
        ("POST", "/buildings", {"customer_id": "C99", "buildingId": "b", "buildingName": "B"}),
        ("POST", "/rooms", {"domain": "unknown.test", "resourceName": "R"}),
        ("POST", "/tokens", {"email": "nobody@example.com", "client_id": "c", "scopes": []}),
        ("POST", "/tokens", {"email": "alice@example.com", "client_id": "nope", "scopes": []}),
        ("PATCH", "/calendars/alice@example.com/events/missing01", {}),
        ("DELETE", "/faults/nope", None),
    ],
)
def test_unknown_references_are_404(
    google_control: GoogleControl,
    google_world: SeededWorld,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    assert google_control.http.request(method, f"/__emulator{path}", json=body).status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/users", {"name": "no email"}),
        ("/clients", {"client_id": "c", "client_secret": "s", "redirect_uris": "not-a-list"}),
        ("/domains", {"domain": "x.test", "surprise": True}),
        ("/faults", {"status": 500}),
        ("/clock/advance", {"seconds": "soon"}),
    ],
)
def test_malformed_bodies_are_422(google_control: GoogleControl, path: str, body: dict[str, object]) -> None:
    assert google_control.http.post(f"/__emulator{path}", json=body).status_code == 422


def test_users_domains_and_personal_accounts(
    google_control: GoogleControl, google_world: SeededWorld
) -> None:
    users = google_control.state()["users"]
    assert users[google_world.admin]["domain"] == "example.com"
    assert users[google_world.admin]["directory_permission"] is True
    assert users[google_world.personal]["domain"] is None
    created = google_control.add_user("Dave@Example.com")
    assert created["email"] == "dave@example.com"
    assert created["domain"] == "example.com"
    assert created["sub"].isdigit()
    outsider = google_control.add_user("eve@outside.test")
    assert outsider["domain"] is None


def test_state_dump_counts_requests_and_keeps_cancelled_events(
    google_api: ApiFactory, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    api = google_api()
    api.post(EVENTS, json={**DAY, "id": "state00001"})
    api.delete(f"{EVENTS}/state00001")
    state = google_control.state()
    assert state["events"][google_world.admin]["state00001"]["status"] == "cancelled"
    assert state["requests"][f"POST {EVENTS}"] == 1
    assert state["requests"][f"DELETE {EVENTS}/state00001"] == 1
    assert set(state["rooms"]) == {room["resourceEmail"] for room in google_world.rooms}
    assert google_control.events(google_world.admin)[0]["id"] == "state00001"


def test_state_dump_leaves_out_secrets(google_control: GoogleControl, google_world: SeededWorld) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    dump = json.dumps(google_control.state())
    for secret in (google_world.client_secret, tokens["refresh_token"], tokens["access_token"]):
        assert secret not in dump


def test_reset_clears_everything(google_control: GoogleControl, google_world: SeededWorld) -> None:
    google_control.add_fault("x")
    google_control.advance_clock(1000)
    google_control.reset()
    state = google_control.state()
    assert state["users"] == {}
    assert state["clients"] == {}
    assert state["faults"] == []
    assert state["requests"] == {}
    assert state["events"] == {}


def test_expire_selected_access_tokens(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    first = google_control.mint_token(google_world.admin, google_world.client_id)["access_token"]
    second = google_control.mint_token(google_world.admin, google_world.client_id)["access_token"]
    assert google_control.expire_tokens(access_tokens=[first]) == 1
    assert google_control.expire_tokens(access_tokens=[first]) == 0

    def status(token: str) -> int:
        return google_http.get(EVENTS, headers={"Authorization": f"Bearer {token}"}).status_code

    assert (status(first), status(second)) == (401, 200)
    assert google_control.expire_tokens() == 1
    assert status(second) == 401


def test_revoke_for_one_client_only(google_control: GoogleControl, google_world: SeededWorld) -> None:
    google_control.add_client("other", "s", [google_world.redirect_uri])
    google_control.mint_token(google_world.admin, google_world.client_id)
    google_control.mint_token(google_world.admin, "other")
    assert google_control.revoke_user(google_world.admin, client_id="other") == 1
    assert google_control.revoke_user(google_world.admin) == 1


def test_push_stats(
    google_api: ApiFactory, google_control: GoogleControl, push_receiver: PushReceiver
) -> None:
    api = google_api()
    api.post(f"{EVENTS}/watch", json={"id": "ok", "type": "web_hook", "address": push_receiver.url})
    push_receiver.wait_for(1)
    deadline = time.monotonic() + 5
    while google_control.push_stats()["delivered"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert google_control.push_stats()["delivered"] >= 1
