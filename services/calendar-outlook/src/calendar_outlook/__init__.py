"""Outlook connector: Microsoft Graph calendar sync, getSchedule availability, room lists and
drift detection, on the shared engine ``calendar_sync``.

Only the Graph adapter is Outlook-specific:

- ``adapters.graph`` — a plain Graph v1.0 transport over httpx (failures mapped once by the
  engine's ``classify_http``), each request holding a slot of the engine's ``KeyedLimiter``
  keyed by mailbox (4 in flight per mailbox, shared by every partition of the process);
- ``adapters.graph_provider`` — the engine's ``CalendarProvider`` / ``SupportsPush`` for Graph
  (events with ``transactionId`` and single-value extended properties, ``calendarView/delta``,
  ``getSchedule``, places room lists and rooms, subscriptions);
- ``service_layer.drift`` — Graph lifecycle notifications mapped onto the monitor's notices;
  ``api.notifications`` — ``POST /notifications/outlook`` (validation handshake, ``clientState``
  check).

``bootstrap.create_app`` wires it on the shared connector shape
(``calendar_sync.adapters.service``); ``python -m calendar_outlook`` serves it.
"""
