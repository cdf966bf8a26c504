"""Which connector instance watches which connection: leases in the shared store.

Two collections, both compare-and-set only (docs/decisions/0014-drift-watch-ownership.md):

- ``calendar_drift_members`` — one document per live instance, ``expires_at`` pushed forward by
  its heartbeat. An instance whose heartbeat stopped for ``lease_seconds`` is dead to the others.
- ``calendar_drift_owners`` — one document per connection: ``owner`` (an instance id or None) and
  ``last_poll_at``. An instance claims a connection only when it has no owner or its owner is
  dead, releases what exceeds its fair share when others join, and runs a poll only after moving
  ``last_poll_at`` forward by compare-and-set while still the owner. So two instances can never
  poll one connection within one interval, whoever owns it, and the schedule survives a move.
  ``channel_failed`` is set by whichever instance learns that the connection lost its push
  channel (the provider's removal notice goes to the address that opened the channel, which
  need not be the owner's any more) and cleared by the owner once it polls frequently again.

Cheap while nothing changes: a heartbeat is one write per instance; the owner table is read in
full only when the set of live instances changed, or every ``rebalance_seconds`` (to pick up
connections whose owner vanished without the membership changing, e.g. a restart under the same
id); polls cost one write each; the owner looks for flagged channel failures at each heartbeat
with one indexed query (``channel_failed``), which finds nothing while channels are healthy.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from visitor_common.persistence.base import DocumentCollection, DuplicateKeyError, VersionConflictError

MEMBERS_COLLECTION = "calendar_drift_members"
OWNERS_COLLECTION = "calendar_drift_owners"

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lease:
    """One connection's owner document as read."""

    connection_id: str
    owner: str | None
    last_poll_at: datetime | None
    version: int
    channel_failed: bool = False

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Lease:
        last = doc.get("last_poll_at")
        return cls(
            connection_id=str(doc["_id"]),
            owner=doc.get("owner"),
            last_poll_at=datetime.fromisoformat(last) if last else None,
            version=int(doc["version"]),
            channel_failed=bool(doc.get("channel_failed")),
        )

    def doc(self, **changes: Any) -> dict[str, Any]:
        """The next version; fields not named are kept as stored (``replace`` sets, as ``$set``)."""
        body = {"owner": self.owner, "last_poll_at": _iso(self.last_poll_at), **changes}
        return {"_id": self.connection_id, "version": self.version + 1, **body}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class Ownership:
    """This instance's view of the leases; see the module docstring."""

    def __init__(
        self,
        members: DocumentCollection,
        owners: DocumentCollection,
        *,
        instance_id: str | None = None,
        lease_seconds: float = 30.0,
        rebalance_seconds: float = 300.0,
        clock: Clock = _utcnow,
    ) -> None:
        self._members = members
        self._owners = owners
        self.instance_id = instance_id or uuid.uuid4().hex
        self.lease = timedelta(seconds=lease_seconds)
        self.rebalance_every = timedelta(seconds=rebalance_seconds)
        self._clock = clock
        self._member_version = 0
        self._alive_until: datetime | None = None
        self._live: frozenset[str] = frozenset()
        self._last_rebalance: datetime | None = None
        # After the live instances changed: until when, and below how many connections, we
        # read the owner table again at each heartbeat (see ``rebalance``).
        self._settle_until: datetime | None = None
        self._floor = 0
        self.owned: set[str] = set()

    async def ensure_indexes(self) -> None:
        """The owner's heartbeat looks up flagged channel failures by ``channel_failed``."""
        await self._owners.ensure_indexes([], lookup=["channel_failed"])

    @property
    def heartbeat_seconds(self) -> float:
        """How often to heartbeat: a third of the lease, so one lost write does not lose it."""
        return self.lease.total_seconds() / 3

    def alive(self) -> bool:
        """False once our own lease may have run out: the others may have taken over (fencing)."""
        return self._alive_until is not None and self._clock() < self._alive_until

    # ------------------------------------------------------------ membership

    async def heartbeat(self) -> None:
        """Push our member lease forward (one write)."""
        now = self._clock()
        version = self._member_version + 1
        doc: dict[str, Any] = {
            "_id": self.instance_id,
            "version": version,
            "expires_at": _iso(now + self.lease),
        }
        try:
            if self._member_version == 0:
                await self._members.insert(doc)
            else:
                await self._members.replace(doc, expected_version=self._member_version)
        except (DuplicateKeyError, VersionConflictError):
            current = await self._members.get(self.instance_id)  # a restart under the same id
            version = (int(current["version"]) if current else 0) + 1
            doc["version"] = version
            if current is None:
                await self._members.insert(doc)
            else:
                await self._members.replace(doc, expected_version=version - 1)
        self._member_version = version
        self._alive_until = now + self.lease

    async def live_members(self) -> frozenset[str]:
        now = self._clock()
        docs = await self._members.find({})
        return frozenset(
            str(d["_id"])
            for d in docs
            if d.get("expires_at") and datetime.fromisoformat(d["expires_at"]) > now
        )

    async def leave(self) -> None:
        """Release everything and drop the member lease (a clean stop hands over at once)."""
        for connection_id in sorted(self.owned):
            await self.release(connection_id)
        with contextlib.suppress(Exception):
            await self._members.delete(self.instance_id)
        self._alive_until = None
        self._member_version = 0

    # ------------------------------------------------------------ leases

    async def rebalance(
        self, connection_ids: Callable[[], Awaitable[Iterable[str]]], *, force: bool = False
    ) -> set[str]:
        """Claim unowned connections and those of dead instances up to our fair share, release
        what exceeds it; returns the connections we own. Reads the owner table only when the
        live instances changed, ``force`` is set, or ``rebalance_seconds`` passed."""
        live = await self.live_members()
        if not self.alive():
            self.owned.clear()
            return set()
        live = live | {self.instance_id}
        now = self._clock()
        due = self._last_rebalance is None or now - self._last_rebalance >= self.rebalance_every
        # A joining instance may read the table before the others saw it and released their
        # surplus: while it is below its share, it looks again at each heartbeat for a while
        # instead of leaving the released connections unowned until ``rebalance_seconds``.
        hungry = self._settle_until is not None and now < self._settle_until and len(self.owned) < self._floor
        if live == self._live and not force and not due and not hungry:
            return set(self.owned)
        if live != self._live:
            self._settle_until = now + self.lease * 3
        self._live, self._last_rebalance = live, now
        wanted = sorted(set(await connection_ids()))
        leases = {lease.connection_id: lease for lease in map(Lease.of, await self._owners.find({}))}
        share = math.ceil(len(wanted) / len(live)) if wanted else 0
        self._floor = len(wanted) // len(live)
        mine = [c for c in wanted if c in leases and leases[c].owner == self.instance_id]
        for connection_id in mine[share:]:  # others joined: hand over the surplus
            await self.release(connection_id)
        owned = set(mine[:share])
        # Claim in an order that differs per instance, so two claimants do not contend for the
        # same documents one after the other.
        orphans = sorted(
            (c for c in wanted if c not in leases or leases[c].owner not in live),
            key=lambda c: uuid.uuid5(uuid.NAMESPACE_OID, self.instance_id + c).hex,
        )
        for connection_id in orphans:
            if len(owned) >= share:
                break
            if await self._claim(connection_id, leases.get(connection_id)):
                owned.add(connection_id)
        self.owned = owned
        return set(owned)

    async def claim(self, connection_id: str) -> bool:
        """Claim one connection now (a new link) if it has no live owner."""
        doc = await self._owners.get(connection_id)
        lease = Lease.of(doc) if doc is not None else None
        if lease is not None and lease.owner is not None:
            if lease.owner == self.instance_id:
                self.owned.add(connection_id)
                return True
            if lease.owner in await self.live_members():
                return False
        if await self._claim(connection_id, lease):
            self.owned.add(connection_id)
            return True
        return False

    async def _claim(self, connection_id: str, lease: Lease | None) -> bool:
        try:
            if lease is None:
                await self._owners.insert(
                    {"_id": connection_id, "version": 1, "owner": self.instance_id, "last_poll_at": None}
                )
            else:
                await self._owners.replace(lease.doc(owner=self.instance_id), expected_version=lease.version)
        except (DuplicateKeyError, VersionConflictError):
            return False  # another instance was quicker
        return True

    async def release(self, connection_id: str) -> None:
        self.owned.discard(connection_id)  # stop acting on it before anyone else can start
        doc = await self._owners.get(connection_id)
        if doc is None:
            return
        lease = Lease.of(doc)
        if lease.owner == self.instance_id:
            with contextlib.suppress(VersionConflictError):
                await self._owners.replace(lease.doc(owner=None), expected_version=lease.version)

    async def forget(self, connection_id: str) -> None:
        """The connection is no longer watched (unlinked): drop its lease."""
        self.owned.discard(connection_id)
        await self._owners.delete(connection_id)

    async def last_poll(self, connection_id: str) -> datetime | None:
        doc = await self._owners.get(connection_id)
        return Lease.of(doc).last_poll_at if doc is not None else None

    async def begin_poll(self, connection_id: str, interval: timedelta) -> datetime | None:
        """Record a poll starting now if we still own the connection and its last poll (by
        whichever instance) is at least ``interval`` ago; the poll's time, or None when it must
        not run."""
        if not self.alive() or connection_id not in self.owned:
            return None
        doc = await self._owners.get(connection_id)
        now = self._clock()
        if doc is None:
            self.owned.discard(connection_id)
            return None
        lease = Lease.of(doc)
        if lease.owner != self.instance_id:
            self.owned.discard(connection_id)
            return None
        if lease.last_poll_at is not None and now - lease.last_poll_at < interval:
            return None
        try:
            await self._owners.replace(lease.doc(last_poll_at=_iso(now)), expected_version=lease.version)
        except VersionConflictError:
            return None
        return now

    # ------------------------------------------------------------ channel failures

    async def report_channel_failure(self, connection_id: str, *, attempts: int = 3) -> bool:
        """Flag the connection's lease: its push channel is gone, its owner must poll it
        frequently (and open a channel) from now on. False when it has no lease (whoever
        claims it next schedules it by its channel state anyway)."""
        for _ in range(attempts):
            doc = await self._owners.get(connection_id)
            if doc is None:
                return False
            lease = Lease.of(doc)
            if lease.channel_failed:
                return True
            try:
                await self._owners.replace(lease.doc(channel_failed=True), expected_version=lease.version)
                return True
            except VersionConflictError:  # a poll or a claim moved it meanwhile: read it again
                continue
        return False

    async def channel_failures(self) -> list[str]:
        """Connections we own whose lease another instance flagged (``report_channel_failure``)."""
        flagged = await self._owners.find({"channel_failed": True, "owner": self.instance_id})
        return sorted(str(doc["_id"]) for doc in flagged if str(doc["_id"]) in self.owned)

    async def clear_channel_failure(self, connection_id: str) -> None:
        """The owner acted on the flag. A conflicting write leaves it set for the next round."""
        doc = await self._owners.get(connection_id)
        if doc is None:
            return
        lease = Lease.of(doc)
        if lease.channel_failed and lease.owner == self.instance_id:
            with contextlib.suppress(VersionConflictError):
                await self._owners.replace(lease.doc(channel_failed=False), expected_version=lease.version)
