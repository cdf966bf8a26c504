"""The sealed guest messages (decision 0008): on create and on a reissued link an invitation with
the absolute guest link, on confirmation one with the reception code, each on the guest-message
topic only, in the same outbox write as the change; sealed, so no payload holds the secret."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from appointments_testkit import Harness, create_body, unit_settings
from pydantic import ValidationError

from appointments_service.settings import Settings
from visitor_common.events import GuestConfirmationRequested, GuestInvitationRequested, parse_event
from visitor_common.events.notifications import GUEST_URL_FIELD, RECEPTION_CODE_FIELD
from visitor_common.sealing import Sealer, SealError, seal_context
from visitor_common.topics import GUEST_MESSAGES

KEYS = {"k1": Sealer.generate_key()}
SEALER = Sealer.from_config(KEYS)
BASE = "https://visit.example.co.jp/g"


@pytest.fixture
async def sealed(make_harness: Callable[..., Any]) -> AsyncIterator[Harness]:
    settings = unit_settings(mail_seal_keys=json.dumps(KEYS), guest_base_url=BASE)
    async with make_harness(settings) as harness:
        yield harness


def guest_messages(entries: list[dict[str, Any]]) -> list[Any]:
    return [parse_event(e["payload"]).data for e in entries if e["topic"] == GUEST_MESSAGES]


async def test_create_and_reissue_each_invite_with_the_sealed_absolute_link(sealed: Harness) -> None:
    created = await sealed.create()
    appointment_id = created["appointment_id"]
    assert created["guest_url"] == f"{BASE}/{created['guest_token']}"
    entries = await sealed.outbox(appointment_id)
    (invitation,) = guest_messages(entries)
    assert isinstance(invitation, GuestInvitationRequested)
    assert invitation.appointment.appointment_id == appointment_id
    assert invitation.link_expires_at is not None
    assert (
        SEALER.open(invitation.guest_url, seal_context(appointment_id, GUEST_URL_FIELD))
        == created["guest_url"]
    )
    with pytest.raises(SealError):  # bound to its appointment and field
        SEALER.open(invitation.guest_url, seal_context("another", GUEST_URL_FIELD))
    assert all(created["guest_token"] not in e["payload"] for e in entries)
    assert [e["topic"] for e in entries].count(GUEST_MESSAGES) == 1

    reissued = await sealed.client.post(
        f"/v1/appointments/{appointment_id}/guest-link", headers={**sealed.auth(), "If-Match": '"1"'}
    )
    assert reissued.status_code == 201, reissued.text
    second = guest_messages(await sealed.outbox(appointment_id))[-1]
    opened = SEALER.open(second.guest_url, seal_context(appointment_id, GUEST_URL_FIELD))
    assert opened == reissued.json()["guest_url"] != created["guest_url"]


async def test_confirmation_carries_the_sealed_code_once(sealed: Harness) -> None:
    created = await sealed.create()
    appointment_id, slot_id = created["appointment_id"], created["candidates"][0]["slot_id"]
    pick = f"/v1/guest/appointments/{created['guest_token']}/pick"
    code = (await sealed.client.post(pick, json={"slot_id": slot_id})).json()["reception_code"]
    again = await sealed.client.post(pick, json={"slot_id": slot_id})
    assert again.json()["reception_code"] == code
    messages = guest_messages(await sealed.outbox(appointment_id))
    confirmations = [m for m in messages if isinstance(m, GuestConfirmationRequested)]
    assert len(confirmations) == 1  # the repeated pick wrote nothing
    (confirmation,) = confirmations
    assert confirmation.appointment.confirmed_slot_id == slot_id
    assert (
        SEALER.open(confirmation.reception_code, seal_context(appointment_id, RECEPTION_CODE_FIELD)) == code
    )
    sealed_field = [
        json.loads(e["payload"])["data"]["reception_code"]
        for e in await sealed.outbox(appointment_id)
        if e["topic"] == GUEST_MESSAGES and "reception_code" in json.loads(e["payload"])["data"]
    ]
    assert sealed_field and all(set(f) == {"kid", "nonce", "ciphertext"} for f in sealed_field)


async def test_without_seal_keys_no_guest_messages_are_produced(h: Harness) -> None:
    created = await h.create(create_body())
    assert guest_messages(await h.outbox(created["appointment_id"])) == []


def test_seal_keys_need_an_absolute_guest_link() -> None:
    with pytest.raises(ValidationError, match="guest_base_url"):
        Settings(mail_seal_keys=json.dumps(KEYS), kafka_enabled=False)
    assert Settings(mail_seal_keys=json.dumps(KEYS), guest_base_url=BASE, kafka_enabled=False).mail_sealer()


async def test_the_guest_page_shows_the_code_and_host_once_confirmed(h: Harness) -> None:
    created = await h.create()
    link = f"/v1/guest/appointments/{created['guest_token']}"
    before = (await h.client.get(link)).json()
    assert before["reception_code"] is None and before["host_name"] is None
    slot_id = created["candidates"][0]["slot_id"]
    code = (await h.client.post(f"{link}/pick", json={"slot_id": slot_id})).json()["reception_code"]
    reopened = (await h.client.get(link)).json()
    assert reopened["status"] == "confirmed" and reopened["reception_code"] == code
    assert reopened["host_name"] == "host@example.co.jp"
