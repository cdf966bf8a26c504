"""Reception codes: unique among a tenant's active appointments (partial unique index + retry)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from appointments_testkit import Harness, create_body, future

from appointments_service.adapters.repository import APPOINTMENT_INDEXES, RECEPTION_CODE_INDEX
from appointments_service.domain import rules


def scripted(monkeypatch: pytest.MonkeyPatch, codes: list[str]) -> list[str]:
    """Make the code generator return ``codes`` in order (recording what was drawn)."""
    drawn: list[str] = []
    source: Iterator[str] = iter(codes)

    def next_code() -> str:
        code = next(source)
        drawn.append(code)
        return code

    monkeypatch.setattr(rules, "new_reception_code", next_code)
    return drawn


async def confirm(h: Harness, created: dict[str, Any], index: int = 0) -> Any:
    slot_id = created["candidates"][index]["slot_id"]
    return await h.client.post(
        f"/v1/guest/appointments/{created['guest_token']}/pick", json={"slot_id": slot_id}
    )


def test_the_store_has_a_partial_unique_index_on_active_codes() -> None:
    (index,) = [i for i in APPOINTMENT_INDEXES if i.name == RECEPTION_CODE_INDEX]
    assert index.fields == ("tenant_id", "reception.code")
    assert dict(index.partial) == {"reception.active": True}


async def test_a_taken_code_is_drawn_again(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = scripted(monkeypatch, ["123456", "123456", "654321"])
    first = await confirm(h, await h.create())
    second = await confirm(h, await h.create())
    assert first.json()["reception_code"] == "123456"
    assert second.status_code == 200 and second.json()["reception_code"] == "654321"
    assert drawn == ["123456", "123456", "654321"]


async def test_other_tenants_may_hold_the_same_code(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(monkeypatch, ["111111", "111111"])
    await confirm(h, await h.create())
    other = await confirm(h, await h.create(tenant="t2"))
    assert other.json()["reception_code"] == "111111"


async def test_a_cancelled_appointment_frees_its_code(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(monkeypatch, ["222222", "222222"])
    created = await h.create()
    await confirm(h, created)
    cancel = await h.client.post(
        f"/v1/appointments/{created['appointment_id']}/cancel", headers=h.auth() | {"If-Match": '"2"'}
    )
    assert cancel.status_code == 200 and cancel.json()["reception_code"] == "222222"
    again = await confirm(h, await h.create())
    assert again.json()["reception_code"] == "222222"


async def test_a_past_appointment_frees_its_code(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = scripted(monkeypatch, ["333333", "333333", "333333"])
    await confirm(h, await h.create(create_body(future(1), future(2))))
    h.clock.advance(timedelta(days=3))
    again = await confirm(h, await h.create(create_body(future(6))))
    assert again.status_code == 200 and again.json()["reception_code"] == "333333"
    assert len(drawn) == 3  # collided once, released the past holder, then won


async def test_no_free_code_after_the_attempts_is_a_clear_error(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch, ["444444"] * 100)
    await confirm(h, await h.create())
    created = await h.create()
    response = await confirm(h, created)
    assert response.status_code == 503 and response.json()["code"] == "reception_code_unavailable"
    stored = (await h.client.get(f"/v1/appointments/{created['appointment_id']}", headers=h.auth())).json()
    assert stored["status"] == "proposed" and stored["version"] == 1
