"""Event writes issued together go to the Google emulator as one batch request over HTTPS, and
each caller gets its own answer (no broker)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calendar_google.adapters.batch import GoogleBatchCodec
from calendar_google.adapters.google_api import GoogleCalendarProvider
from calendar_sync.adapters.batching import BatchingTransport
from calendar_sync.core import CalendarEntry, EntryKind, EventMeta, EventNotFound, ProviderAccess
from provider_emulators.core import EmulatorServer
from provider_emulators.google.testing import GoogleControl, SeededWorld

pytestmark = pytest.mark.e2e

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=5)


def entry(key: str, hours: int, *, hold: bool = True) -> CalendarEntry:
    return CalendarEntry(
        key=key,
        kind=EntryKind.HOLD if hold else EntryKind.CONFIRMED,
        start=START + timedelta(hours=hours),
        end=START + timedelta(hours=hours + 1),
        title="[仮押さえ] Visit" if hold else "Visit",
        tentative=hold,
    )


def meta(key: str, version: int = 1) -> EventMeta:
    return EventMeta(appointment_id="ap-batch", tenant_id="t1", appointment_version=version, entry_key=key)


@pytest.fixture
async def google(google_emulator: EmulatorServer) -> AsyncIterator[GoogleCalendarProvider]:
    inner = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=str(google_emulator.ca_path)))
    transport = BatchingTransport(inner, GoogleBatchCodec(google_emulator.base_url))
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        yield GoogleCalendarProvider(
            http, calendar_base_url=google_emulator.base_url, directory_base_url=google_emulator.base_url
        )


@pytest.fixture
def access(control: GoogleControl, world: SeededWorld) -> ProviderAccess:
    minted = control.mint_token(world.member, world.client_id)
    return ProviderAccess("conn-batch", world.member, minted["access_token"], "t1")


async def test_writes_issued_together_travel_as_one_batch_and_answer_each_caller(
    google: GoogleCalendarProvider, access: ProviderAccess, control: GoogleControl, world: SeededWorld
) -> None:
    keys = [f"slot:{n}-{time.time_ns()}" for n in range(3)]
    created = [
        await google.create_event(access, google.client_id_for(meta(k), 1), entry(k, n), meta(k))
        for n, k in enumerate(keys)
    ]
    since = time.time()
    keep, gone = created[0], created[1]
    updated, deleted, not_found = await asyncio.gather(
        google.update_event(access, keep.event_id, entry(keys[0], 0, hold=False), meta(keys[0], 2), None),
        google.delete_event(access, gone.event_id),
        google.delete_event(access, "nosucheventid0123"),
        return_exceptions=True,
    )

    assert not isinstance(updated, BaseException) and updated.event_id == keep.event_id
    assert not updated.tentative
    assert deleted is None
    assert isinstance(not_found, EventNotFound)  # its own answer, not the batch's
    calls = [call for _, _, call in control.calls(since)]
    assert calls.count("POST /batch/calendar/v3") == 1  # one round trip for the three writes
    assert sorted(c.split(" ")[0] for c in calls if "/events/" in c) == ["DELETE", "DELETE", "PATCH"]
    live = {e["id"]: e for e in control.events(world.member) if e.get("status") != "cancelled"}
    assert keep.event_id in live and gone.event_id not in live and created[2].event_id in live
    assert live[keep.event_id]["summary"] == "Visit"


async def test_a_write_alone_goes_out_as_it_came(
    google: GoogleCalendarProvider, access: ProviderAccess, control: GoogleControl
) -> None:
    key = f"slot:alone-{time.time_ns()}"
    since = time.time()
    made = await google.create_event(access, google.client_id_for(meta(key), 1), entry(key, 9), meta(key))
    calls = [call for _, _, call in control.calls(since)]
    assert calls == ["POST /calendar/v3/calendars/primary/events"] and made.event_id
