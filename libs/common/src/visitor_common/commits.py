"""Offset commits that do not hold up the next record: coalesced, in the background, flushed on stop.

FastStream acknowledges a handled record with ``consumer.commit()`` (no offsets: "everything
consumed so far"), and aiokafka answers that with one OffsetCommit round trip that the consume
loop waits for before it fetches the next record. :class:`CoalescingCommitConsumer` keeps the
meaning and drops the wait: ``commit()`` takes the consumed positions *at that moment* (so a
record fetched afterwards and not yet handled is never included) and hands them to one
background task per consumer, which commits whatever accumulated in one request, one request at
a time, so under load many records share a commit.

What it changes, and why that is safe here (decision 0021):
- A crash (SIGKILL) may now lose the last few commits besides the record in hand: those records
  are read again after the restart. Every consumer of ours already drops a repeat (by event id
  and version, or the sent-mail records), because a crash mid-record re-reads it today.
- ``stop()`` (SIGTERM, a rolling restart) first waits for the pending commits, so a clean stop
  loses none — the restart tests rely on that.
- A commit refused because the group rebalanced, or of a partition no longer assigned, is
  dropped with a log line: the partition's new owner reads those records again (at least once).
- ``commit(offsets)`` with explicit offsets stays synchronous (the dead-letter replay tool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

FLUSH_ON_STOP_SECONDS = 10.0


class CoalescingCommitConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """An ``AIOKafkaConsumer`` whose offset-less ``commit()`` returns at once (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[Any, Any] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        if offsets is not None or self._group_id is None:
            await super().commit(offsets)
            return
        assignment = self._assignment()
        if assignment is None:
            return  # nothing assigned (stopping or rebalancing): nothing of ours to commit
        self._pending.update(assignment.all_consumed_offsets())
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="offset-commit")

    async def stop(self) -> None:
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(flusher), FLUSH_ON_STOP_SECONDS)
        await super().stop()

    async def flushed(self) -> None:
        """Wait until every commit asked for so far is sent (tests; the stop path)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def _assignment(self) -> Any:
        subscription = self._subscription.subscription
        return None if subscription is None else subscription.assignment

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            assignment = self._assignment()
            owned = {tp: at for tp, at in batch.items() if assignment is not None and tp in assignment.tps}
            if not owned:
                continue
            try:
                await super().commit(owned)
            except KafkaError as error:  # rebalanced, unassigned, broker gone: read again later
                log.warning("offset commit dropped", extra={"why": type(error).__name__})
