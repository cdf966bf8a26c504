"""Creates with an unknown outcome (the fault suite: a connector killed between the provider's
answer and its own store made a hold nobody recorded; the redelivered create then failed for
good, and the confirmation that followed left that hold on the host's calendar).

A create that fails is kept as unsettled; the next plan repeats it under the same id where the
entry is still wanted, and makes sure its event is gone where it is not."""

from __future__ import annotations

from dataclasses import dataclass, field

from calendar_sync.core import TransientProviderError
from calendar_sync.core.model import CalendarEntry, EventMeta, ProviderAccess, ProviderEvent
from calendar_sync.engine import AppliedStateRepository, SyncEngine
from calendar_sync.engine.state import APPLIED_COLLECTION, EVENT_INDEX_COLLECTION
from calendar_sync.testing import FakeCalendarProvider, FakeTokens, make_snapshot
from visitor_common.events import AppointmentSnapshot, AppointmentStatus, SyncState
from visitor_common.persistence.memory import InMemoryDocumentStore

from .conftest import Recorder, engine_on


@dataclass
class RefusingCreates(FakeCalendarProvider):
    """The fake calendar, where creates of the entries in ``refused`` fail as a provider that
    stays unavailable does (after the engine's retries: the create fails for good)."""

    refused: set[str] = field(default_factory=set)

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        if meta.entry_key in self.refused:
            raise TransientProviderError("unavailable", status=503, reason="backendError")
        return await super().create_event(access, client_id, entry, meta)


def engine_with(provider: FakeCalendarProvider, states: AppliedStateRepository) -> SyncEngine:
    return engine_on(provider, FakeTokens(), states, Recorder())


def fresh_states() -> AppliedStateRepository:
    store = InMemoryDocumentStore()
    return AppliedStateRepository(
        store.collection(APPLIED_COLLECTION), store.collection(EVENT_INDEX_COLLECTION)
    )


def confirmed(slot: str, version: int = 2) -> AppointmentSnapshot:
    return make_snapshot(version=version, slots=2, status=AppointmentStatus.CONFIRMED, confirmed=slot)


async def holds_made_then_forgotten(provider: RefusingCreates) -> None:
    """Both holds of a two-slot proposal made at the provider by a connector that died before
    storing them: what it wrote lives on in a store nobody reads again."""
    made = await engine_with(provider, fresh_states()).apply(make_snapshot(slots=2))
    assert made.state is SyncState.SYNCED and len(provider.live()) == 2


async def redelivered_proposal_refused_on_s2(
    provider: RefusingCreates,
) -> tuple[SyncEngine, AppliedStateRepository]:
    """After the kill: the redelivered proposal adopts s1's hold, and s2's create is refused."""
    await holds_made_then_forgotten(provider)
    states = fresh_states()
    engine = engine_with(provider, states)
    provider.refused = {"slot:s2"}
    failed = await engine.apply(make_snapshot(slots=2))
    assert failed.state is SyncState.FAILED and failed.retry_later
    saved = await states.get("appt-1")
    assert saved is not None and set(saved.unsettled) == {"slot:s2"}
    return engine, states


async def test_a_hold_made_before_a_kill_and_then_refused_is_released_by_the_confirmation() -> None:
    provider = RefusingCreates()
    engine, states = await redelivered_proposal_refused_on_s2(provider)
    provider.refused = set()

    result = await engine.apply(confirmed("s1"))

    assert result.state is SyncState.SYNCED
    live = provider.live()
    assert [(e.event_id, e.tentative) for e in live] == [(result.event_ids["slot:s1"], False)]
    saved = await states.get("appt-1")
    assert saved is not None and saved.unsettled == {}


async def test_an_unsettled_create_still_wanted_is_repeated_under_its_id_and_not_duplicated() -> None:
    provider = RefusingCreates()
    engine, states = await redelivered_proposal_refused_on_s2(provider)
    provider.refused = set()

    retried = await engine.apply(make_snapshot(slots=2))

    assert retried.state is SyncState.SYNCED
    assert sorted(e.event_id for e in provider.live()) == sorted(retried.event_ids.values())
    saved = await states.get("appt-1")
    assert saved is not None and saved.unsettled == {} and len(saved.entries) == 2


async def test_an_unsettled_create_that_never_reached_the_provider_leaves_nothing_behind() -> None:
    provider = RefusingCreates(refused={"slot:s2"})
    states = fresh_states()
    engine = engine_with(provider, states)
    await engine.apply(make_snapshot(slots=2))  # s2 was never made
    provider.refused = set()

    result = await engine.apply(confirmed("s1"))

    assert result.state is SyncState.SYNCED
    assert [e.event_id for e in provider.live()] == [result.event_ids["slot:s1"]]


async def test_a_settle_that_fails_for_now_is_tried_again_by_the_next_change() -> None:
    provider = RefusingCreates()
    engine, _ = await redelivered_proposal_refused_on_s2(provider)

    still_refused = await engine.apply(confirmed("s1"))  # the settle's create is refused too
    assert still_refused.state is SyncState.FAILED and still_refused.retry_later
    provider.refused = set()
    result = await engine.apply(confirmed("s1"))

    assert result.state is SyncState.SYNCED
    assert [e.event_id for e in provider.live()] == [result.event_ids["slot:s1"]]
