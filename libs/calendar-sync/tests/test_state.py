"""The engine's repositories on both document-store adapters (in memory always, MongoDB when
available — the parent conftest's ``store`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calendar_sync.core import AppliedEntry, PushChannel, desired_entries
from calendar_sync.engine import AppliedStateRepository, ConnectionSync, ConnectionSyncRepository, StaleWrite
from calendar_sync.engine.state import is_stale
from calendar_sync.testing import make_snapshot
from visitor_common.persistence import DocumentStore


async def test_applied_state_round_trip_and_compare_and_set(store: DocumentStore) -> None:
    repo = AppliedStateRepository(store.collection("applied_test"))
    await repo.ensure_indexes()
    fresh = await repo.load("a1", "t1", "c1", "host@example.com")
    assert fresh.revision == 0 and fresh.appointment_version == 0
    entry = desired_entries(make_snapshot())[0]
    state = fresh.model_copy(
        update={
            "appointment_version": 3,
            "entries": {entry.key: AppliedEntry(key=entry.key, event_id="abcde", generation=1, entry=entry)},
            "generations": {entry.key: 1},
        }
    )
    saved = await repo.save(state)
    loaded = await repo.get("a1")
    assert loaded == saved and loaded.revision == 1
    assert loaded.entries[entry.key].entry == entry
    with pytest.raises(StaleWrite):
        await repo.save(state)  # revision 0 again: someone else already wrote
    await repo.save(loaded.model_copy(update={"appointment_version": 4}))
    with pytest.raises(StaleWrite):
        await repo.save(loaded)
    assert [s.appointment_id for s in await repo.for_connection("c1")] == ["a1"]
    assert is_stale(loaded, 3) and not is_stale(loaded, 4)


async def test_connection_sync_channels(store: DocumentStore) -> None:
    repo = ConnectionSyncRepository(store.collection("connections_test"))
    await repo.ensure_indexes()
    channel = PushChannel("ch1", "tok", "res", datetime(2027, 1, 1, tzinfo=UTC))
    saved = await repo.save(
        ConnectionSync(connection_id="c1", tenant_id="t1", account_email="h@example.com").with_channel(
            channel
        )
    )
    found = await repo.by_channel("ch1")
    assert found is not None and found.channel() == channel and found.revision == saved.revision
    assert [c.connection_id for c in await repo.active()] == ["c1"]
    await repo.save(saved.model_copy(update={"active": False}).with_channel(None))
    assert await repo.by_channel("ch1") is None and await repo.active() == []
