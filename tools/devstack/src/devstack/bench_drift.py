"""Drift watching at scale, for `make bench` (issues 18 and 14): the `drift_scale` and `scale`
sections of `.devstack/bench.json`.

- `drift_scale` is measured on the real processes (:mod:`devstack.drift_at_scale`): 2,000
  linked calendars, two instances of each connector, calls counted at the emulators. It runs
  once per `make bench`, with the first broker's run (the file `bench.json`).
- `scale` (issue 14) is measured on the stack (:mod:`devstack.bench_scale`): a fresh local stack
  per size holding 100, then 10,000 seeded appointments of one Google host — CPU of every
  process per confirmation and per push notification. :func:`scale` is its in-process
  forerunner (the real engine, monitor and in-memory store against an in-memory provider with a
  change log): a fast test of the engine's size independence, not written to `bench.json`.

:func:`drift_scale_in_process` is the in-process forerunner of `drift_scale` (same monitor,
leases and store, in-memory provider); its test keeps the fleet logic honest in seconds. Its
figures are not written to `bench.json`.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calendar_sync.core import ChangePage, ProviderAccess, ProviderEvent
from calendar_sync.engine import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    EVENT_INDEX_COLLECTION,
    MEMBERS_COLLECTION,
    OWNERS_COLLECTION,
    AppliedStateRepository,
    ConnectionSyncRepository,
    DriftMonitor,
    Notice,
    Ownership,
    StatusPublisher,
    SyncEngine,
)
from calendar_sync.testing import FakeCalendarProvider, FakeTokens, make_snapshot, wait_until
from devstack import bench_scale, drift_at_scale
from visitor_common.events import AppointmentStatus, CloudEvent, Provider
from visitor_common.persistence import InMemoryDocumentStore

CONNECTIONS = 2000
INTERVAL_S = 4.0
LEASE_S = 3.0
INTERVALS = 3


@dataclass
class LoggedFake(FakeCalendarProvider):
    """The fake provider with a change log: an incremental listing reads only what changed."""

    _log_seq: list[int] = field(default_factory=list)
    _log_ids: list[str] = field(default_factory=list)

    def _store(self, event: ProviderEvent) -> ProviderEvent:
        stored = super()._store(event)
        self._log_seq.append(self.events[event.event_id].seq)
        self._log_ids.append(event.event_id)
        return stored

    async def list_changes(self, access: ProviderAccess, cursor: str | None) -> ChangePage:
        if cursor is None:
            return await super().list_changes(access, cursor)
        self._enter("list_changes", access, cursor)
        since = int(cursor)
        start = bisect.bisect_right(self._log_seq, since)
        ids = dict.fromkeys(self._log_ids[start:])
        top = self._log_seq[-1] if self._log_seq else since
        return ChangePage(events=[self.events[i].event for i in ids], next_cursor=str(max(top, since)))


async def _discard(topic: str, event: CloudEvent[Any]) -> None:
    return None


def _engine(store: InMemoryDocumentStore, provider: FakeCalendarProvider) -> SyncEngine:
    states = AppliedStateRepository(
        store.collection(APPLIED_COLLECTION), store.collection(EVENT_INDEX_COLLECTION)
    )
    statuses = StatusPublisher(_discard, provider=provider.provider, source="bench")
    return SyncEngine(provider, FakeTokens(), states, statuses)


class _Fleet:
    """Two monitor instances of one provider on one shared store."""

    def __init__(self, kind: Provider, count: int, *, push: bool, offset: int) -> None:
        self.kind = kind
        self.store = InMemoryDocumentStore()
        self.provider = LoggedFake(provider=kind)
        self.engine = _engine(self.store, self.provider)
        self.repo = ConnectionSyncRepository(self.store.collection(CONNECTIONS_COLLECTION))
        self.push = push
        self.ids = [f"{kind.value}-{offset + n:05}" for n in range(count)]
        self.polls: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.monitors = [self._monitor(f"{kind.value}-{n}") for n in range(2)]

    def _monitor(self, name: str) -> DriftMonitor:
        ownership = Ownership(
            self.store.collection(MEMBERS_COLLECTION),
            self.store.collection(OWNERS_COLLECTION),
            instance_id=name,
            lease_seconds=LEASE_S,
            rebalance_seconds=LEASE_S,
        )
        monitor = DriftMonitor(
            self.engine,
            self.repo,
            push=self.provider if self.push else None,
            push_address="https://connector/notifications" if self.push else None,
            ownership=ownership,
            healthy_poll_seconds=3600,
            poll_concurrency=8,
            channel_ttl_seconds=7 * 24 * 3600,
        )
        monitor.on_poll = lambda c: self.polls[c].append((name, time.monotonic()))
        return monitor

    async def link(self) -> None:
        first = self.monitors[0]
        for connection_id in self.ids:
            await first.register(connection_id=connection_id, tenant_id="t", account_email="h@example.com")
        await self.repo.ensure_indexes()
        await self.engine.states.ensure_indexes()

    def start(self) -> None:
        for monitor in self.monitors:
            monitor.start(INTERVAL_S)

    async def stop(self) -> None:
        for monitor in self.monitors:
            await monitor.stop()

    def settled(self) -> bool:
        owned = [_owned(m) for m in self.monitors]
        return sum(len(o) for o in owned) == len(self.ids) and all(owned)


def _owned(monitor: DriftMonitor) -> set[str]:
    assert monitor.ownership is not None
    return monitor.ownership.owned


def _polls_in(fleets: list[_Fleet], since: float, until: float) -> dict[str, list[tuple[str, float]]]:
    return {
        c: [(who, at) for who, at in polls if since <= at < until]
        for fleet in fleets
        for c, polls in fleet.polls.items()
    }


def _duplicates(fleets: list[_Fleet]) -> int:
    dup = 0
    for fleet in fleets:
        for polls in fleet.polls.values():
            times = sorted(at for _, at in polls)
            dup += sum(1 for a, b in itertools.pairwise(times) if b - a < INTERVAL_S * 0.97)
    return dup


async def _idle_window(fleets: list[_Fleet]) -> dict[str, Any]:
    """Measure ``INTERVALS`` intervals once the fleet is split and every first poll ran."""
    await wait_until(lambda: all(f.settled() for f in fleets), within=120, what="the fleet split")
    await asyncio.sleep(INTERVAL_S * 1.2)  # past the spread-out first polls
    calls = sum(len(f.provider.calls) for f in fleets)
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(INTERVAL_S * INTERVALS)
    cpu, until = time.process_time() - cpu, time.monotonic()
    calls = sum(len(f.provider.calls) for f in fleets) - calls
    window = _polls_in(fleets, wall, until)
    connections = sum(len(f.ids) for f in fleets)
    polls = sum(len(p) for p in window.values())
    return {
        "polls_per_connection_per_interval": round(polls / connections / INTERVALS, 3),
        "provider_calls_per_s_idle": round(calls / (until - wall), 2),
        "cpu_ms_per_connection_per_interval": round(cpu * 1000 / connections / INTERVALS, 4),
    }


async def drift_scale_in_process(connections: int = CONNECTIONS) -> dict[str, Any]:
    half = connections // 2
    fleets = [
        _Fleet(Provider.GOOGLE, half, push=False, offset=0),
        _Fleet(Provider.OUTLOOK, connections - half, push=False, offset=half),
    ]
    for fleet in fleets:
        await fleet.link()
        fleet.start()
    try:
        result: dict[str, Any] = {
            "method": "in process: real monitor, leases and store; in-memory provider",
            "connections": connections,
            "instances": {f.kind.value: len(f.monitors) for f in fleets},
            "interval_s": INTERVAL_S,
            "session_timeout_s": LEASE_S,
            **(await _idle_window(fleets)),
        }
        result["duplicate_polls"] = _duplicates(fleets)
        killed_at = time.monotonic()
        for fleet in fleets:  # killed: no hand-over, its leases just run out
            poller = fleet.monitors[1]._poller
            assert poller is not None
            poller.cancel()
        await asyncio.sleep(LEASE_S + INTERVAL_S * 1.5)
        watched = {c for c, polls in _polls_in(fleets, killed_at, time.monotonic()).items() if polls}
        survivors_own = set().union(*(_owned(f.monitors[0]) for f in fleets))
        all_ids = {c for f in fleets for c in f.ids}
        result["unwatched_connections"] = len(all_ids - (watched & survivors_own))
        result["duplicate_polls"] = _duplicates(fleets)
    finally:
        for fleet in fleets:
            await fleet.stop()
    pushed = [
        _Fleet(Provider.GOOGLE, half, push=True, offset=0),
        _Fleet(Provider.OUTLOOK, connections - half, push=True, offset=half),
    ]
    for fleet in pushed:
        await fleet.link()
        fleet.start()
    try:
        result["push_healthy"] = {"fallback_poll_s": 3600, **(await _idle_window(pushed))}
    finally:
        for fleet in pushed:
            await fleet.stop()
    return result


async def _cost_at(size: int, samples: int = 40) -> dict[str, Any]:
    store = InMemoryDocumentStore()
    provider = LoggedFake()
    engine = _engine(store, provider)
    repo = ConnectionSyncRepository(store.collection(CONNECTIONS_COLLECTION))
    monitor = DriftMonitor(engine, repo, push=provider, push_address="https://connector/notifications")
    await engine.states.ensure_indexes()
    await repo.ensure_indexes()
    await monitor.register(connection_id="conn-1", tenant_id="tenant-1", account_email="host@example.com")
    await monitor.sync_connection("conn-1")
    for n in range(size):
        await engine.apply(make_snapshot(appointment_id=f"appt-{n}", slots=3))
    await monitor.sync_connection("conn-1")  # our writes' echoes
    (channel,) = provider.channels.values()

    confirm_cpu = 0.0
    for n in range(samples):
        snapshot = make_snapshot(
            appointment_id=f"appt-{n}", version=2, slots=3, status=AppointmentStatus.CONFIRMED, confirmed="s1"
        )
        started = time.process_time()
        await engine.apply(snapshot)
        confirm_cpu += time.process_time() - started
    notify_cpu = 0.0
    for n in range(samples):
        state = await engine.states.get(f"appt-{samples + n}")
        assert state is not None
        provider.edit(next(iter(state.entries.values())).event_id, title="edited in the calendar")
        started = time.process_time()
        await monitor.handle_notification(channel.channel_id, channel.token, Notice.CHANGED)
        await asyncio.gather(*monitor._running.values())
        notify_cpu += time.process_time() - started
    return {
        "appointments": size,
        "cpu_ms_per_confirmation": round(confirm_cpu * 1000 / samples, 3),
        "cpu_ms_per_notification": round(notify_cpu * 1000 / samples, 3),
    }


async def scale(sizes: tuple[int, ...] = (100, 10_000)) -> list[dict[str, Any]]:
    """In process (see the module's docstring); `bench.json`'s `scale` is :mod:`devstack.bench_scale`'s."""
    return [await _cost_at(size) for size in sizes]


async def figures(*, at_scale: bool = True) -> dict[str, Any]:
    """`scale` on fresh stacks of its own (sizes from `BENCH_SCALE_SIZES`), and `drift_scale`."""
    found: dict[str, Any] = {"scale": await bench_scale.scale()}
    if at_scale:
        found = {"drift_scale": await drift_at_scale.drift_scale(), **found}
    return found


def record(out: Path, *, at_scale: bool = True) -> dict[str, Any]:
    """Measure and merge into ``out`` (an object; a list from an older bench is kept under
    ``results``); ``at_scale=False`` skips the real-process ``drift_scale`` run."""
    found = asyncio.run(figures(at_scale=at_scale))
    existing: Any = json.loads(out.read_text()) if out.exists() else {}
    merged = existing if isinstance(existing, dict) else {"results": existing}
    merged.update(found)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2))
    print(json.dumps(found, indent=2))
    return found


def main() -> None:
    record(Path(".devstack/bench.json"))


if __name__ == "__main__":
    started = datetime.now(UTC)
    main()
    print(f"drift bench took {(datetime.now(UTC) - started) / timedelta(seconds=1):.0f} s")
