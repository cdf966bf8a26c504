"""The scale bench's seeding (``devstack.bench_scale.seed_appointments``) on a real stack, at 20
appointments: what each service holds agrees with the others and with the emulator, and the
seeded appointments behave like proposed ones — a guest's pick confirms one end to end, and an
edit of a seeded hold in the calendar is noticed through the push channel. Measures nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from calendar_google.domain.mapping import parse_event
from calendar_sync.engine import APPLIED_COLLECTION, EVENT_INDEX_COLLECTION, AppliedStateRepository
from devstack import bench_scale
from devstack.bench_e2e import BENCH_OVERRIDES, Bench
from devstack.bench_procs import stack_pids
from devstack.testing import running_stack
from visitor_common.persistence.sqlite import SqliteDocumentStore

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(600)]

SIZE = 20


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Bench, bench_scale.SeededCalendar]]:
    with running_stack(tmp_path, overrides=BENCH_OVERRIDES) as running:
        bench = Bench(running, providers=(bench_scale.PROVIDER,))
        await bench.open()
        try:
            yield bench, await bench_scale.seed_appointments(bench, SIZE, say=lambda _: None)
        finally:
            await bench.close()


async def test_seeded_appointments_are_consistent_and_behave_like_proposed_ones(
    seeded: tuple[Bench, bench_scale.SeededCalendar],
) -> None:
    bench, calendar = seeded
    running, host = bench.running, bench.hosts["google"]
    assert len(calendar.appointments) == SIZE
    assert len({s.appointment_id for s in calendar.appointments}) == SIZE

    # appointments: each reads synced with its three events, after the connector read them all
    for one in calendar.appointments:
        body = (await host.client.get(f"/v1/appointments/{one.appointment_id}/sync")).json()
        assert body["calendar_sync"]["state"] == "synced", body
        assert body["calendar_sync"]["provider_event_ids"] == one.event_ids
        assert len(one.event_ids) == 3

    # the connector's applied state of each matches the emulator's events, event index included
    events = {e["id"]: e for e in running.google.events(calendar.account)}
    store = SqliteDocumentStore(running.stack.sqlite_path("calendar-google"))
    states = AppliedStateRepository(
        store.collection(APPLIED_COLLECTION), store.collection(EVENT_INDEX_COLLECTION)
    )
    try:
        for one in calendar.appointments:
            state = await states.get(one.appointment_id)
            assert state is not None and state.event_ids() == one.event_ids
            assert state.appointment_version == 1 and state.account_email == calendar.account
            for applied in state.entries.values():
                event = parse_event(events[applied.event_id])
                assert event.etag == applied.etag and event.tentative and not event.cancelled
                assert (event.start, event.end, event.title) == (
                    applied.entry.start,
                    applied.entry.end,
                    applied.entry.title,
                )
                assert event.meta is not None and event.meta.appointment_id == one.appointment_id
                assert await states.appointment_for_event(applied.event_id) == one.appointment_id
    finally:
        await store.close()
    starts = sorted(parse_event(e).start for e in events.values() if e["status"] != "cancelled")
    assert len(starts) == len(set(starts))  # no two holds at one time

    # a guest's pick of a seeded appointment confirms it end to end: held slot confirmed, others released
    picked = calendar.appointments[-1]
    answer = await bench.guests.post(
        f"/v1/guest/appointments/{picked.guest_token}/pick", json={"slot_id": picked.slot_id}
    )
    assert answer.status_code == 200, answer.text
    await host.wait_synced(picked.appointment_id, 2, 1)
    live = {e.event_id: e for e in running.live_events("google", calendar.account)}
    chosen = picked.event_ids[f"slot:{picked.slot_id}"]
    assert chosen in live and not live[chosen].tentative
    assert not [e for e in picked.event_ids.values() if e != chosen and e in live]

    # an edit of a seeded hold in the calendar reaches the connector by push and is reported
    edited = calendar.appointments[SIZE // 2]
    await bench_scale.notifications(running, host, calendar.account, [edited], stack_pids(running))
    body = (await host.client.get(f"/v1/appointments/{edited.appointment_id}/sync")).json()
    assert body["calendar_sync"]["state"] == "drifted"
    assert [d["field"] for d in body["calendar_sync"]["drift"]] == ["title"]


def test_the_sizes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bench_scale.SIZES_ENV, "5, 7")
    assert bench_scale.sizes_from_env() == (5, 7)
    monkeypatch.delenv(bench_scale.SIZES_ENV)
    assert bench_scale.sizes_from_env() == (100, 10_000)


async def test_seeding_refuses_a_stack_on_mongodb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://localhost:27017")
    config = SimpleNamespace(overrides={})
    bench = SimpleNamespace(running=SimpleNamespace(stack=SimpleNamespace(config=config)))
    with pytest.raises(RuntimeError, match="MONGODB_URI"):
        await bench_scale.seed_appointments(bench, 3)  # type: ignore[arg-type]
