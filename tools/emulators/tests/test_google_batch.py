"""``POST /batch/calendar/v3``: each part runs as if sent alone and is answered under its own
Content-ID; a malformed batch gets a clear 400 and changes nothing; no token, 401."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

EVENTS = "/calendar/v3/calendars/primary/events"
ApiFactory = Callable[..., httpx.Client]


def event(summary: str) -> dict[str, object]:
    return {
        "summary": summary,
        "start": {"dateTime": "2030-03-04T10:00:00Z"},
        "end": {"dateTime": "2030-03-04T11:00:00Z"},
    }


def batch_body(*requests: str, boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    parts = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\n{r}\r\n"
        for n, r in enumerate(requests)
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, {"Content-Type": f"multipart/mixed; boundary={boundary}"}


def test_each_part_is_answered_under_its_own_content_id(google_api: ApiFactory) -> None:
    api = google_api()
    keep = api.post(EVENTS, json=event("Keep")).json()
    gone = api.post(EVENTS, json=event("Gone")).json()
    patch = json.dumps({"summary": "Kept"})
    body, headers = batch_body(
        f"PATCH {EVENTS}/{keep['id']} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{patch}",
        f"DELETE {EVENTS}/{gone['id']} HTTP/1.1\r\n",
        f"DELETE {EVENTS}/nosuchevent0123 HTTP/1.1\r\n",
    )
    answer = api.post("/batch/calendar/v3", content=body, headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("multipart/mixed")
    text = answer.text
    for n, status in ((0, "200"), (1, "204"), (2, "404")):
        part = text.split(f"Content-ID: <response-item{n}>", 1)[1]
        assert part.split("\r\n\r\n", 1)[1].startswith(f"HTTP/1.1 {status}")
    assert api.get(f"{EVENTS}/{keep['id']}").json()["summary"] == "Kept"
    assert api.get(f"{EVENTS}/{gone['id']}").json().get("status") == "cancelled"


def test_a_malformed_batch_is_refused_and_changes_nothing(google_api: ApiFactory) -> None:
    api = google_api()
    made = api.post(EVENTS, json=event("Stays")).json()
    good = f"DELETE {EVENTS}/{made['id']} HTTP/1.1\r\n"
    body, headers = batch_body(good, "no request line here")
    assert api.post("/batch/calendar/v3", content=body, headers=headers).status_code == 400
    not_multipart = api.post("/batch/calendar/v3", content=b"x", headers={"Content-Type": "text/plain"})
    assert not_multipart.status_code == 400
    assert api.get(f"{EVENTS}/{made['id']}").json().get("status") != "cancelled"


def test_a_batch_without_a_token_is_refused(google_api: ApiFactory) -> None:
    api = google_api()
    body, headers = batch_body(f"DELETE {EVENTS}/x HTTP/1.1\r\n")
    assert (
        api.post("/batch/calendar/v3", content=body, headers={**headers, "Authorization": ""}).status_code
        == 401
    )
