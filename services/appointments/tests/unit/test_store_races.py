"""The store's two races (issue 12), at the service: a change never writes back outbox entries
the relay already removed, and the release of a past visit's reception code is a versioned
write, so a host's edit made concurrently cannot re-activate the code (nor end in a 500)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from appointments_testkit import Harness, create_body, future

from appointments_service.adapters.repository import ReceptionCodeTaken
from appointments_service.domain import rules
from visitor_common.events import Provider
from visitor_common.outbox import OutboxEntry, OutboxRelay

Step = Callable[[], Awaitable[None]]


def scripted_codes(monkeypatch: pytest.MonkeyPatch, codes: list[str]) -> None:
    source = iter(codes)
    monkeypatch.setattr(rules, "new_reception_code", lambda: next(source))


def between_read_and_write(h: Harness, step: Step) -> None:
    """Run ``step`` once, inside the next change, after it read the appointment and before it
    writes: the bound-connection check (R8) lies exactly there."""
    lookup = h.directory.connection
    armed = [True]

    async def connection(connection_id: str) -> Any:
        if armed[0]:
            armed[0] = False
            await step()
        return await lookup(connection_id)

    h.directory.connection = connection  # type: ignore[method-assign]


async def pick(h: Harness, created: dict[str, Any]) -> Any:
    slot_id = created["candidates"][0]["slot_id"]
    return await h.client.post(
        f"/v1/guest/appointments/{created['guest_token']}/pick", json={"slot_id": slot_id}
    )


async def rename(h: Harness, appointment_id: str, if_match: str) -> Any:
    return await h.client.patch(
        f"/v1/appointments/{appointment_id}",
        json={"title": "Renamed"},
        headers=h.auth() | {"If-Match": if_match},
    )


async def get(h: Harness, appointment_id: str) -> Any:
    return await h.client.get(f"/v1/appointments/{appointment_id}", headers=h.auth())


async def test_a_change_does_not_write_back_what_the_relay_already_published(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    published: list[str] = []

    async def record(entry: OutboxEntry) -> None:
        published.append(entry.id)

    relay = OutboxRelay([h.container.repository.appointments], record)
    created = await h.create()
    appointment_id = created["appointment_id"]

    async def relay_round() -> None:
        assert await relay.drain() == 2  # "created", on the lifecycle and the Google topic

    between_read_and_write(h, relay_round)
    assert (await rename(h, appointment_id, '"1"')).status_code == 200
    await relay.drain()  # the rename's own events
    assert await relay.drain() == 0
    assert len(published) == 4 and len(set(published)) == 4, "each entry exactly once"
    assert await h.outbox(appointment_id) == []


async def test_a_host_edit_racing_the_release_of_the_code_is_refused_not_a_500(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    scripted_codes(monkeypatch, ["555555", "555555", "555555"])
    past = await h.create(create_body(future(1), future(2)))
    assert (await pick(h, past)).json()["reception_code"] == "555555"
    h.clock.advance(timedelta(days=3))  # the first visit is over: its code may be freed
    upcoming = await h.create(create_body(future(6)))
    picked: list[Any] = []

    async def guest_picks() -> None:
        # Collides with the past visit's code, frees it (a new version), draws it again, wins.
        picked.append(await pick(h, upcoming))

    # The host renames the past visit at version 2 while the guest's pick frees and retakes
    # its code: the host's write must fail its compare-and-set (412), not write the code
    # back as active (which collides: an uncaught ReceptionCodeTaken, a 500).
    between_read_and_write(h, guest_picks)
    edit = await rename(h, past["appointment_id"], '"2"')
    assert edit.status_code == 412, edit.text
    assert picked[0].status_code == 200 and picked[0].json()["reception_code"] == "555555"

    after = await get(h, past["appointment_id"])
    assert after.json()["version"] == 3 and after.headers["ETag"] == '"3"', "the release is a new version"
    stored = await h.container.repository.appointments.get(past["appointment_id"])
    assert stored["reception"]["active"] is False
    assert len(await h.outbox(past["appointment_id"])) == 4, "the release itself sends no event"
    assert (await rename(h, past["appointment_id"], '"3"')).status_code == 200, "read again, it works"


async def test_a_host_edit_cannot_reactivate_a_code_freed_meanwhile(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    scripted_codes(monkeypatch, ["777777", "777777", "888888", "777777"])
    past = await h.create(create_body(future(1), future(2)))
    await pick(h, past)
    h.clock.advance(timedelta(days=3))
    upcoming = await h.create(create_body(future(6)))

    async def guest_picks() -> None:
        # Collides, frees the past visit's code, then wins with another one.
        assert (await pick(h, upcoming)).json()["reception_code"] == "888888"

    between_read_and_write(h, guest_picks)
    assert (await rename(h, past["appointment_id"], '"2"')).status_code == 412
    stored = await h.container.repository.appointments.get(past["appointment_id"])
    assert stored["reception"]["active"] is False, "the freed code stays free"
    other = await pick(h, await h.create(create_body(future(8))))
    assert other.status_code == 200 and other.json()["reception_code"] == "777777"


async def test_a_code_collision_on_a_host_change_is_a_409_never_a_500(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unreachable with compare-and-set on every write, but a collision that a future race lets
    # through must still be the caller's to retry, not a server fault.
    created = await h.create()
    repository = h.container.repository

    async def collides(*args: object, **kwargs: object) -> None:
        raise ReceptionCodeTaken(created["appointment_id"])

    monkeypatch.setattr(repository, "save", collides)
    response = await rename(h, created["appointment_id"], '"1"')
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"
