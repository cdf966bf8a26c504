"""The Graph provider adapter against the Microsoft emulator over HTTPS (no broker)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from calendar_outlook.adapters.graph.batch import GraphBatchCodec
from calendar_outlook.adapters.graph.client import GraphClient
from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_outlook.bootstrap import build
from calendar_outlook.domain import graph_event
from calendar_outlook.settings import Settings
from calendar_sync.adapters.batching import BatchingTransport
from calendar_sync.core.errors import (
    AccessTokenRejected,
    EventNotFound,
    PermissionMissing,
    SyncCursorInvalid,
    TransientProviderError,
)
from calendar_sync.core.model import (
    CalendarEntry,
    EntryKind,
    EventMeta,
    ProviderAccess,
    RoomResponse,
)
from calendar_sync.engine.locks import KeyedLimiter
from visitor_common.events.appointments import RoomRef

pytestmark = pytest.mark.e2e

START = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=3)


@pytest.fixture
async def provider(graph_emulator) -> AsyncIterator[GraphCalendarProvider]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(verify=graph_emulator.ssl_context(), timeout=10) as http:
        client = GraphClient(http, base_url=graph_emulator.base_url, limiter=KeyedLimiter(4))
        yield GraphCalendarProvider(client)


@pytest.fixture
def access(graph_emulator) -> ProviderAccess:  # type: ignore[no-untyped-def]
    tokens = graph_emulator.tokens_for(graph_emulator.world.host)
    return ProviderAccess("conn-1", graph_emulator.world.host, tokens["access_token"], "t1")


def entry(
    key: str = "slot:a", *, room: str | None = "room1@contoso.example", hours: int = 0
) -> CalendarEntry:
    return CalendarEntry(
        key=key,
        kind=EntryKind.HOLD,
        start=START + dt.timedelta(hours=hours),
        end=START + dt.timedelta(hours=hours + 1),
        room=RoomRef(email=room, name="Room 1") if room else None,
        title="[仮押さえ] Visit",
        description="Guest: Gus <gus@example.com>\n\nBring ID",
        tentative=True,
    )


def meta(key: str = "slot:a", version: int = 1) -> EventMeta:
    return EventMeta(appointment_id="ap-1", tenant_id="t1", appointment_version=version, entry_key=key)


async def test_create_is_idempotent_by_transaction_id_and_stamps_ownership(
    provider, access, graph_emulator
) -> None:  # type: ignore[no-untyped-def]
    client_id = provider.client_id_for(meta(), 1)
    first = await provider.create_event(access, client_id, entry(), meta())
    again = await provider.create_event(access, client_id, entry(), meta())
    assert first.event_id == again.event_id
    events = graph_emulator.host_events()
    assert len(events) == 1
    stored = events[0]
    assert stored["transactionId"] == client_id
    assert stored["showAs"] == "tentative"
    assert stored["attendees"][0]["type"] == "resource"
    assert stored["location"]["displayName"] == "Room 1"
    props = {p["id"]: p["value"] for p in stored["singleValueExtendedProperties"]}
    assert graph_event.decode_meta(props[graph_event.META_PROPERTY]) == meta()
    assert first.room_response is RoomResponse.ACCEPTED and first.meta == meta()
    fetched = await provider.get_event(access, first.event_id)
    assert fetched is not None and fetched.is_ours(meta()) and fetched.description == entry().description
    assert fetched.start == START and fetched.tentative is True


async def test_a_busy_room_declines(provider, access) -> None:  # type: ignore[no-untyped-def]
    await provider.create_event(
        access, provider.client_id_for(meta("slot:a"), 1), entry("slot:a"), meta("slot:a")
    )
    clash = await provider.create_event(
        access, provider.client_id_for(meta("slot:b"), 1), entry("slot:b"), meta("slot:b")
    )
    assert clash.room_response is RoomResponse.DECLINED
    assert clash.room_email == "room1@contoso.example"


async def test_update_delete_and_missing_events(provider, access, graph_emulator) -> None:  # type: ignore[no-untyped-def]
    created = await provider.create_event(access, provider.client_id_for(meta(), 1), entry(), meta())
    confirmed = entry().model_copy(update={"kind": EntryKind.CONFIRMED, "title": "Visit", "tentative": False})
    updated = await provider.update_event(access, created.event_id, confirmed, meta(version=2), None)
    assert updated.event_id == created.event_id and updated.tentative is False and updated.title == "Visit"
    assert updated.meta == meta(version=2)
    await provider.delete_event(access, created.event_id)
    assert graph_emulator.host_events() == []
    with pytest.raises(EventNotFound):
        await provider.delete_event(access, created.event_id)
    with pytest.raises(EventNotFound):
        await provider.update_event(access, created.event_id, confirmed, meta(), None)
    assert await provider.get_event(access, created.event_id) is None


async def test_delta_reports_direct_edits_and_deletions(provider, access, graph_emulator) -> None:  # type: ignore[no-untyped-def]
    created = await provider.create_event(access, provider.client_id_for(meta(), 1), entry(), meta())
    first = await provider.list_changes(access, None)
    assert first.full and created.event_id in {e.event_id for e in first.events}
    graph_emulator.control.edit_event(graph_emulator.world.host, created.event_id, {"subject": "Hacked"})
    second = await provider.list_changes(access, first.next_cursor)
    assert [e.title for e in second.events if e.event_id == created.event_id] == ["Hacked"]
    graph_emulator.control.delete_event(graph_emulator.world.host, created.event_id)
    third = await provider.list_changes(access, second.next_cursor)
    assert any(e.event_id == created.event_id and e.cancelled for e in third.events)
    graph_emulator.control.invalidate_delta(graph_emulator.world.host)
    with pytest.raises(SyncCursorInvalid):
        await provider.list_changes(access, third.next_cursor)


async def test_free_busy_and_rooms(provider, access, graph_emulator) -> None:  # type: ignore[no-untyped-def]
    await provider.create_event(access, provider.client_id_for(meta(), 1), entry(), meta())
    world = graph_emulator.world
    busy = await provider.free_busy(
        access,
        [world.host, *world.rooms, "nobody@contoso.example"],
        START - dt.timedelta(hours=1),
        START + dt.timedelta(hours=3),
    )
    assert busy[world.host].busy[0].start == START
    assert busy["room1@contoso.example"].busy and not busy["room2@contoso.example"].busy
    assert busy["nobody@contoso.example"].error == "ErrorMailRecipientNotFound"
    groups = await provider.list_room_groups(access)
    assert [(g.id, g.name) for g in groups] == [(world.room_list, "Tokyo HQ")]
    rooms = await provider.list_rooms(access, world.room_list)
    assert [r.email for r in rooms] == world.rooms and rooms[0].floor == "1F" and rooms[0].capacity == 4


async def test_missing_admin_consent_is_explained(provider, access, graph_emulator) -> None:  # type: ignore[no-untyped-def]
    graph_emulator.control.revoke_admin_consent(
        graph_emulator.world.contoso_id, graph_emulator.world.client_id
    )
    with pytest.raises(PermissionMissing) as caught:
        await provider.list_room_groups(access)
    assert caught.value.code == "admin_consent_required"
    assert "administrator" in caught.value.message


async def test_an_expired_token_is_rejected(provider, access, graph_emulator) -> None:  # type: ignore[no-untyped-def]
    graph_emulator.control.expire_access_tokens(graph_emulator.world.host)
    with pytest.raises(AccessTokenRejected):
        await provider.get_event(access, "AAMkx")


async def test_a_throttled_answer_reaches_the_engine_once_with_its_retry_after(
    provider, access, graph_emulator
) -> None:  # type: ignore[no-untyped-def]
    graph_emulator.control.add_fault(r"^/v1\.0/me/events", status=429, retry_after=7, count=1)
    with pytest.raises(TransientProviderError) as caught:
        await provider.create_event(access, provider.client_id_for(meta(), 1), entry(), meta())
    assert caught.value.retry_after == 7.0 and caught.value.rate_limited
    assert caught.value.reason == "TooManyRequests"
    assert graph_emulator.control.call("GET", "/faults")["faults"][0]["hits"] == 1  # not retried in-line
    assert graph_emulator.host_events() == []


@pytest.fixture
async def batching_provider(graph_emulator) -> AsyncIterator[GraphCalendarProvider]:  # type: ignore[no-untyped-def]
    root = f"{graph_emulator.base_url}/v1.0"
    inner = httpx.AsyncHTTPTransport(verify=graph_emulator.ssl_context())
    transport = BatchingTransport(inner, GraphBatchCodec(root))
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        client = GraphClient(http, base_url=graph_emulator.base_url, limiter=KeyedLimiter(4))
        yield GraphCalendarProvider(client)


async def test_writes_issued_together_travel_as_one_batch_and_answer_each_caller(
    batching_provider, access, graph_emulator
) -> None:  # type: ignore[no-untyped-def]
    provider = batching_provider
    created = [
        await provider.create_event(access, provider.client_id_for(meta(k), 1), entry(k, hours=n), meta(k))
        for n, k in enumerate(("slot:a", "slot:b", "slot:c"))
    ]
    since = time.time()
    keep, gone, missing = created[0], created[1], "AAMkNoSuchEvent"
    confirmed = entry("slot:a", room="room1@contoso.example").model_copy(
        update={"kind": EntryKind.CONFIRMED, "tentative": False, "title": "Visit"}
    )
    results = await asyncio.gather(
        provider.update_event(access, keep.event_id, confirmed, meta("slot:a", 2), None),
        provider.delete_event(access, gone.event_id),
        provider.delete_event(access, missing),
        return_exceptions=True,
    )

    updated, deleted, not_found = results
    assert not isinstance(updated, BaseException) and updated.event_id == keep.event_id
    assert not updated.tentative
    assert deleted is None
    assert isinstance(not_found, EventNotFound)  # its own answer, not the batch's
    calls = [call for _, _, call in graph_emulator.control.calls(since)]
    assert calls.count("POST /v1.0/$batch") == 1  # one round trip for the three writes
    assert sorted(c.split(" ")[0] for c in calls if "/me/events/" in c) == ["DELETE", "DELETE", "PATCH"]
    live = {e["id"]: e for e in graph_emulator.host_events()}
    assert set(live) == {created[0].event_id, created[2].event_id}
    assert live[keep.event_id]["showAs"] == "busy"


async def test_a_write_alone_goes_out_as_it_came(batching_provider, access, graph_emulator) -> None:  # type: ignore[no-untyped-def]
    since = time.time()
    made = await batching_provider.create_event(
        access, batching_provider.client_id_for(meta(), 1), entry(), meta()
    )
    calls = [call for _, _, call in graph_emulator.control.calls(since)]
    assert calls == ["POST /v1.0/me/events"] and made.event_id


@pytest.mark.parametrize(("batch_writes", "batches"), [(True, 1), (False, 0)])
async def test_the_connector_batches_its_writes_unless_told_not_to(  # type: ignore[no-untyped-def]
    graph_emulator, emulator_settings, access, batch_writes: bool, batches: int
) -> None:
    settings = Settings(**emulator_settings, provider_batch_writes=batch_writes)
    connector = build(settings)
    try:
        provider = connector.provider
        made = []
        for n, key in enumerate(("slot:a", "slot:b", "slot:c")):
            client_id = provider.client_id_for(meta(key), 1)
            made.append(await provider.create_event(access, client_id, entry(key, hours=n), meta(key)))
        since = time.time()
        await asyncio.gather(*(provider.delete_event(access, event.event_id) for event in made))
        calls = [call for _, _, call in graph_emulator.control.calls(since)]
        assert calls.count("POST /v1.0/$batch") == batches
        assert sum(1 for call in calls if call.startswith("DELETE /v1.0/me/events/")) == 3
        assert graph_emulator.host_events() == []
    finally:
        await connector.runtime.stop()
