"""Graph notifications in the drift monitor's terms.

Graph sends change notifications and lifecycle notifications; the engine's ``DriftMonitor``
verifies each one's ``clientState`` against its subscription (anything else is counted as
forged and changes nothing) and acts on the ``Notice`` it maps to:

- a change → incremental (delta) sync;
- ``reauthorizationRequired``: Graph wants the subscription re-authorised → renew it now (PATCH,
  through the monitor's ``hooks``: the ``GraphCalendarProvider``);
- ``subscriptionRemoved``: Graph dropped it → open a new one and resync (changes may be lost);
- ``missed``: some notifications were not delivered → resync from the stored deltaLink.
"""

from __future__ import annotations

from dataclasses import dataclass

from calendar_sync.engine.monitor import DriftMonitor, Notice

REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
SUBSCRIPTION_REMOVED = "subscriptionRemoved"
MISSED = "missed"

_LIFECYCLE = {
    REAUTHORIZATION_REQUIRED: Notice.REAUTHORIZE,
    SUBSCRIPTION_REMOVED: Notice.REMOVED,
    MISSED: Notice.MISSED,
}


@dataclass(frozen=True)
class GraphNotification:
    """One item of a Graph notification batch (change or lifecycle)."""

    subscription_id: str
    client_state: str
    change_type: str | None = None
    lifecycle_event: str | None = None
    event_id: str | None = None

    def notice(self) -> Notice:
        """A lifecycle event we do not know is treated like ``missed``: resync."""
        if self.lifecycle_event is None:
            return Notice.CHANGED
        return _LIFECYCLE.get(self.lifecycle_event, Notice.MISSED)


async def handle_graph_notification(
    monitor: DriftMonitor, note: GraphNotification, *, log_rejection: bool = True
) -> bool:
    """Act on one notification; False when it was rejected."""
    return await monitor.handle_notification(
        note.subscription_id, note.client_state, note.notice(), log_rejection=log_rejection
    )
