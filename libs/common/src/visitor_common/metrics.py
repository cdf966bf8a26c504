"""Prometheus metrics every service exposes at ``/metrics`` (prometheus-client).

Counters and histograms live in the process-wide default registry and are incremented where things
happen; what is cheaper to read when asked (consumer lag, outbox backlog) is computed on scrape by
:func:`render`. Kafka messages consumed and published are counted by FastStream's own Prometheus
middleware (``faststream_received_*`` / ``faststream_published_*``, by topic and status), installed
on every broker by :func:`visitor_common.messaging.create_broker`.

This module imports no framework and no HTTP client (the sync engine's core and engine use it,
and import-linter keeps them free of both): brokers, clients and responses are duck-typed.

Labels are bounded and never personal: route templates (never raw paths: guest tokens travel in
paths), topics, providers, reason codes, statuses. No tenant, e-mail, token or id goes into a label.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "render"]

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered, by route template.", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency, by route template.", ["route", "method"]
)
SYNC_OUTCOMES = Counter(
    "calendar_sync_outcomes_total",
    "Sync statuses reported for appointments, by provider, state and reason code.",
    ["provider", "state", "reason"],
)
PROVIDER_CALLS = Counter(
    "provider_api_calls_total",
    "Calls to the provider APIs, by provider, operation and HTTP status ('error': no answer).",
    ["provider", "operation", "status"],
)
PROVIDER_THROTTLED = Counter(
    "provider_api_throttled_total",
    "Provider answers 429, by provider and operation.",
    ["provider", "operation"],
)
PROVIDER_RETRY_AFTER = Histogram(
    "provider_api_retry_after_seconds",
    "Retry-After the providers asked for, in seconds.",
    ["provider"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
TOKEN_REFRESHES = Counter(
    "token_refreshes_total",
    "Access-token refreshes: auth's refresh with the provider, the connectors' fetch from auth.",
    ["component", "outcome"],
)
DRIFT_DETECTIONS = Counter(
    "calendar_drift_detections_total", "Direct edits found at the provider, by kind.", ["provider", "kind"]
)
MAILS = Counter("mails_total", "Mails handed to the mail server, by outcome (sent / failed).", ["outcome"])
CHECKINS = Counter("reception_checkins_total", "Reception check-ins, by outcome.", ["outcome"])


# -- call sites (each a line in the code that knows what happened) ---------------------------------
def sync_outcome(provider: str, state: str, reason: str | None) -> None:
    SYNC_OUTCOMES.labels(provider, state, reason or "none").inc()


def token_refresh(component: str, outcome: str) -> None:
    TOKEN_REFRESHES.labels(component, outcome).inc()


def drift_detected(provider: str, kind: str) -> None:
    DRIFT_DETECTIONS.labels(provider, kind).inc()


def mail(outcome: str) -> None:
    MAILS.labels(outcome).inc()


def checkin(outcome: str) -> None:
    """For the reception check-in (``accepted``, ``refused``, ...)."""
    CHECKINS.labels(outcome).inc()


# -- provider API calls --------------------------------------------------------------------------
# Path segments kept in an operation label; every other segment (ids, e-mails, calendars) is "{id}".
_API_WORDS = frozenset(
    {
        "admin", "directory", "calendar", "calendars", "customer", "my_customer", "resources",
        "buildings", "events", "freeBusy", "channels", "stop", "watch", "primary", "instances",
        "users", "me", "calendarView", "delta", "getSchedule", "places", "microsoft.graph.room",
        "microsoft.graph.roomList", "rooms", "roomLists", "subscriptions", "v1", "v3", "v1.0",
    }
)  # fmt: skip
_VERSION = re.compile(r"^v\d+(\.\d+)?$")


def provider_operation(method: str, path: str) -> str:
    """``GET /calendar/v3/calendars/primary/events/{id}``: bounded whatever the ids are."""
    segments = [s if s in _API_WORDS or _VERSION.match(s) else "{id}" for s in path.split("/") if s]
    return f"{method.upper()} /{'/'.join(segments)}"


def observe_provider_response(provider: str, response: Any) -> None:
    """Count one provider answer; 429s also count as throttled with their Retry-After."""
    operation = provider_operation(response.request.method, response.request.url.path)
    PROVIDER_CALLS.labels(provider, operation, str(response.status_code)).inc()
    if response.status_code == 429:
        PROVIDER_THROTTLED.labels(provider, operation).inc()
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            PROVIDER_RETRY_AFTER.labels(provider).observe(retry_after)
    log.info(
        "provider call",
        extra={"provider": provider, "operation": operation, "status": response.status_code},
    )


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def instrument_provider_client(provider: str, http: Any) -> None:
    """Count every answer ``http`` (an ``httpx.AsyncClient``) receives as a call to ``provider``:
    one hook for both connectors' transports."""

    async def on_response(response: Any) -> None:
        observe_provider_response(provider, response)

    hooks = http.event_hooks
    hooks["response"].append(on_response)
    http.event_hooks = hooks


