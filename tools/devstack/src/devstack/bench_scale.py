"""The ``scale`` run of ``make bench`` (issue 14, item 3): what one confirmation and one push
notification cost with 100 and with 10,000 appointments of one host on the local stack.

For each size a fresh stack (``devstack.testing.running_stack``: SQLite stores, the broker, the
HTTPS emulators, every service a process of its own) holds ``size`` appointments of the demo
Google host, each proposed with three candidates held as tentative events. Proposing 10,000
through the API would take the better part of an hour here (~4.5 appointments/s per host), so
they are **seeded** (:func:`seed_appointments`, as ``devstack.fleet.seed_hosts`` seeds links,
decision 0019): one appointment is proposed through the real API and synced by the real
connector; the others are copies of it (new id, guest token, title and slot times), each
service's part written by that service's own code into its own store under the state dir —

- the emulator's events through its bulk control endpoint
  (``POST /__emulator/calendars/{id}/events/bulk``), built by the connector's own mapping
  (``calendar_google.domain.mapping.event_body``, the planner's entries, the deterministic ids);
- the connector's applied state of each (``AppliedStateRepository.save``, event index included)
  with the ids and etags the emulator answered;
- the appointment (``AppointmentRepository.add``, empty outbox) and its accepted ``synced``
  report (``put_sync``), as the sync-status consumer would have stored it.

The connector's incremental-sync cursor is then moved past the seeded events (the emulator's
sync token after the last batch), as if it had read the echoes of its writes as they came;
one push notification then has it list the calendar from there (one page) before anything is
measured (:func:`_move_cursor`).
Only the local stack can be seeded so; with ``MONGODB_URI`` set this refuses to run.

Measured on that stack, each window metered with ``/proc`` (:class:`devstack.bench_procs.CpuMeter`)
over every process of the stack — services, broker, emulators and mail sink, not the bench:

- ``cpu_ms_per_confirmation``: ``CONFIRMATIONS`` guest picks, one at a time, of appointments
  proposed through the API before the window, each awaited until it reads ``synced``; the
  window's CPU divided by the picks;
- ``cpu_ms_per_notification``: ``NOTIFICATIONS`` times, one seeded hold renamed at the emulator
  as a person would (the emulator pushes to the connector's channel), awaited until the
  appointment reads ``drifted`` (the connector listed the change, judged it and reported it,
  and appointments stored the report); the window's CPU divided by the edits;
- ``idle_cpu_ms_per_s``: the same processes doing nothing, per second. The stack's idle cost
  over a window (consumers' fetches, timers) is part of both figures above; ``net_of_idle``
  subtracts it (idle rate × the window's wall time, ``window_s``, per sample) — an estimate,
  since the machine's load moves the window's length.

``by_process`` splits each figure by process. ``python -m devstack.bench_scale`` runs it alone
and merges the rows into ``.devstack/bench.json``; ``BENCH_SCALE_SIZES`` (or ``--sizes``)
chooses the sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appointments_service.adapters.repository import AppointmentRepository
from appointments_service.domain import rules
from appointments_service.domain.model import Appointment, GuestLink, SyncReport
from calendar_google.domain.mapping import event_body, parse_event
from calendar_sync.core.ids import google_event_id
from calendar_sync.core.model import AppliedEntry, AppliedState, EventMeta
from calendar_sync.core.planner import desired_entries
from calendar_sync.engine import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    EVENT_INDEX_COLLECTION,
    AppliedStateRepository,
    ConnectionSyncRepository,
    StaleWrite,
)
from devstack.bench_e2e import BENCH_OVERRIDES, CANDIDATES, SLOT, Bench, Host, Prepared
from devstack.bench_procs import CpuMeter, idle_cost, ms_per_sample, settle, stack_pids
from devstack.testing import RunningStack, running_stack
from visitor_common.persistence.sqlite import SqliteDocumentStore

SIZES_ENV = "BENCH_SCALE_SIZES"
DEFAULT_SIZES = (100, 10_000)
CONFIRMATIONS = 40
NOTIFICATIONS = 40
IDLE_S = 10.0
PROVIDER = "google"
CONNECTOR = "calendar-google"
BATCH = 500  # appointments per bulk request to the emulator (1,500 events)
SEED_OFFSET = timedelta(days=30)  # past the slots the bench proposes through the API


@dataclass(frozen=True)
class SeededCalendar:
    """What :func:`seed_appointments` made: the host's calendar and its appointments."""

    account: str  # the Google address (the emulator's calendar id)
    appointments: list[Seeded]


@dataclass(frozen=True)
class Seeded:
    """One seeded appointment: what a guest needs to pick, and its held events."""

    appointment_id: str
    guest_token: str
    slot_id: str
    event_ids: dict[str, str]  # entry key → provider event id


