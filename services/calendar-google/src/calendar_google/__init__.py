"""Google Calendar connector: syncs Google-bound appointments to the host's primary calendar
through the shared engine (``calendar_sync``), serves rooms / availability from
the Directory and free/busy APIs, and detects direct edits (push channels + polling)."""
