"""Which mails went out: one record per (event id, recipient), kept in the document store so a
restart — or a redelivered event — sends nothing twice.

A record is ``sending`` (reserved by one sender until ``lease_until``) and becomes ``sent``
only after the SMTP server accepted the message. A reservation whose sender died lapses at
``lease_until`` and the next sender takes it over (the mail may then go out twice, with the same
Message-ID; losing it would be worse).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from visitor_common.persistence import DocumentCollection, DuplicateKeyError, VersionConflictError

SENT_MAIL = "sent_mail"


class Claim(StrEnum):
    CLAIMED = "claimed"
    ALREADY_SENT = "already_sent"
    IN_FLIGHT = "in_flight"


class SentMailStore:
    def __init__(self, collection: DocumentCollection) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.ensure_indexes([], lookup=["event_id"])

    async def claim(self, key: str, *, event_id: str, kind: str, now: datetime, lease: timedelta) -> Claim:
        record = {
            "_id": key,
            "version": 1,
            "event_id": event_id,
            "kind": kind,
            "status": "sending",
            "lease_until": (now + lease).isoformat(),
        }
        try:
            await self.collection.insert(record)
            return Claim.CLAIMED
        except DuplicateKeyError:
            pass
        current = await self.collection.get(key)
        if current is None:  # released between our insert and our read: try once more
            return await self.claim(key, event_id=event_id, kind=kind, now=now, lease=lease)
        if current["status"] == "sent":
            return Claim.ALREADY_SENT
        if datetime.fromisoformat(current["lease_until"]) > now:
            return Claim.IN_FLIGHT
        taken = {**record, "version": current["version"] + 1}
        try:
            await self.collection.replace(taken, expected_version=current["version"])
        except VersionConflictError:
            return Claim.IN_FLIGHT  # another sender took it over first
        return Claim.CLAIMED

    async def mark_sent(self, key: str, *, message_id: str, now: datetime) -> None:
        current = await self.collection.get(key)
        if current is None:
            return
        done = {**current, "status": "sent", "message_id": message_id, "sent_at": now.isoformat()}
        done["version"] = current["version"] + 1
        done.pop("lease_until", None)
        await self.collection.replace(done, expected_version=current["version"])

    async def release(self, key: str) -> None:
        """Give a reservation back (the send failed): a later delivery may try again. A record
        already ``sent`` is never released."""
        current = await self.collection.get(key)
        if current is not None and current["status"] == "sending":
            await self.collection.delete(key)

    async def is_sent(self, key: str) -> bool:
        current = await self.collection.get(key)
        return current is not None and current["status"] == "sent"
