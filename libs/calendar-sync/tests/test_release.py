"""Releasing a connection's holds before its grant is revoked (decision 0011)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from calendar_sync.adapters.holds import holds_router
from calendar_sync.core import ProviderRejected
from calendar_sync.engine import SyncEngine
from calendar_sync.engine.release import release_holds
from calendar_sync.testing import FakeCalendarProvider, make_snapshot
from visitor_common.contracts.connections import RELEASE_HOLDS_SCOPE
from visitor_common.events import AppointmentStatus, SyncState
from visitor_common.security import Principal, PrincipalKind
from visitor_common.web import install_problem_handlers


async def test_holds_are_deleted_confirmed_events_and_other_connections_kept(
    engine: SyncEngine, fake_provider: FakeCalendarProvider
) -> None:
    await engine.apply(make_snapshot(appointment_id="a1", slots=3))
    confirmed = await engine.apply(
        make_snapshot(
            appointment_id="a2", slots=2, version=2, status=AppointmentStatus.CONFIRMED, confirmed="s1"
        )
    )
    await engine.apply(make_snapshot(appointment_id="a3", slots=2, connection_id="conn-2"))
    assert len(fake_provider.live()) == 3 + 1 + 2

    released = await release_holds(engine, "conn-1")

    assert (released.released, released.failed) == (3, 0)
    live = fake_provider.live()
    assert {e.event_id for e in live if not e.tentative} == set(confirmed.event_ids.values())
    assert len([e for e in live if e.tentative]) == 2  # conn-2's holds stay
    state = await engine.states.get("a1")
    assert state is not None and state.entries == {}
    again = await release_holds(engine, "conn-1")
    assert (again.released, again.failed) == (0, 0)


async def test_a_hold_that_cannot_be_deleted_is_counted_and_kept(
    engine: SyncEngine, fake_provider: FakeCalendarProvider
) -> None:
    await engine.apply(make_snapshot(appointment_id="a1", slots=2))
    fake_provider.fail("delete_event", ProviderRejected("nope", status=400), times=1)
    released = await release_holds(engine, "conn-1")
    assert (released.released, released.failed) == (1, 1)
    state = await engine.states.get("a1")
    assert state is not None and len(state.entries) == 1  # still known: a later change retries


async def test_a_later_change_after_relinking_writes_the_holds_afresh(
    engine: SyncEngine, fake_provider: FakeCalendarProvider
) -> None:
    first = await engine.apply(make_snapshot(appointment_id="a1", slots=1))
    await release_holds(engine, "conn-1")
    assert fake_provider.live() == []
    again = await engine.apply(make_snapshot(appointment_id="a1", slots=1, version=2))
    assert again.state is SyncState.SYNCED and len(fake_provider.live()) == 1
    assert again.event_ids["slot:s1"] != first.event_ids["slot:s1"]  # a new generation


async def test_the_route_needs_the_auth_services_scope(engine: SyncEngine) -> None:
    async def principal(request: Request) -> Principal:
        kind = PrincipalKind(request.headers.get("x-kind", "employee"))
        return Principal(
            kind=kind, subject="auth", scopes=frozenset(request.headers.get("x-scope", "").split())
        )

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(holds_router(engine, principal))
    path = "/internal/v1/calendar-connections/conn-1/release-holds"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post(path)).status_code == 403
        wrong = await client.post(path, headers={"x-kind": "service", "x-scope": "calendar.tokens"})
        assert wrong.status_code == 403 and wrong.json()["code"] == "scope_missing"
        ok = await client.post(path, headers={"x-kind": "service", "x-scope": RELEASE_HOLDS_SCOPE})
        assert ok.status_code == 200 and ok.json() == {"connection_id": "conn-1", "released": 0, "failed": 0}
