"""The engine runs the operations of one plan phase at once (issue 14: a confirmation's two
releases and its update were three provider round trips one after another; now one): releases
still come before every write that claims a time or a room, and calls that run at once share one
token refresh."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from calendar_sync.core.model import CalendarEntry, EventMeta, ProviderAccess, ProviderEvent
from calendar_sync.engine import AppliedStateRepository, SyncEngine
from calendar_sync.testing import FakeCalendarProvider, FakeTokens, make_snapshot
from visitor_common.events import AppointmentStatus, SyncFailureReason, SyncState

from .conftest import Recorder, engine_on


@dataclass
class SlowProvider(FakeCalendarProvider):
    """The fake calendar, with each write taking a few event-loop turns (as a real round trip
    does), counting how many are in flight at once and in which order they finished."""

    in_flight: int = 0
    most_in_flight: int = 0
    trips: list[str] = field(default_factory=list)  # "+method" when a call starts, "-method" when done

    async def _round_trip(self, method: str) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.trips.append(f"+{method}")
        for _ in range(3):
            await asyncio.sleep(0)
        self.trips.append(f"-{method}")
        self.in_flight -= 1

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        await self._round_trip("create")
        return await super().create_event(access, client_id, entry, meta)

    async def update_event(
        self, access: ProviderAccess, event_id: str, entry: CalendarEntry, meta: EventMeta, etag: str | None
    ) -> ProviderEvent:
        await self._round_trip("update")
        return await super().update_event(access, event_id, entry, meta, etag)

    async def delete_event(self, access: ProviderAccess, event_id: str) -> None:
        await self._round_trip("delete")
        await super().delete_event(access, event_id)


async def three_holds_written(
    fake_tokens: FakeTokens, states: AppliedStateRepository, recorder: Recorder
) -> tuple[SlowProvider, SyncEngine]:
    """A proposal's three holds written (at once, one phase), the provider's counts reset."""
    provider = SlowProvider()
    engine = engine_on(provider, fake_tokens, states, recorder)
    assert (await engine.apply(make_snapshot(slots=3))).state is SyncState.SYNCED
    assert provider.most_in_flight == 3  # the three holds were created at once
    provider.most_in_flight = 0
    provider.calls.clear()
    provider.trips.clear()
    return provider, engine


async def test_a_confirmation_releases_both_other_holds_and_updates_the_chosen_one_at_once(
    fake_tokens: FakeTokens, states: AppliedStateRepository, recorder: Recorder
) -> None:
    provider, engine = await three_holds_written(fake_tokens, states, recorder)

    confirmed = make_snapshot(version=2, slots=3, status=AppointmentStatus.CONFIRMED, confirmed="s1")
    result = await engine.apply(confirmed)

    assert result.state is SyncState.SYNCED
    # the chosen hold keeps its time and room, so its patch claims nothing a release frees
    assert provider.most_in_flight == 3
    assert sorted(method for method, _ in provider.calls) == ["delete_event", "delete_event", "update_event"]
    (live,) = provider.live()
    assert not live.tentative


async def test_an_update_that_moves_an_event_waits_for_the_releases(
    fake_tokens: FakeTokens, states: AppliedStateRepository, recorder: Recorder
) -> None:
    provider, engine = await three_holds_written(fake_tokens, states, recorder)

    # v2 drops the third candidate and moves the other two by half an hour
    result = await engine.apply(make_snapshot(version=2, slots=2, shift_minutes=30))

    assert result.state is SyncState.SYNCED
    assert provider.trips[:2] == ["+delete", "-delete"]  # the release, alone and done first
    assert sorted(provider.trips[2:]) == ["+update", "+update", "-update", "-update"]


async def test_calls_rejected_at_once_for_an_expired_token_share_one_refresh(
    fake_tokens: FakeTokens, states: AppliedStateRepository, recorder: Recorder
) -> None:
    provider = SlowProvider(valid_tokens={"token-2"})  # token-1, the first one issued, is expired
    engine = engine_on(provider, fake_tokens, states, recorder)

    result = await engine.apply(make_snapshot(slots=3))

    assert result.state is SyncState.SYNCED  # not reauth_required: one refresh served all three
    assert fake_tokens.refreshes == 1
    assert len(provider.live()) == 3


async def test_a_refreshed_token_minted_before_the_same_expiry_is_refreshed_once_more(
    fake_tokens: FakeTokens, states: AppliedStateRepository, recorder: Recorder
) -> None:
    """The tokens expire while a refresh is in flight: the token it brings back (token-2) was
    minted just before and is refused as well. That is no reason to tell the host to link the
    calendar again; the next refresh (token-3) works, and the three calls share each refresh."""
    provider = SlowProvider(valid_tokens={"token-3"})
    engine = engine_on(provider, fake_tokens, states, recorder)

    result = await engine.apply(make_snapshot(slots=3))

    assert result.state is SyncState.SYNCED
    assert fake_tokens.refreshes == 2
    assert len(provider.live()) == 3


async def test_a_refresh_that_failed_is_not_taken_for_a_rejected_fresh_token(
    fake_tokens: FakeTokens, states: AppliedStateRepository, recorder: Recorder
) -> None:
    """Three calls rejected at once; the first one's refresh fails (the auth service is
    restarting). The next call refreshes again instead of concluding that even a refreshed token
    is refused (``reauth_required``, which would tell the host to link the calendar again)."""
    provider = SlowProvider(valid_tokens={"token-2"})
    engine = engine_on(provider, fake_tokens, states, recorder)
    fake_tokens.unavailable = 1

    first = await engine.apply(make_snapshot(slots=3))

    assert first.reason is SyncFailureReason.PROVIDER_UNAVAILABLE and first.retry_later
    assert len(provider.live()) == 2  # the other two calls went through on the one refresh
    assert fake_tokens.refreshes == 1
    again = await engine.apply(make_snapshot(slots=3))
    assert again.state is SyncState.SYNCED and len(provider.live()) == 3