# -- computed on scrape --------------------------------------------------------------------------
async def render(broker: Any | None, outbox_collections: Sequence[Any] = ()) -> bytes:
    """The exposition text: the process registry plus gauges read now (lag, outbox)."""
    scrape = CollectorRegistry()
    lag = Gauge(
        "kafka_consumer_lag",
        "Records behind the partition's high watermark, per consumer group, topic and partition.",
        ["group", "topic", "partition"],
        registry=scrape,
    )
    backlog = Gauge("outbox_backlog_entries", "Events waiting in the service's outbox.", registry=scrape)
    oldest = Gauge(
        "outbox_oldest_entry_age_seconds",
        "Age of the oldest event waiting in the outbox (0 when it is empty).",
        registry=scrape,
    )
    if broker is not None:
        for group, topic, partition, value in await consumer_lag(broker):
            lag.labels(group, topic, str(partition)).set(value)
    waiting, ages = 0, [0.0]
    for collection in outbox_collections:
        count, age = await outbox_backlog(collection)
        waiting, ages = waiting + count, [*ages, age]
    backlog.set(waiting)
    oldest.set(max(ages))
    return generate_latest(REGISTRY) + generate_latest(scrape)


def _consumers(subscriber: Any) -> Iterable[Any]:
    consumers = list(getattr(subscriber, "consumer_subgroup", None) or [])
    single = getattr(subscriber, "consumer", None)
    if single is not None and single not in consumers:
        consumers.append(single)
    return consumers


async def consumer_lag(broker: Any) -> list[tuple[str, str, int, int]]:
    """``(group, topic, partition, lag)`` for every partition the broker's consumers hold, from
    each consumer's position and the high watermark of its last fetch."""
    found: list[tuple[str, str, int, int]] = []
    for subscriber in broker.subscribers:
        group = str(getattr(subscriber, "group_id", "") or "")
        for consumer in _consumers(subscriber):
            for tp in _assignment(consumer):
                lag = await _partition_lag(consumer, tp)
                if lag is not None:
                    found.append((group, tp.topic, tp.partition, lag))
    return found


def _assignment(consumer: Any) -> set[Any]:
    try:
        return set(consumer.assignment())
    except Exception:  # not started, or stopping: nothing assigned to report
        return set()


async def _partition_lag(consumer: Any, tp: Any) -> int | None:
    """``None`` while unknown: nothing fetched yet, rebalancing, or the broker away."""
    highwater = consumer.highwater(tp)
    if highwater is None:
        return None
    try:
        position = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
    except Exception:
        return None
    return max(0, int(highwater) - int(position))


async def outbox_backlog(collection: Any, *, limit: int = 1000) -> tuple[int, float]:
    """Entries waiting (in up to ``limit`` documents) and the age of the oldest, from their
    events' ``time``."""
    docs = await collection.find_with_outbox(limit=limit)
    entries = [entry for doc in docs for entry in doc.get("outbox", [])]
    times = [t for t in (_event_time(entry) for entry in entries) if t is not None]
    age = max(0.0, time.time() - min(times)) if times else 0.0
    return len(entries), age


def _event_time(entry: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(json.loads(entry["payload"])["time"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
