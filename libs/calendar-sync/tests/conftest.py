"""Fixtures for the sync engine's tests: a fake provider, fake tokens, in-memory stores and a
status sink that records what was published."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from calendar_sync.engine import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    EVENT_INDEX_COLLECTION,
    AppliedStateRepository,
    ConnectionSyncRepository,
    RetryPolicy,
    StatusPublisher,
    SyncEngine,
)
from calendar_sync.testing import FakeCalendarProvider, FakeTokens, make_snapshot
from visitor_common.events import AppointmentSnapshot, CalendarSyncStatusReported, CloudEvent, Provider
from visitor_common.persistence import InMemoryDocumentStore


class Recorder:
    """Collects published envelopes: ``(topic, event)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, CloudEvent[Any]]] = []

    async def __call__(self, topic: str, event: CloudEvent[Any]) -> None:
        self.sent.append((topic, event))

    @property
    def statuses(self) -> list[CalendarSyncStatusReported]:
        return [e.data for _, e in self.sent if isinstance(e.data, CalendarSyncStatusReported)]


class FakeSleep:
    """A fake clock for retries: records the waits, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def snapshot_factory() -> Callable[..., AppointmentSnapshot]:
    return make_snapshot


@pytest.fixture
def fake_provider() -> FakeCalendarProvider:
    return FakeCalendarProvider()


@pytest.fixture
def fake_tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def memory_store() -> InMemoryDocumentStore:
    return InMemoryDocumentStore()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def states(memory_store: InMemoryDocumentStore) -> AppliedStateRepository:
    return AppliedStateRepository(
        memory_store.collection(APPLIED_COLLECTION), memory_store.collection(EVENT_INDEX_COLLECTION)
    )


@pytest.fixture
def connection_repo(memory_store: InMemoryDocumentStore) -> ConnectionSyncRepository:
    return ConnectionSyncRepository(memory_store.collection(CONNECTIONS_COLLECTION))


def engine_on(
    provider: FakeCalendarProvider,
    tokens: FakeTokens,
    states: AppliedStateRepository,
    recorder: Recorder,
    sleep: FakeSleep | None = None,
) -> SyncEngine:
    """An engine on fakes: four attempts per call, no real waiting, no jitter."""
    return SyncEngine(
        provider,
        tokens,
        states,
        StatusPublisher(recorder, provider=Provider.GOOGLE, source="test"),
        policy=RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0, max_retry_after=10.0),
        sleep=sleep or FakeSleep(),
        rng=lambda: 0.5,
    )


@pytest.fixture
def engine(
    fake_provider: FakeCalendarProvider,
    fake_tokens: FakeTokens,
    states: AppliedStateRepository,
    recorder: Recorder,
    fake_sleep: FakeSleep,
) -> SyncEngine:
    return engine_on(fake_provider, fake_tokens, states, recorder, fake_sleep)