def sizes_from_env() -> tuple[int, ...]:
    raw = os.environ.get(SIZES_ENV, "")
    return tuple(int(part) for part in raw.replace(",", " ").split()) or DEFAULT_SIZES


def _chunks(count: int, size: int) -> Iterator[range]:
    for first in range(0, count, size):
        yield range(first, min(count, first + size))


# ---------------------------------------------------------------- seeding


class _Seeder:
    """Copies of one appointment the real stack proposed and synced, into the three stores."""

    def __init__(self, running: RunningStack) -> None:
        self.running = running
        self.appointments_store = SqliteDocumentStore(running.stack.sqlite_path("appointments"))
        self.connector_store = SqliteDocumentStore(running.stack.sqlite_path(CONNECTOR))
        self.repo = AppointmentRepository(self.appointments_store)
        self.states = AppliedStateRepository(
            self.connector_store.collection(APPLIED_COLLECTION),
            self.connector_store.collection(EVENT_INDEX_COLLECTION),
        )
        self.connections = ConnectionSyncRepository(self.connector_store.collection(CONNECTIONS_COLLECTION))
        self.sync_token: str | None = None  # the calendar's, just after the last batch

    async def close(self) -> None:
        await self.appointments_store.close()
        await self.connector_store.close()

    async def template(self, appointment_id: str) -> tuple[Appointment, SyncReport, AppliedState]:
        loaded = await self.repo.get_any(appointment_id)
        report, _ = await self.repo.get_sync(appointment_id)
        state = await self.states.get(appointment_id)
        assert loaded is not None and report is not None and state is not None, appointment_id
        for key, applied in state.entries.items():  # the connector's id salt is the default one
            assert applied.event_id == google_event_id(appointment_id, key, applied.generation), key
        return loaded[0], report, state

    async def copies(
        self, template: tuple[Appointment, SyncReport, AppliedState], indexes: range
    ) -> list[Seeded]:
        appointment, report, state = template
        made = [_copy(appointment, n) for n in indexes]
        bodies: list[dict[str, Any]] = []
        for copy, _ in made:
            bodies.extend(_bodies(copy))
        stored = await asyncio.to_thread(self._bulk_insert, state.account_email, bodies)
        events = {resource["id"]: parse_event(resource) for resource in stored}
        seeded = []
        now = datetime.now(UTC)
        for copy, token in made:
            entries = {
                entry.key: AppliedEntry(
                    key=entry.key,
                    event_id=(event_id := _event_id(copy, entry.key)),
                    generation=1,
                    etag=events[event_id].etag,
                    entry=entry,
                )
                for entry in desired_entries(copy.snapshot())
            }
            await self.states.save(
                state.model_copy(
                    update={
                        "appointment_id": copy.appointment_id,
                        "revision": 0,
                        "entries": entries,
                        "generations": dict.fromkeys(entries, 1),
                        "indexed_event_ids": [],
                    }
                )
            )
            event_ids = {key: applied.event_id for key, applied in sorted(entries.items())}
            await self.repo.add(copy, [])
            synced = report.model_copy(update={"provider_event_ids": event_ids, "observed_at": now})
            await self.repo.put_sync(copy, synced, expected_version=0)
            seeded.append(Seeded(copy.appointment_id, token, copy.candidates[0].slot_id, event_ids))
        return seeded

    def _bulk_insert(self, calendar_id: str, items: list[dict[str, Any]], notify: bool = False) -> list[Any]:
        answer = self.running.google.call(
            "POST", f"/calendars/{calendar_id}/events/bulk", {"items": items, "notify": notify}
        )
        self.sync_token = str(answer["nextSyncToken"])
        found: list[Any] = answer["items"]
        return found

    async def seen(self, connection_id: str) -> None:
        """Move the connector's incremental-sync cursor past the seeded events, as if it had read
        their echoes as they were written (a first listing of 30,000 changes would otherwise
        keep the emulator busy for minutes: it copies every change again for each page)."""
        assert self.sync_token is not None
        for _ in range(10):  # compare-and-set against the running connector's own saves
            current = await self.connections.get(connection_id)
            assert current is not None, connection_id
            try:
                await self.connections.save(current.model_copy(update={"cursor": self.sync_token}))
                return
            except StaleWrite:
                continue
        raise RuntimeError(f"the cursor of {connection_id} kept changing under the seeding")

    def notify(self, calendar_id: str) -> None:
        self._bulk_insert(calendar_id, [], notify=True)


def _event_id(appointment: Appointment, key: str) -> str:
    return google_event_id(appointment.appointment_id, key, 1)


