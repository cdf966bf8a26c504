"""Property test beyond the OpenAPI fuzz: plausible-but-odd bodies through create, change and
pick never cause a 5xx, and anything accepted satisfies the scheduling rules."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import httpx
from appointments_testkit import Clock, FakeDirectory, FakeGateway, Keys, unit_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appointments_service.bootstrap import create_app
from visitor_common.events import Provider

KEYS = Keys()
NOW = datetime.now(UTC)

offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
starts = st.builds(
    lambda minutes, tz: (NOW + timedelta(minutes=minutes)).astimezone(tz).replace(second=0, microsecond=0),
    st.integers(min_value=-3 * 24 * 60, max_value=400 * 24 * 60),
    offsets,
)
slot = st.fixed_dictionaries(
    {"start": starts.map(lambda d: d.isoformat())},
    optional={
        "end": starts.map(lambda d: d.isoformat()),
        "room": st.fixed_dictionaries({"email": st.emails()}, optional={"name": st.text(max_size=210)}),
    },
)
guest = st.fixed_dictionaries(
    {"name": st.text(max_size=110), "email": st.emails() | st.text(max_size=20)},
    optional={"company": st.none() | st.text(max_size=210)},
)
odd_bodies = st.fixed_dictionaries(
    {
        "title": st.text(max_size=210),
        "guests": st.lists(guest, max_size=3),
        "duration_minutes": st.sampled_from([0, 5, 30, 60, 90, 720, 721]) | st.integers(-5, 10_000),
        "candidates": st.lists(slot, max_size=11),
    },
    optional={
        "notes": st.none() | st.text(max_size=2010),
        "hold_candidates": st.booleans(),
        "any_free_room": st.booleans(),
    },
)

hourly = st.builds(
    lambda hours, tz: (NOW + timedelta(hours=hours)).astimezone(tz).replace(second=0, microsecond=0),
    st.integers(min_value=1, max_value=24 * 300),
    offsets,
)
plausible_bodies = st.fixed_dictionaries(
    {
        "title": st.text(min_size=1, max_size=200).filter(str.strip),
        "guests": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(min_size=1, max_size=100).filter(str.strip), "email": st.emails()},
                optional={"company": st.text(max_size=200)},
            ),
            min_size=1,
            max_size=3,
        ),
        "duration_minutes": st.just(60),
        "candidates": st.lists(
            st.builds(
                lambda start, room: (
                    {"start": start.isoformat()} | ({"room": {"email": room}} if room else {})
                ),
                hourly,
                st.none() | st.sampled_from(["room-a@example.co.jp", "room-b@example.co.jp"]),
            ),
            min_size=1,
            max_size=10,
        ),
    },
    optional={
        "notes": st.text(max_size=2000),
        "hold_candidates": st.booleans(),
        "any_free_room": st.booleans(),
    },
)
bodies = plausible_bodies | odd_bodies


async def exercise(body: dict[str, Any], linked: bool, if_match: str, slot_index: int) -> None:
    directory = FakeDirectory()
    if linked:
        directory.link("t1", "e1", Provider.GOOGLE)
    app = create_app(
        unit_settings(), verifier=KEYS.verifier(), directory=directory, gateway=FakeGateway(), clock=Clock()
    )
    headers = {"Authorization": f"Bearer {KEYS.mint()}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        created = await client.post("/v1/appointments", json=body, headers=headers)
        assert created.status_code in {201, 409, 422}, created.text
        if created.status_code != 201:
            return
        appointment = created.json()
        spans = sorted(
            (datetime.fromisoformat(c["start"]), datetime.fromisoformat(c["end"]))
            for c in appointment["candidates"]
        )
        assert len(spans) == len(body["candidates"])  # every proposed slot kept, none invented
        assert all(end <= later for (_, end), (later, _) in pairwise(spans))  # no two overlap
        url = f"/v1/appointments/{appointment['appointment_id']}"
        changed = await client.patch(
            url, json={"title": body["title"]}, headers=headers | {"If-Match": if_match}
        )
        assert changed.status_code < 500, changed.text
        candidates = appointment["candidates"]
        pick = await client.post(
            f"/v1/guest/appointments/{appointment['guest_token']}/pick",
            json={"slot_id": candidates[slot_index % len(candidates)]["slot_id"]},
        )
        assert pick.status_code in {200, 409}, pick.text
        moved = await client.post(
            f"{url}/reschedule",
            json={"candidates": body["candidates"][:1]},
            headers=headers | {"If-Match": if_match},
        )
        assert moved.status_code < 500, moved.text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies, st.booleans(), st.sampled_from(['"1"', '"2"', 'W/"1"', "*", "junk"]), st.integers(0, 9))
def test_odd_bodies_never_cause_a_server_error(
    body: dict[str, Any], linked: bool, if_match: str, slot_index: int
) -> None:
    asyncio.run(exercise(body, linked, if_match, slot_index))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        # at least an hour ahead when the test runs, which may be minutes after NOW (import time)
        st.integers(min_value=2, max_value=24 * 60).map(
            lambda h: (NOW + timedelta(hours=h)).replace(minute=0)
        ),
        min_size=1,
        max_size=10,
        unique=True,
    ),
    offsets,
)
def test_valid_bodies_are_accepted(slot_starts: list[datetime], tz: timezone) -> None:
    spaced = sorted(slot_starts)
    if any(b - a < timedelta(hours=1) for a, b in itertools.pairwise(spaced)):
        return
    body = {
        "title": "Visit",
        "guests": [{"name": "G", "email": "g@example.com"}],
        "duration_minutes": 60,
        "candidates": [{"start": s.astimezone(tz).isoformat()} for s in slot_starts],
    }

    async def run() -> None:
        app = create_app(
            unit_settings(), verifier=KEYS.verifier(), directory=FakeDirectory(), gateway=FakeGateway()
        )
        headers = {"Authorization": f"Bearer {KEYS.mint()}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post("/v1/appointments", json=body, headers=headers)
            assert response.status_code == 201, response.text

    asyncio.run(run())
