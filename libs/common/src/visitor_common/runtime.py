"""One runtime shape for every service: what starts, in which order, and how it stops.

Start: the store's indexes → the topics (when ``create_topics``) → the broker with every
subscriber and publisher (when ``kafka_enabled``) → the outbox relay → background tasks (drift
monitor, ...). Stop runs the same list backwards, then closes what was registered with
:meth:`ServiceRuntime.on_close` and finally the store. Each service's ``bootstrap.py`` builds one
``ServiceRuntime``, hands it the parts it has, uses :meth:`lifespan`, and gets its operations
routes (``/healthz``, ``/readyz``, ``/metrics``) and request middleware from :meth:`install_operations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from visitor_common import metrics
from visitor_common.messaging import create_broker, ensure_topics, start_broker
from visitor_common.outbox import OutboxRelay, Publisher
from visitor_common.persistence import DocumentCollection, DocumentStore
from visitor_common.settings import ServiceSettings
from visitor_common.topics import TopicSpec, all_topics
from visitor_common.web import RequestMiddleware, health_router, metrics_router

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]
ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass
class BackgroundTask:
    """Something that runs beside the consumers: started after the broker, stopped before it."""

    name: str
    start: Callable[[], Any]
    stop: Step


@dataclass
class ServiceRuntime:
    """The parts a service runs and their start/stop order (see the module docstring)."""

    settings: ServiceSettings
    store: DocumentStore
    broker: KafkaBroker
    topics: Sequence[TopicSpec] = ()
    relay: OutboxRelay | None = None
    _prepare: list[Step] = field(default_factory=list)
    _background: list[BackgroundTask] = field(default_factory=list)
    _closers: list[Step] = field(default_factory=list)
    _started: list[Step] = field(default_factory=list)
    _relay_needs_broker: bool = True
    _checks: dict[str, ReadinessCheck] = field(default_factory=dict)

    @classmethod
    def for_settings(
        cls, settings: ServiceSettings, store: DocumentStore, broker: KafkaBroker | None = None
    ) -> ServiceRuntime:
        """A runtime on the service's own broker (one per app) and every topic of the registry."""
        return cls(
            settings,
            store,
            broker or create_broker(settings),
            topics=all_topics(settings.kafka_partitions),
        )

    # -- what the service hands in ------------------------------------------------------------
    def prepare(self, step: Step) -> None:
        """Run ``step`` before anything else starts (typically ``ensure_indexes``)."""
        self._prepare.append(step)

    def add_topics(self, extra: Sequence[TopicSpec]) -> None:
        merged = {t.name: t for t in self.topics}
        for topic in extra:
            merged.setdefault(topic.name, topic)
        self.topics = list(merged.values())

    def outbox(
        self, collections: Sequence[DocumentCollection], publish: Publisher, *, needs_broker: bool = True
    ) -> OutboxRelay:
        """The service's outbox relay over ``collections``, polled every ``outbox_poll_seconds``.
        ``needs_broker=False``: ``publish`` does not go through our broker (a test's recorder), so
        the relay runs even when ``kafka_enabled`` is off."""
        self.relay = OutboxRelay(collections, publish, poll_interval=self.settings.outbox_poll_seconds)
        self._relay_needs_broker = needs_broker
        return self.relay

    def background(self, name: str, start: Callable[[], Any], stop: Step) -> None:
        self._background.append(BackgroundTask(name, start, stop))

    def readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Add a dependency ``/readyz`` waits for (``auth``: the auth service answers)."""
        self._checks[name] = check

    def on_close(self, close: Step) -> None:
        """Close ``close`` (HTTP clients, ...) after everything else stopped, before the store."""
        self._closers.append(close)

    # -- running ------------------------------------------------------------------------------
    async def start(self) -> None:
        for step in self._prepare:
            await step()
        if self.settings.kafka_enabled:
            if self.settings.create_topics:
                await ensure_topics(self.settings.kafka_bootstrap_servers, self.topics)
            await start_broker(self.broker)
            self._started.append(self.broker.stop)
        else:
            log.warning("kafka_enabled is false: no consumers run and events stay in the outbox")
        if self.relay is not None and (self.settings.kafka_enabled or not self._relay_needs_broker):
            self.relay.start()
            self._started.append(self.relay.stop)
        for task in self._background:
            result = task.start()
            if asyncio.iscoroutine(result):
                await result
            self._started.append(task.stop)
        log.info("service started", extra={"service": self.settings.service_name})

    async def stop(self) -> None:
        """Stop what started, newest first; one failing stop does not keep the others running."""
        while self._started:
            stop = self._started.pop()
            try:
                await stop()
            except Exception:
                log.exception("stopping a part failed", extra={"service": self.settings.service_name})
        for close in self._closers:
            with contextlib.suppress(Exception):
                await close()
        await self.store.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """FastAPI lifespan: ``FastAPI(lifespan=runtime.lifespan)``."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def install_operations(self, app: FastAPI, **extra: ReadinessCheck) -> None:
        """The operations side of ``app``: ``/healthz``, ``/readyz`` (:meth:`readiness` with
        ``extra`` checks, e.g. ``auth=client.reachable``), ``/metrics`` and the request middleware
        (metrics by route template, trace context, one log line per request)."""
        app.add_middleware(RequestMiddleware)
        app.include_router(health_router(self.settings.service_name, self.readiness(**extra)))
        app.include_router(metrics_router(self.render_metrics))

    async def render_metrics(self) -> bytes:
        """The Prometheus exposition, with this runtime's consumer lag and outbox backlog."""
        broker = self.broker if self.settings.kafka_enabled else None
        collections = self.relay.collections if self.relay is not None else ()
        return await metrics.render(broker, collections)

    def readiness(self, **extra: ReadinessCheck) -> dict[str, ReadinessCheck]:
        """Checks for ``/readyz``: the store answers, the broker answers (when used), plus any
        the service adds (``auth=...``)."""

        async def store() -> bool:
            ping = getattr(self.store, "ping", None)
            if ping is not None:
                await ping()
            return True

        async def broker() -> bool:
            if not self.settings.kafka_enabled:
                return True
            return bool(await self.broker.ping(timeout=2.0))

        return {"store": store, "broker": broker, **self._checks, **extra}
