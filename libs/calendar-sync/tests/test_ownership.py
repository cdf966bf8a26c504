"""Drift watching at scale: one owner per connection across instances, push first with polling
as the safety net, and a sync whose cost follows the change, not the host's appointments."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from calendar_sync.core import ProviderRejected, PushChannel
from calendar_sync.engine import (
    MEMBERS_COLLECTION,
    OWNERS_COLLECTION,
    ConnectionSyncRepository,
    DriftMonitor,
    Notice,
    Ownership,
    SyncEngine,
)
from calendar_sync.testing import FakeCalendarProvider, make_snapshot, wait_until
from visitor_common.events import DriftKind, SyncState
from visitor_common.persistence import InMemoryDocumentStore

from .conftest import Recorder

POLL = 0.3  # a compressed interval
LEASE = 0.9


class PollLog:
    """Every poll started, by connection: ``(instance, time)``."""

    def __init__(self) -> None:
        self.polls: dict[str, list[tuple[str, datetime]]] = defaultdict(list)

    def hook(self, instance: str) -> Any:
        return lambda connection_id: self.polls[connection_id].append((instance, datetime.now(UTC)))

    def count(self, instance: str | None = None, since: datetime | None = None) -> int:
        return sum(
            1
            for polls in self.polls.values()
            for who, at in polls
            if (instance is None or who == instance) and (since is None or at >= since)
        )


def instance(
    engine: SyncEngine,
    repo: ConnectionSyncRepository,
    store: InMemoryDocumentStore,
    name: str,
    log: PollLog,
    *,
    push: FakeCalendarProvider | None = None,
) -> DriftMonitor:
    ownership = Ownership(
        store.collection(MEMBERS_COLLECTION),
        store.collection(OWNERS_COLLECTION),
        instance_id=name,
        lease_seconds=LEASE,
        rebalance_seconds=LEASE,
    )
    monitor = DriftMonitor(
        engine,
        repo,
        push=push,
        push_address="https://connector/notifications" if push else None,
        ownership=ownership,
        healthy_poll_seconds=3600,
    )
    monitor.on_poll = log.hook(name)
    return monitor


async def link(repo: ConnectionSyncRepository, monitor: DriftMonitor, count: int) -> list[str]:
    ids = [f"conn-{n:03}" for n in range(count)]
    for connection_id in ids:
        await monitor.register(
            connection_id=connection_id, tenant_id="tenant-1", account_email="h@example.com"
        )
    return ids


async def drop_channel_once_polls_are_rare(
    monitor: DriftMonitor, provider: FakeCalendarProvider, connection_id: str
) -> PushChannel:
    """Wait until the healthy channel put the connection's next poll hours away, then make the
    provider refuse new channels and drop the current one; returns it (its notice comes next)."""
    far = datetime.now(UTC) + timedelta(minutes=30)
    await wait_until(
        lambda: monitor._due.get(connection_id, datetime.min.replace(tzinfo=UTC)) > far,
        what="rare polling with a healthy channel",
    )
    provider.fail("open_channel", ProviderRejected("push is off", status=403), times=10_000)
    (channel,) = provider.channels.values()
    provider.channels.clear()
    return channel


def assert_spaced(log: PollLog) -> None:
    """No connection was polled twice within one interval, by whichever instances."""
    for connection_id, polls in log.polls.items():
        times = sorted(at for _, at in polls)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(gap >= POLL * 0.97 for gap in gaps), (connection_id, polls)


async def test_two_instances_split_the_connections_and_never_poll_one_twice_per_interval(
    engine: SyncEngine, connection_repo: ConnectionSyncRepository, memory_store: InMemoryDocumentStore
) -> None:
    log = PollLog()
    here = instance(engine, connection_repo, memory_store, "here", log)
    there = instance(engine, connection_repo, memory_store, "there", log)
    ids = await link(connection_repo, here, 20)
    here.start(POLL)
    there.start(POLL)
    try:
        owned = lambda: (here.ownership.owned, there.ownership.owned)  # noqa: E731
        await wait_until(lambda: len(owned()[0]) == 10 and len(owned()[1]) == 10, what="an even split")
        assert owned()[0].isdisjoint(owned()[1]) and owned()[0] | owned()[1] == set(ids)
        settled = datetime.now(UTC)
        await wait_until(
            lambda: all(sum(1 for _, at in log.polls[c] if at >= settled) >= 3 for c in ids),
            what="three polls of every connection",
        )
        for connection_id in ids:  # after the split, each connection is polled by one instance
            assert len({who for who, at in log.polls[connection_id] if at >= settled}) == 1
        assert_spaced(log)
    finally:
        await here.stop()
        await there.stop()


async def test_killing_an_instance_moves_its_connections_within_the_lease(
    engine: SyncEngine, connection_repo: ConnectionSyncRepository, memory_store: InMemoryDocumentStore
) -> None:
    log = PollLog()
    here = instance(engine, connection_repo, memory_store, "here", log)
    there = instance(engine, connection_repo, memory_store, "there", log)
    ids = await link(connection_repo, here, 12)
    here.start(POLL)
    there.start(POLL)
    try:
        # 30 s each, so that a slow settle fails naming its step before the test's 120 s timeout
        await wait_until(
            lambda: len(there.ownership.owned) == 6 and len(here.ownership.owned) == 6,
            what="an even split",
            within=30,
        )
        orphaned = set(there.ownership.owned)
        assert there._poller is not None
        there._poller.cancel()  # killed: no clean hand-over, its leases just stop being renewed
        killed = datetime.now(UTC)
        await wait_until(lambda: here.ownership.owned == set(ids), what="the survivor owning all", within=30)
        await wait_until(
            lambda: all(any(who == "here" and at > killed for who, at in log.polls[c]) for c in orphaned),
            what="the survivor polling the orphaned connections",
            within=30,
        )
        assert_spaced(log)
    finally:
        await here.stop()
        await there.stop()


async def test_a_failing_channel_falls_back_to_frequent_polling_and_back(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    memory_store: InMemoryDocumentStore,
) -> None:
    log = PollLog()
    monitor = instance(engine, connection_repo, memory_store, "only", log, push=fake_provider)
    await monitor.ownership.heartbeat()
    (connection_id,) = await link(connection_repo, monitor, 1)
    current = await connection_repo.get(connection_id)
    assert current is not None and current.channel() is not None
    assert monitor.interval_for(current) == timedelta(hours=1)  # push healthy: rare polls

    fake_provider.fail("open_channel", ProviderRejected("push is off", status=403), times=10_000)
    (channel,) = fake_provider.channels.values()
    fake_provider.channels.clear()
    assert await monitor.handle_notification(channel.channel_id, channel.token, Notice.REMOVED)
    current = await connection_repo.get(connection_id)
    assert current is not None and current.channel() is None
    monitor.start(POLL)
    try:
        await wait_until(lambda: len(log.polls[connection_id]) >= 3, what="frequent polls without a channel")
        fake_provider._failures.clear()  # the provider accepts channels again
        await wait_until(lambda: fake_provider.channels, what="a new channel on the next poll")
        await wait_until(
            lambda: (
                monitor._due.get(connection_id, datetime.min.replace(tzinfo=UTC))
                > datetime.now(UTC) + timedelta(minutes=30)
            ),
            what="rare polling again",
        )
        polls = len(log.polls[connection_id])
        await asyncio.sleep(POLL * 3)  # a window in which frequent polling would have run
        assert len(log.polls[connection_id]) == polls
    finally:
        await monitor.stop()


async def test_a_channel_removed_while_polling_rarely_brings_frequent_polling_back(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    memory_store: InMemoryDocumentStore,
) -> None:
    """The channel fails while the monitor runs with its next poll hours away: the poll comes
    back within an interval, not at the healthy due time."""
    log = PollLog()
    monitor = instance(engine, connection_repo, memory_store, "only", log, push=fake_provider)
    await monitor.ownership.heartbeat()
    (connection_id,) = await link(connection_repo, monitor, 1)
    monitor.start(POLL)
    try:
        channel = await drop_channel_once_polls_are_rare(monitor, fake_provider, connection_id)
        polls = len(log.polls[connection_id])
        assert await monitor.handle_notification(channel.channel_id, channel.token, Notice.REMOVED)
        await wait_until(
            lambda: len(log.polls[connection_id]) >= polls + 2, what="frequent polls without a channel"
        )
    finally:
        await monitor.stop()


async def test_a_removal_notice_at_another_instance_brings_the_owners_frequent_polling_back(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    memory_store: InMemoryDocumentStore,
) -> None:
    """The provider sends a channel's removal notice to the address that opened it; ownership
    moved to another instance since. The receiver cannot put a channel back, so the owner, whose
    next poll is hours away, must poll frequently from its next heartbeat on, and rarely again
    once it could open a channel."""
    log = PollLog()
    owner = instance(engine, connection_repo, memory_store, "owner", log, push=fake_provider)
    opener = instance(engine, connection_repo, memory_store, "opener", log, push=fake_provider)
    await owner.ownership.heartbeat()
    (connection_id,) = await link(connection_repo, owner, 1)
    owner.start(POLL)
    try:
        far = datetime.now(UTC) + timedelta(minutes=30)
        channel = await drop_channel_once_polls_are_rare(owner, fake_provider, connection_id)
        polls = log.count("owner")
        assert await opener.handle_notification(channel.channel_id, channel.token, Notice.REMOVED)
        assert connection_id not in opener.ownership.owned
        await wait_until(lambda: log.count("owner") >= polls + 2, what="the owner polling frequently")
        assert await owner.ownership.channel_failures() == []  # the owner took the flag

        fake_provider._failures.clear()  # the provider accepts channels again
        await wait_until(lambda: fake_provider.channels, what="a new channel at the owner's next poll")
        await wait_until(
            lambda: owner._due.get(connection_id, datetime.min.replace(tzinfo=UTC)) > far,
            what="rare polling again",
        )
        assert log.count("opener") == 0
    finally:
        await owner.stop()


async def test_a_channel_failure_flag_survives_polls_until_the_owner_takes_it() -> None:
    store = InMemoryDocumentStore()
    members, owners = store.collection(MEMBERS_COLLECTION), store.collection(OWNERS_COLLECTION)
    owner = Ownership(members, owners, instance_id="owner", lease_seconds=30)
    other = Ownership(members, owners, instance_id="other", lease_seconds=30)
    await owner.heartbeat()
    assert await owner.claim("conn-1")
    assert not await other.report_channel_failure("conn-unknown")  # no lease: nothing to tell

    assert await other.report_channel_failure("conn-1")
    assert await other.channel_failures() == []  # only the owner sees it
    assert await owner.begin_poll("conn-1", timedelta(seconds=60)) is not None  # a poll keeps it
    assert await owner.channel_failures() == ["conn-1"]
    await owner.clear_channel_failure("conn-1")
    assert await owner.channel_failures() == []
    assert await owner.last_poll("conn-1") is not None


async def test_a_change_costs_one_lookup_not_a_load_of_every_appointment(
    engine: SyncEngine,
    fake_provider: FakeCalendarProvider,
    connection_repo: ConnectionSyncRepository,
    memory_store: InMemoryDocumentStore,
    recorder: Recorder,
) -> None:
    monitor = DriftMonitor(engine, connection_repo, push=fake_provider, push_address="https://c/n")
    await monitor.register(connection_id="conn-1", tenant_id="tenant-1", account_email="host@example.com")
    await monitor.sync_connection("conn-1")
    results = [await engine.apply(make_snapshot(appointment_id=f"appt-{n}", slots=1)) for n in range(30)]
    await monitor.sync_connection("conn-1")  # the echo of our 30 writes: nothing judged
    assert monitor.echoes == 30
    assert not any(s.state is SyncState.DRIFTED for s in recorder.statuses)

    scans = 0
    applied = engine.states._c
    find = applied.find

    async def counting_find(*args: Any, **kwargs: Any) -> Any:
        nonlocal scans
        scans += 1
        return await find(*args, **kwargs)

    applied.find = counting_find  # type: ignore[method-assign]
    event_id = results[7].event_ids["slot:s1"]
    fake_provider.edit(event_id, cancelled=True, meta=None)  # a deletion comes without our stamp
    changes = await monitor.sync_connection("conn-1")
    assert [(c.kind, c.provider_event_id) for c in changes] == [(DriftKind.DELETED, event_id)]
    assert scans == 0  # found through the event index, not by loading the host's states


async def test_a_rate_limited_poll_holds_the_polls_back_for_its_retry_after(
    engine: SyncEngine, fake_provider: FakeCalendarProvider, connection_repo: ConnectionSyncRepository
) -> None:
    from calendar_sync.core import TransientProviderError

    monitor = DriftMonitor(engine, connection_repo)
    await monitor.register(connection_id="conn-1", tenant_id="tenant-1", account_email="host@example.com")
    limited = TransientProviderError("Too Many Requests", status=429, retry_after=120)
    fake_provider.fail("list_changes", limited, times=engine.policy.max_attempts)
    assert await monitor.sync_connection("conn-1") == []
    assert monitor._held_until is not None
    assert monitor._held_until > datetime.now(UTC) + timedelta(seconds=100)
    monitor._set_due("conn-1", datetime.now(UTC) - timedelta(seconds=1))
    monitor._start_due_polls()
    assert not monitor._polling  # nothing starts while held back


async def test_a_new_owner_continues_the_schedule_instead_of_polling_again(
    memory_store: InMemoryDocumentStore,
) -> None:
    """Ownership moves between polls: the lease's last poll keeps the new owner from polling
    the connection again within the interval, and a dead owner cannot poll at all."""
    now = [datetime.now(UTC)]

    def member(name: str) -> Ownership:
        return Ownership(
            memory_store.collection(MEMBERS_COLLECTION),
            memory_store.collection(OWNERS_COLLECTION),
            instance_id=name,
            lease_seconds=30,
            clock=lambda: now[0],
        )

    here, there = member("here"), member("there")
    interval = timedelta(seconds=60)
    await here.heartbeat()
    assert await here.claim("conn-1")
    await there.heartbeat()
    assert not await there.claim("conn-1")  # its owner is alive
    assert await here.begin_poll("conn-1", interval) is not None
    assert await here.begin_poll("conn-1", interval) is None  # not again within the interval
    await here.release("conn-1")
    assert await there.claim("conn-1")
    assert await there.begin_poll("conn-1", interval) is None  # the schedule moved with it
    assert await here.begin_poll("conn-1", interval) is None  # no longer the owner
    now[0] += interval
    await there.heartbeat()
    assert here.alive() is False  # its own lease ran out meanwhile: it may not act
    assert await there.begin_poll("conn-1", interval) is not None


async def test_a_joining_instance_gets_its_share_when_it_looked_before_the_others_released() -> None:
    """The new instance reads the owner table first (all owned by a live instance: nothing to
    claim), the old one then releases its surplus: the new one claims it at its next heartbeat,
    not ``rebalance_seconds`` later (the released connections were watched by nobody)."""
    store = InMemoryDocumentStore()
    now = [datetime(2026, 1, 1, tzinfo=UTC)]

    def member(name: str) -> Ownership:
        return Ownership(
            store.collection(MEMBERS_COLLECTION),
            store.collection(OWNERS_COLLECTION),
            instance_id=name,
            lease_seconds=30,
            rebalance_seconds=300,
            clock=lambda: now[0],
        )

    ids = [f"conn-{n}" for n in range(6)]

    async def wanted() -> list[str]:
        return ids

    old, new = member("old"), member("new")
    await old.heartbeat()
    assert len(await old.rebalance(wanted)) == 6
    now[0] += timedelta(seconds=5)
    await new.heartbeat()
    assert await new.rebalance(wanted) == set()  # all owned by a live instance
    now[0] += timedelta(seconds=5)
    await old.heartbeat()
    kept = await old.rebalance(wanted)  # sees the new member: hands over its surplus
    assert len(kept) == 3
    now[0] += timedelta(seconds=10)  # one heartbeat later
    await new.heartbeat()
    assert await new.rebalance(wanted) == set(ids) - kept


async def test_a_stop_that_meets_a_wake_up_still_stops_the_poller(
    engine: SyncEngine, connection_repo: ConnectionSyncRepository
) -> None:
    """A poll that ends during ``stop`` wakes the sleeping poller in the same loop step as the
    cancellation. The sleep must not take the wake-up for its result and drop the cancellation:
    the poller would run on and ``stop`` wait for it for ever (it hung a unit test in CI)."""
    monitor = DriftMonitor(engine, connection_repo)
    monitor.start(3600)
    await wait_until(lambda: monitor._wake._waiters, what="the poller asleep")  # type: ignore[attr-defined]
    monitor._wake.set()  # as a cancelled poll's ``finally`` does
    await asyncio.wait_for(monitor.stop(), timeout=10)
