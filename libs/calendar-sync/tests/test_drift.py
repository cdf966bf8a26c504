"""Drift detection and the drift monitor (push notifications, incremental sync, policies)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from calendar_sync.core import (
    DriftPolicy,
    EventNotFound,
    ProviderAccess,
    ProviderEvent,
    PushChannel,
    detect_drift,
)
from calendar_sync.engine import ConnectionSyncRepository, DriftMonitor, Notice, SyncEngine
from calendar_sync.testing import FakeCalendarProvider, make_snapshot, wait_until
from visitor_common.events import AppointmentStatus, DriftKind, SyncState

from .conftest import Recorder


def monitor_for(
    engine: SyncEngine, repo: ConnectionSyncRepository, policy: DriftPolicy = DriftPolicy.REPORT
) -> DriftMonitor:
    assert isinstance(engine.provider, FakeCalendarProvider)
    return DriftMonitor(
        engine,
        repo,
        push=engine.provider,
        policy_for=lambda _t: policy,
        push_address="https://connector/notifications",
    )


async def register(monitor: DriftMonitor) -> None:
    await monitor.register(connection_id="conn-1", tenant_id="tenant-1", account_email="host@example.com")
    await monitor.sync_connection("conn-1")  # first, full listing: sets the cursor


async def test_detect_drift_reports_deletions_and_field_edits(engine: SyncEngine) -> None:
    result = await engine.apply(make_snapshot(slots=2))
    state = await engine.states.get("appt-1")
    assert state is not None
    s1, s2 = result.event_ids["slot:s1"], result.event_ids["slot:s2"]
    applied = state.entries["slot:s2"]
    observed = {
        s1: ProviderEvent(event_id=s1, cancelled=True),
        s2: ProviderEvent(
            event_id=s2,
            start=applied.entry.start,
            end=applied.entry.end,
            title="Renamed",
            description=applied.entry.description,
            room_email=None,
        ),
    }
    changes = detect_drift(state, observed)
    assert [(c.entry_key, c.kind, c.field) for c in changes] == [
        ("slot:s1", DriftKind.DELETED, None),
        ("slot:s2", DriftKind.EDITED, "title"),
        ("slot:s2", DriftKind.EDITED, "room"),
    ]


async def test_own_writes_are_not_drift(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    await engine.apply(make_snapshot())
    await engine.apply(make_snapshot(version=2, status=AppointmentStatus.CONFIRMED, confirmed="s1"))
    assert await monitor.sync_connection("conn-1") == []


async def test_an_observation_overtaken_by_our_own_write_is_not_drift(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    """The monitor lists changes outside the appointment's lock; the confirmation lands
    before it judges. The hold it saw is stale, not an edit by the host."""
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    await engine.apply(make_snapshot())
    session = engine.session("conn-1", "host@example.com", "tenant-1")
    observed, _, touched = await engine.observe(session, None, "conn-1")
    await engine.apply(make_snapshot(version=2, status=AppointmentStatus.CONFIRMED, confirmed="s1"))
    assert [s.appointment_id for s in touched] == ["appt-1"]
    assert await engine.judge_drift("appt-1", observed, session, restore=False) == []
    assert SyncState.DRIFTED not in [s.state for s in recorder.statuses]


async def test_a_direct_deletion_is_reported_once_as_drifted(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    result = await engine.apply(make_snapshot(slots=1))
    fake_provider.delete_directly(result.event_ids["slot:s1"])
    changes = await monitor.sync_connection("conn-1")
    assert [c.kind for c in changes] == [DriftKind.DELETED]
    drifted = recorder.statuses[-1]
    assert drifted.state is SyncState.DRIFTED and drifted.appointment_version == 1
    assert drifted.drift[0].provider_event_id == result.event_ids["slot:s1"]
    fake_provider.edit(result.event_ids["slot:s1"], cancelled=True)  # touched again, same drift
    await monitor.sync_connection("conn-1")
    assert [s.state for s in recorder.statuses].count(SyncState.DRIFTED) == 1


async def test_restore_policy_writes_the_system_version_back(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo, DriftPolicy.RESTORE)
    await register(monitor)
    result = await engine.apply(make_snapshot(slots=2))
    fake_provider.delete_directly(result.event_ids["slot:s1"])
    fake_provider.edit(result.event_ids["slot:s2"], title="Mine now")
    await monitor.sync_connection("conn-1")
    assert [s.state for s in recorder.statuses][-2:] == [SyncState.DRIFTED, SyncState.SYNCED]
    live = fake_provider.live()
    assert len(live) == 2 and all(e.title == "[仮押さえ] Visit from ACME" for e in live)
    assert recorder.statuses[-1].provider_event_ids["slot:s1"] != result.event_ids["slot:s1"]
    assert await monitor.sync_connection("conn-1") == []


async def test_push_channel_opened_and_genuine_notification_triggers_sync(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    (channel,) = fake_provider.channels.values()
    result = await engine.apply(make_snapshot(slots=1))
    fake_provider.delete_directly(result.event_ids["slot:s1"])
    assert await monitor.handle_notification(channel.channel_id, channel.token, Notice.CHANGED)
    await wait_until(lambda: recorder.statuses[-1].state is SyncState.DRIFTED)
    await monitor.stop()


async def test_forged_notifications_change_nothing(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    (channel,) = fake_provider.channels.values()
    result = await engine.apply(make_snapshot(slots=1))
    fake_provider.delete_directly(result.event_ids["slot:s1"])
    calls = len(fake_provider.calls)
    assert not await monitor.handle_notification(channel.channel_id, "wrong-token")
    assert not await monitor.handle_notification("unknown-channel", channel.token)
    assert not monitor.syncing  # no sync was even scheduled
    assert len(fake_provider.calls) == calls
    assert monitor.forged_notifications == 2
    assert all(s.state is not SyncState.DRIFTED for s in recorder.statuses)


async def test_expired_cursor_falls_back_to_a_full_resync(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    result = await engine.apply(make_snapshot(slots=1))
    fake_provider.delete_directly(result.event_ids["slot:s1"])
    fake_provider.expire_cursors()
    changes = await monitor.sync_connection("conn-1")
    assert [c.kind for c in changes] == [DriftKind.DELETED]


async def test_unlink_stops_the_channel_and_the_watch(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    (channel,) = fake_provider.channels.values()
    await monitor.deactivate("conn-1")
    assert fake_provider.channels == {}
    assert not await monitor.handle_notification(channel.channel_id, channel.token)
    assert await connection_repo.active() == []


async def test_channels_are_renewed_before_they_expire(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    now = [datetime.now(UTC)]
    monitor = DriftMonitor(
        engine,
        connection_repo,
        push=fake_provider,
        push_address="https://connector/notifications",
        channel_ttl_seconds=3600,
        renew_before_seconds=600,
        clock=lambda: now[0],
    )
    await monitor.register(connection_id="conn-1", tenant_id="tenant-1", account_email="host@example.com")
    (first,) = fake_provider.channels.values()
    await monitor.poll_once()
    assert list(fake_provider.channels) == [first.channel_id]  # far from expiry: kept
    now[0] += timedelta(seconds=3100)  # within the renewal margin
    await monitor.poll_once()
    (second,) = fake_provider.channels.values()
    assert second.channel_id != first.channel_id and second.token != first.token
    assert not await monitor.handle_notification(first.channel_id, first.token)
    assert await monitor.handle_notification(second.channel_id, second.token, Notice.HANDSHAKE)


async def test_a_room_declining_later_is_reported_once_as_room_unavailable(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    from calendar_sync.core import RoomResponse
    from visitor_common.events import SyncFailureReason

    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    result = await engine.apply(make_snapshot(slots=1))
    fake_provider.edit(result.event_ids["slot:s1"], room_response=RoomResponse.DECLINED)
    await monitor.sync_connection("conn-1")
    failed = recorder.statuses[-1]
    assert failed.state is SyncState.FAILED and failed.reason_code is SyncFailureReason.ROOM_UNAVAILABLE
    assert "room1@example.com" in (failed.message or "")
    fake_provider.edit(result.event_ids["slot:s1"], title="touched")
    await monitor.sync_connection("conn-1")
    reasons = [s.reason_code for s in recorder.statuses]
    assert reasons.count(SyncFailureReason.ROOM_UNAVAILABLE) == 1


async def test_the_next_change_after_reported_drift_writes_the_system_version(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    first = await engine.apply(make_snapshot(slots=2))
    fake_provider.delete_directly(first.event_ids["slot:s1"])
    await monitor.sync_connection("conn-1")
    assert recorder.statuses[-1].state is SyncState.DRIFTED
    second = await engine.apply(make_snapshot(version=2, slots=2, title="Renamed visit"))
    assert second.state is SyncState.SYNCED
    assert second.event_ids["slot:s1"] != first.event_ids["slot:s1"]
    assert len(fake_provider.live()) == 2


async def test_concurrent_registrations_open_one_channel(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    """The ``linked`` event and the first appointment arrive together; two instances may too."""
    open_now = fake_provider.open_channel

    async def open_slowly(*args: Any, **kwargs: Any) -> Any:  # as over a network: others run meanwhile
        await asyncio.sleep(0.01)
        return await open_now(*args, **kwargs)

    fake_provider.open_channel = open_slowly  # type: ignore[method-assign]
    here, there = monitor_for(engine, connection_repo), monitor_for(engine, connection_repo)
    who = {"connection_id": "conn-1", "tenant_id": "tenant-1", "account_email": "host@example.com"}
    await asyncio.gather(here.register(**who), here.ensure_registered(**who), there.register(**who))
    stored = await connection_repo.get("conn-1")
    assert stored is not None and stored.channel_id is not None
    assert list(fake_provider.channels) == [stored.channel_id]  # no channel left orphaned


class SlowRenewal:
    """``ChannelHooks`` that renews in place, slowly (as over a network), counting overlaps."""

    def __init__(self) -> None:
        self.renewed = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def renew_channel(
        self, access: ProviderAccess, channel: PushChannel, ttl_seconds: int
    ) -> PushChannel:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)  # a network round trip: the other callers run meanwhile
        self.in_flight -= 1
        self.renewed += 1
        return dataclasses.replace(channel, expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds))


async def expiring_channel(monitor: DriftMonitor, repo: ConnectionSyncRepository) -> PushChannel:
    await monitor.register(connection_id="conn-1", tenant_id="tenant-1", account_email="host@example.com")
    current = await repo.get("conn-1")
    assert current is not None and current.channel_id is not None
    soon = datetime.now(UTC) + timedelta(seconds=60)  # inside the renewal margin
    await repo.save(current.model_copy(update={"channel_expires_at": soon}))
    channel = (await repo.get("conn-1")).channel()  # type: ignore[union-attr]
    assert channel is not None
    return channel


async def test_renewal_through_hooks_runs_under_the_channel_lock(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    """A poll and a lifecycle notification may renew together: one renewal at a time, and the
    second sees the renewed channel instead of renewing it again."""
    hooks = SlowRenewal()
    monitor = DriftMonitor(
        engine,
        connection_repo,
        push=fake_provider,
        hooks=hooks,
        push_address="https://connector/notifications",
        renew_before_seconds=600,
    )
    channel = await expiring_channel(monitor, connection_repo)
    await asyncio.gather(monitor.ensure_channel("conn-1"), monitor.ensure_channel("conn-1"))
    assert (hooks.renewed, hooks.most_in_flight) == (1, 1)
    assert await monitor.handle_notification(channel.channel_id, channel.token, Notice.REAUTHORIZE)
    assert hooks.renewed == 2 and list(fake_provider.channels) == [channel.channel_id]  # renewed in place
    stored = await connection_repo.get("conn-1")
    assert stored is not None and stored.channel_expires_at is not None
    assert stored.channel_expires_at > datetime.now(UTC) + timedelta(minutes=30)


async def test_a_failed_renewal_opens_a_new_channel(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    class Gone:
        async def renew_channel(self, access: ProviderAccess, channel: PushChannel, ttl: int) -> PushChannel:
            raise EventNotFound("subscription not found", status=404)

    monitor = DriftMonitor(
        engine, connection_repo, push=fake_provider, hooks=Gone(), push_address="https://connector/n"
    )
    old = await expiring_channel(monitor, connection_repo)
    await monitor.ensure_channel("conn-1")
    stored = await connection_repo.get("conn-1")
    assert stored is not None and stored.channel_id not in (None, old.channel_id)
    assert stored.channel_id in fake_provider.channels


async def test_lifecycle_notices_replace_the_channel_and_resync(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    recorder: Recorder,
) -> None:
    monitor = monitor_for(engine, connection_repo)
    await register(monitor)
    (first,) = fake_provider.channels.values()
    result = await engine.apply(make_snapshot(slots=1))
    fake_provider.delete_directly(result.event_ids["slot:s1"])
    # Without hooks (Google) re-authorising means a new channel; the old one is stopped.
    assert await monitor.handle_notification(first.channel_id, first.token, Notice.REAUTHORIZE)
    (second,) = fake_provider.channels.values()
    assert second.channel_id != first.channel_id
    assert not await monitor.handle_notification(first.channel_id, first.token, Notice.CHANGED)
    # The provider dropped the channel: a new one is opened and the connection resynced.
    fake_provider.channels.clear()
    assert await monitor.handle_notification(second.channel_id, second.token, Notice.REMOVED)
    (third,) = fake_provider.channels.values()
    assert third.channel_id not in (first.channel_id, second.channel_id)
    await wait_until(lambda: any(s.state is SyncState.DRIFTED for s in recorder.statuses))
    assert monitor.lifecycle_handled == 2
    await monitor.stop()
