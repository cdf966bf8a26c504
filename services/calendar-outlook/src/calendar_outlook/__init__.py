"""Outlook connector: Microsoft Graph calendar sync, getSchedule availability, room lists and
drift detection, on the shared engine ``visitor_common.calendar_sync``.

Only the Graph adapter is Outlook-specific:

- ``adapters.graph`` — a plain Graph v1.0 transport over httpx (failures mapped once by the
  engine's ``classify_http``) and the per-mailbox limiter (4 requests in flight per mailbox,
  shared by every partition of the process);
- ``adapters.graph_provider`` — the engine's ``CalendarProvider`` / ``SupportsPush`` for Graph
  (events with ``transactionId`` and single-value extended properties, ``calendarView/delta``,
  ``getSchedule``, places room lists and rooms, subscriptions);
- ``service_layer.drift`` — subscriptions renewed in place (PATCH) and Graph lifecycle
  notifications; ``api.notifications`` — ``POST /notifications/outlook`` (validation handshake,
  ``clientState`` check);
- ``handlers.connections`` — link / unlink events start and stop drift watching.

``bootstrap.create_app`` wires it; ``python -m calendar_outlook`` serves it.
"""
