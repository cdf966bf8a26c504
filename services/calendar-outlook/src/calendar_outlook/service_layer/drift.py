"""Graph flavour of the engine's drift monitor: subscriptions are renewed in place (PATCH)
and Graph's lifecycle notifications are handled.

- ``reauthorizationRequired``: Graph wants the subscription re-authorised → PATCH it now;
- ``subscriptionRemoved``: Graph dropped it → open a new one and resync (changes may be lost);
- ``missed``: some notifications were not delivered → resync from the stored deltaLink.

Every notification, lifecycle or not, must carry the subscription's ``clientState``; anything
else is counted as forged and changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_sync.core.errors import ProviderError, TokenError
from calendar_sync.engine.monitor import DriftMonitor
from calendar_sync.engine.state import ConnectionSync

log = logging.getLogger(__name__)

REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
SUBSCRIPTION_REMOVED = "subscriptionRemoved"
MISSED = "missed"


@dataclass(frozen=True)
class GraphNotification:
    """One item of a Graph notification batch (change or lifecycle)."""

    subscription_id: str
    client_state: str
    change_type: str | None = None
    lifecycle_event: str | None = None
    event_id: str | None = None


class GraphDriftMonitor(DriftMonitor):
    lifecycle_handled: int = 0

    @property
    def graph(self) -> GraphCalendarProvider:
        provider = self.engine.provider
        assert isinstance(provider, GraphCalendarProvider)
        return provider

    async def ensure_channel(self, connection_id: str) -> None:
        """Renew an expiring subscription with PATCH; open one when there is none (or renewal
        failed because Graph no longer knows it)."""
        if not self.push_enabled:
            return
        current = await self.connections.get(connection_id)
        channel = current.channel() if current is not None else None
        if current is None or not current.active or channel is None:
            await super().ensure_channel(connection_id)
            return
        if channel.expires_at - self.renew_before > self._clock():
            return
        if not await self._renew(current):
            await self._forget_channel(current)
            await super().ensure_channel(connection_id)

    async def _renew(self, current: ConnectionSync) -> bool:
        channel = current.channel()
        if channel is None:
            return False
        session = self._session(current)
        try:
            renewed = await session.call(
                lambda a: self.graph.renew_channel(a, channel, self.channel_ttl_seconds), "renew subscription"
            )
        except (ProviderError, TokenError) as error:
            log.info(
                "could not renew a subscription",
                extra={"connection_id": current.connection_id, "error": str(error)},
            )
            return False
        await self._save(current.with_channel(renewed))
        return True

    async def _forget_channel(self, current: ConnectionSync) -> None:
        fresh = await self.connections.get(current.connection_id)
        if fresh is not None:
            await self._save(fresh.with_channel(None))

    async def verify(self, note: GraphNotification) -> ConnectionSync | None:
        """The connection a notification belongs to, if its clientState is right."""
        current = await self.connections.by_channel(note.subscription_id) if note.subscription_id else None
        expected = current.channel_token if current is not None else None
        if (
            current is None
            or not current.active
            or expected is None
            or not hmac.compare_digest(expected.encode(), note.client_state.encode())
        ):
            self.forged_notifications += 1
            log.warning("rejected a Graph notification", extra={"subscription_id": note.subscription_id[:64]})
            return None
        return current

    async def handle_graph_notification(self, note: GraphNotification) -> bool:
        """Act on one verified notification; False when it was rejected."""
        current = await self.verify(note)
        if current is None:
            return False
        self.notifications += 1
        if note.lifecycle_event is None:
            self.trigger(current.connection_id)
            return True
        self.lifecycle_handled += 1
        log.info(
            "graph lifecycle notification",
            extra={"connection_id": current.connection_id, "lifecycle_event": note.lifecycle_event},
        )
        if note.lifecycle_event == REAUTHORIZATION_REQUIRED:
            if not await self._renew(current):
                await self._forget_channel(current)
                await super().ensure_channel(current.connection_id)
        elif note.lifecycle_event == SUBSCRIPTION_REMOVED:
            await self._forget_channel(current)
            await super().ensure_channel(current.connection_id)
            self.trigger(current.connection_id)
        else:  # missed (or a lifecycle event we do not know): resync
            self.trigger(current.connection_id)
        return True
