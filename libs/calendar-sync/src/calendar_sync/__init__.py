"""The connectors' sync engine: everything that is the same for Google and Outlook.

Three layers, each importing only the ones below it (import-linter checks it):

- ``calendar_sync.core``: pure: the sync model, planner, drift comparison, deterministic ids,
  error taxonomy with its one HTTP classification, and the provider port (``CalendarProvider``).
- ``calendar_sync.engine``: the consumer, applied state, retries, drift monitor and status
  publishing; no web or broker framework.
- ``calendar_sync.adapters``: the FastAPI rooms / availability router and the FastStream wiring.

``calendar_sync.testing`` has fakes for the connectors' unit tests.

How a connector plugs in
========================

1. Implement :class:`CalendarProvider` (``provider.py``) for your API — the *only* per-provider
   part: ``client_id_for`` (deterministic id: ``ids.google_event_id`` / ``ids.transaction_id``),
   ``create_event`` / ``update_event`` / ``delete_event`` / ``get_event`` (normalise to
   :class:`ProviderEvent`, stamping and reading :class:`EventMeta` in the event's private
   extended properties), ``list_changes`` (sync cursor → :class:`ChangePage`), ``free_busy``,
   ``list_room_groups`` / ``list_rooms``; set ``provider`` and ``max_calendars_per_free_busy``.
   Optionally implement :class:`SupportsPush` (``open_channel`` / ``stop_channel``).
   Map HTTP failures with :func:`classify_http` (it gives the error classes in ``errors.py``:
   transient → retried with backoff + ``Retry-After``; 401 → token refreshed (twice at most); 409 on insert
   → ``EventAlreadyExists``, adopted when the event is ours; 404/410 → ``EventNotFound``;
   ``SyncCursorInvalid``; ``PermissionMissing(code=...)`` for directory / consent problems).
   Do not retry, refresh or keep state in the provider: the engine does.

2. Wire it (see ``calendar_google.bootstrap`` for a complete example); settings subclass
   ``engine.settings.ConnectorSettings`` (one set of names for retries, redelivery, push,
   drift and the auth service)::

       store = create_document_store(settings)
       tokens = AuthTokenClient(AuthInternalClient(auth_url, client_id, client_secret))
       events_sink, raw_sink, dead_letter = broker_sinks(broker)
       statuses = StatusPublisher(events_sink, provider=Provider.OUTLOOK, source="calendar-outlook")
       states = AppliedStateRepository(store.collection(APPLIED_COLLECTION))
       engine = SyncEngine(my_provider, tokens, states, statuses, policy=settings.retry_policy())
       monitor = DriftMonitor(engine, ConnectionSyncRepository(store.collection(CONNECTIONS_COLLECTION)),
                              push=my_provider, hooks=None,  # or ChannelHooks: renew in place
                              policy_for=settings.policy_for,
                              push_address=settings.push_address("/notifications/outlook"))
       consumer = SyncConsumer(engine, provider=Provider.OUTLOOK, topic=topics.OUTLOOK_APPOINTMENTS,
                               raw_sink=raw_sink, dead_letter=dead_letter,
                               redelivery=settings.redelivery_policy(),
                               on_snapshot=<await monitor.ensure_registered(...) for the binding>)
       register_consumer(broker, consumer, group_id="calendar-outlook")  # + "<group>.retry"
       app.include_router(availability_router(my_provider, tokens, principal_dependency(...)))
       # lifespan: await start_broker(broker)  (subscribers join their groups concurrently)

   Feed ``topics.CONNECTIONS`` events to ``monitor.register`` / ``monitor.deactivate``, call
   ``monitor.handle_notification(channel_id, token, Notice...)`` from your notification route
   (mapping the provider's wording: change, handshake, lifecycle), and
   ``monitor.start(poll_seconds)`` / ``monitor.stop()`` in the lifespan.
   ``testing.py`` has a Google-like ``FakeCalendarProvider``, ``FakeTokens``,
   ``make_snapshot`` and ``wait_until`` for tests.

What the engine guarantees
==========================
- Planner (``planner.py``): proposed + holds → one tentative hold per candidate (key
  ``slot:<slot_id>``); confirmed → one confirmed entry under the chosen slot's key (the hold's
  provider event is patched, room kept) and the other holds deleted; cancelled → nothing.
- Idempotency: the applied state (per appointment: version, entries → event ids, etags,
  generations) is saved compare-and-set; an older version changes nothing, an equal one only
  re-reports the recorded outcome. An entry re-created after a release gets the next generation,
  hence a fresh event id.
- Every outcome is a ``CalendarSyncStatusReported`` on ``topics.SYNC_STATUS`` keyed by the
  appointment id, with the appointment version and the provider event ids: ``synced``;
  ``failed`` with ``reauth_required`` / ``connection_inactive`` / ``room_unavailable`` /
  ``provider_rejected`` (not retried) or ``rate_limited`` / ``provider_unavailable``
  (``retriable``: the record goes to the retry topic, later the dead-letter topic); ``drifted``
  with the changes.
- Poison records go to the dead-letter topic with the error; records of the other provider are
  ignored and counted (``SyncConsumer.stats.ignored_other_provider``).
"""