def _copy(template: Appointment, n: int) -> tuple[Appointment, str]:
    """The template as appointment ``n``: its own id, guest token and slots, which follow the
    template's without overlapping any (``CANDIDATES`` slots per appointment)."""
    shift = (n + 1) * CANDIDATES * SLOT
    candidates = tuple(
        c.model_copy(update={"start": c.start + shift, "end": c.end + shift}) for c in template.candidates
    )
    token = rules.new_guest_token()
    assert template.guest_link is not None
    link = GuestLink(token_hash=GuestLink.hash_token(token), expires_at=template.guest_link.expires_at)
    now = datetime.now(UTC)
    copy = template.model_copy(
        update={
            "appointment_id": rules.new_appointment_id(),
            "title": f"scale {n}",
            "candidates": candidates,
            "guest_link": link,
            "created_at": now,
            "updated_at": now,
        }
    )
    return copy, token


def _bodies(appointment: Appointment) -> list[dict[str, Any]]:
    """The events the connector would insert for ``appointment`` (its mapping, its ids)."""
    snapshot = appointment.snapshot()
    bodies = []
    for entry in desired_entries(snapshot):
        meta = EventMeta(
            appointment_id=snapshot.appointment_id,
            tenant_id=snapshot.tenant_id,
            appointment_version=snapshot.version,
            entry_key=entry.key,
        )
        bodies.append(event_body(entry, meta, _event_id(appointment, entry.key)))
    return bodies


async def seed_appointments(bench: Bench, count: int, say: Callable[[str], None] = print) -> SeededCalendar:
    """``count`` proposed appointments of the Google host, each with three synced holds: one
    through the API, the rest seeded from it; returns when the connector has read them all."""
    running = bench.running
    if running.stack.config.overrides.get("appointments", {}).get("MONGODB_URI") or os.environ.get(
        "MONGODB_URI"
    ):
        raise RuntimeError("seed_appointments writes the services' SQLite stores; unset MONGODB_URI")
    began = time.monotonic()
    host = bench.hosts[PROVIDER]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + SEED_OFFSET
    made = await bench._propose_one(host, start, -1)
    seeder = _Seeder(running)
    try:
        template = await seeder.template(made.appointment_id)
        seeded = [Seeded(made.appointment_id, made.guest_token, made.slot_id, template[2].event_ids())]
        for indexes in _chunks(count - 1, BATCH):
            seeded += await seeder.copies(template, indexes)
        calendar_id = template[2].account_email
        await _move_cursor(seeder, template[2].connection_id, calendar_id, say)
    finally:
        await seeder.close()
    say(
        f"  seeded {len(seeded)} appointments ({len(seeded) * CANDIDATES} events) "
        f"in {time.monotonic() - began:.0f} s"
    )
    return SeededCalendar(calendar_id, seeded)


LISTING = "GET /calendar/v3/calendars/"
QUIET_S = 4.0  # seconds without a listing call that end a listing
CURSOR_ATTEMPTS = 3


async def _listing_pages(running: RunningStack, account: str, since: float, within: float = 600) -> int:
    """The pages of ``account``'s calendar the connector listed after ``since``, once it listed
    at least one and then stopped listing for a few seconds, and the stack went quiet."""
    deadline = time.monotonic() + within
    pages, still = 0, 0.0
    while time.monotonic() < deadline:
        calls = await asyncio.to_thread(running.google.calls, since)
        now = sum(1 for _, who, call in calls if who == account and call.startswith(LISTING))
        still = still + 1.0 if now == pages else 0.0
        pages = now
        if pages and still >= QUIET_S:
            await settle(stack_pids(running))
            return pages
        await asyncio.sleep(1.0)
    raise TimeoutError(f"the connector's listing of {account}'s calendar did not end within {within:.0f} s")


async def _move_cursor(seeder: _Seeder, connection_id: str, account: str, say: Callable[[str], None]) -> None:
    """Move the connector's cursor past the seeded events, and check with one push notification
    that it lists one page from there. More pages mean it was syncing meanwhile (a poll, an
    echo) and saved an older cursor over the seeded one, so it reads seeded events after all:
    wait until it is done, then move the cursor again."""
    running = seeder.running
    for _ in range(CURSOR_ATTEMPTS):
        await settle(stack_pids(running))
        await seeder.seen(connection_id)
        since = time.time()
        await asyncio.to_thread(seeder.notify, account)
        pages = await _listing_pages(running, account, since)
        if pages <= 2:
            return
        say(f"  the connector re-read {pages} pages of seeded events; moving its cursor again")
    raise RuntimeError(f"the connector kept reading the seeded events ({CURSOR_ATTEMPTS} tries)")


