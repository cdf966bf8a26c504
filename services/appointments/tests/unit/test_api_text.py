"""Row 6: free text that cannot hurt. Control characters, bidirectional overrides and strings
with nothing visible are a 422 naming the field, on create, PATCH and cancel; text is stored
in NFC; notes keep their line breaks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from appointments_testkit import Harness, create_body, future, slot_json

from visitor_common import topics
from visitor_common.events import Provider

HOSTILE = {
    "crlf": ("Visit\r\nX-Injected: 1", "text_control_character"),
    "nul": ("Visit\x00", "text_control_character"),
    "esc": ("\x1b[2JVisit", "text_control_character"),
    "rtl override": ("Visit\u202egnp.exe", "text_bidi_control"),
    "zero-width only": ("\u200b\u200b\u200b", "text_invisible"),
}
NOTES_HOSTILE = {k: v for k, v in HOSTILE.items() if k != "crlf"}


def with_field(path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    body = create_body()
    body["candidates"][0]["room"] = {"email": "room-a@example.co.jp", "name": "Room A"}
    target: Any = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


def located(response: Any) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["type"]) for e in response.json()["errors"]]


CREATE_FIELDS = [
    ("title",),
    ("guests", 0, "name"),
    ("guests", 0, "company"),
    ("candidates", 0, "room", "name"),
]


@pytest.mark.parametrize("field", CREATE_FIELDS, ids=lambda f: ".".join(map(str, f)))
@pytest.mark.parametrize("case", HOSTILE)
async def test_create_refuses_hostile_text_naming_the_field(
    h: Harness, field: tuple[str | int, ...], case: str
) -> None:
    value, kind = HOSTILE[case]
    response = await h.client.post("/v1/appointments", json=with_field(field, value), headers=h.auth())
    assert response.status_code == 422, response.text
    assert located(response) == [(["body", *field], kind)]
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("case", NOTES_HOSTILE)
async def test_notes_refuse_the_same_but_keep_line_breaks(h: Harness, case: str) -> None:
    value, kind = NOTES_HOSTILE[case]
    response = await h.client.post("/v1/appointments", json=with_field(("notes",), value), headers=h.auth())
    assert response.status_code == 422
    assert located(response) == [(["body", "notes"], kind)]
    kept = await h.create(with_field(("notes",), "Bring:\r\n\t- the contract\r\n\t- the badge"))
    assert kept["notes"] == "Bring:\n\t- the contract\n\t- the badge"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"title": "Visit\r\nX-Injected: 1"}, ["body", "title"]),
        ({"notes": "a\u2066b"}, ["body", "notes"]),
        ({"guests": [{"name": "\u200b", "email": "g@example.com"}]}, ["body", "guests", 0, "name"]),
        (
            {"guests": [{"name": "G", "company": "A\x1bB", "email": "g@example.com"}]},
            ["body", "guests", 0, "company"],
        ),
    ],
)
async def test_patch_refuses_hostile_text_and_changes_nothing(
    h: Harness, body: dict[str, Any], loc: list[Any]
) -> None:
    created = await h.create()
    url = f"/v1/appointments/{created['appointment_id']}"
    response = await h.client.patch(url, json=body, headers=h.auth() | {"If-Match": '"1"'})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [loc]
    assert (await h.client.get(url, headers=h.auth())).json()["version"] == 1


async def test_cancel_reason_is_checked_too(h: Harness) -> None:
    created = await h.create()
    url = f"/v1/appointments/{created['appointment_id']}/cancel"
    response = await h.client.post(url, json={"reason": "x\x00"}, headers=h.auth() | {"If-Match": '"1"'})
    assert response.status_code == 422 and located(response)[0][0] == ["body", "reason"]


async def test_text_is_stored_in_nfc_and_the_provider_event_is_clean(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    body = create_body(future(3), title="Cafe\u0301 meeting")
    body["guests"][0]["company"] = "Zoe\u0308 KK"
    created = await h.create(body)
    assert created["title"] == "Caf\u00e9 meeting"
    assert created["guests"][0]["company"] == "Zo\u00eb KK"
    outbox = await h.outbox(created["appointment_id"])
    event = next(json.loads(e["payload"]) for e in outbox if e["topic"] == topics.GOOGLE_APPOINTMENTS)
    assert event["data"]["appointment"]["title"] == "Caf\u00e9 meeting"


async def test_ordinary_japanese_text_passes(h: Harness) -> None:
    body = create_body(future(3), future(4), title="定例打ち合わせ")
    body["guests"][0] |= {"name": "佐藤 花子", "company": "株式会社アクメ"}
    body["notes"] = "受付で名前をお伝えください。\n駐車場あり"
    created = await h.create(body)
    assert (created["title"], created["guests"][0]["name"]) == ("定例打ち合わせ", "佐藤 花子")
    reschedule = {"candidates": [slot_json(future(6))]}
    url = f"/v1/appointments/{created['appointment_id']}/reschedule"
    assert (
        await h.client.post(url, json=reschedule, headers=h.auth() | {"If-Match": '"1"'})
    ).status_code == 200


async def test_a_lone_surrogate_escape_is_a_422_not_a_500(h: Harness) -> None:
    raw = json.dumps(create_body()).replace('"Quarterly review"', '"Visit \\ud800"')
    response = await h.client.post(
        "/v1/appointments", content=raw, headers=h.auth() | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "title"]