# ---------------------------------------------------------------- measuring


@dataclass
class Window:
    """CPU of the stack's processes over a run of ``count`` samples (``meter.seconds``: its wall time)."""

    meter: CpuMeter
    count: int

    def per_sample_ms(self) -> float:
        return round(sum(self.meter.used.values()) * 1000 / self.count, 2)

    def net_of_idle_ms(self, idle_ms_per_s: float) -> float:
        """Per sample, less what the stack would have used doing nothing over the window."""
        return round(self.per_sample_ms() - idle_ms_per_s * self.meter.seconds / self.count, 2)

    def by_process(self) -> dict[str, float]:
        return ms_per_sample(self.meter, self.count)


async def confirmations(bench: Bench, ready: Sequence[Prepared], pids: dict[str, int]) -> Window:
    """The guest picks each of ``ready``, one at a time, each awaited until ``synced``."""
    host = bench.hosts[PROVIDER]
    meter = CpuMeter(pids)
    meter.start()
    for one in ready:
        await bench.confirm(host, one)
    meter.stop()
    return Window(meter, len(ready))


async def notifications(
    running: RunningStack, host: Host, calendar_id: str, edited: Sequence[Seeded], pids: dict[str, int]
) -> Window:
    """Rename one hold of each of ``edited`` at the emulator, one at a time, each awaited until
    its appointment reads ``drifted``."""
    meter = CpuMeter(pids)
    meter.start()
    for seeded in edited:
        event_id = next(iter(seeded.event_ids.values()))
        await asyncio.to_thread(
            running.google.direct_edit, calendar_id, event_id, {"summary": "renamed in the calendar"}
        )
        await host.wait_state(seeded.appointment_id, "drifted", 1)
    meter.stop()
    return Window(meter, len(edited))


async def cost_at(size: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """One ``scale`` row, on a fresh stack holding ``size`` appointments of the Google host."""
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as state_dir,
        running_stack(Path(state_dir), overrides=BENCH_OVERRIDES) as running,
    ):
        bench = Bench(running, providers=(PROVIDER,))
        await bench.open()
        try:
            calendar = await seed_appointments(bench, size, say)
            seeded = calendar.appointments
            await bench.prepare(CONFIRMATIONS, say)
            pids = stack_pids(running)
            await settle(pids)
            idle_split = await idle_cost(pids, IDLE_S)
            idle = round(sum(idle_split.values()), 1)
            confirmed = await confirmations(bench, bench.take(PROVIDER, CONFIRMATIONS), pids)
            await settle(pids)
            step = max(1, len(seeded) // NOTIFICATIONS)  # spread over the host's calendar
            edited = seeded[::step][:NOTIFICATIONS]
            notified = await notifications(running, bench.hosts[PROVIDER], calendar.account, edited, pids)
        finally:
            await bench.close()
    row = {
        "appointments": size,
        "cpu_ms_per_confirmation": confirmed.per_sample_ms(),
        "cpu_ms_per_notification": notified.per_sample_ms(),
        "idle_cpu_ms_per_s": idle,
        "net_of_idle": {
            "cpu_ms_per_confirmation": confirmed.net_of_idle_ms(idle),
            "cpu_ms_per_notification": notified.net_of_idle_ms(idle),
        },
        "samples": {"confirmations": confirmed.count, "notifications": notified.count},
        "window_s": {
            "confirmations": round(confirmed.meter.seconds, 1),
            "notifications": round(notified.meter.seconds, 1),
        },
        "by_process": {
            "confirmation": confirmed.by_process(),
            "notification": notified.by_process(),
            "idle_ms_per_s": idle_split,
        },
        "run_s": round(time.monotonic() - began),
    }
    say(
        f"  scale {size}: {row['cpu_ms_per_confirmation']} ms CPU per confirmation, "
        f"{row['cpu_ms_per_notification']} ms per notification, idle {idle} ms/s ({row['run_s']} s)"
    )
    return row


async def scale(
    sizes: Sequence[int] | None = None, say: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """The ``scale`` rows, one fresh stack per size (default ``BENCH_SCALE_SIZES`` or 100, 10,000)."""
    return [await cost_at(size, say) for size in (sizes or sizes_from_env())]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help=f"default ${SIZES_ENV} or 100 10000"
    )
    parser.add_argument("--out", type=Path, default=Path(".devstack/bench.json"))
    args = parser.parse_args(argv)
    began = time.monotonic()
    rows = asyncio.run(scale(args.sizes))
    existing: Any = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged = existing if isinstance(existing, dict) else {"results": existing}
    merged["scale"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(rows, indent=2))
    print(f"scale run took {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
