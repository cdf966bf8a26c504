"""One story per change: W3C trace context and the ids every log line carries.

The HTTP edge (:mod:`visitor_common.web`) and each Kafka consumer (:mod:`visitor_common.messaging`)
open a :func:`scope`; inside it, :func:`fields` gives ``request_id`` (the W3C trace id, the same
in every service a change passes through), ``event_id`` and ``appointment_id``, which the JSON log
formatter adds to each line. New CloudEvents carry the scope's ``traceparent`` (an extension
attribute), and outgoing HTTP carries it as the ``traceparent`` header (:data:`HTTPX_EVENT_HOOKS`),
so an OpenTelemetry collector can join the spans by configuration; nothing is exported from here.

The scope holds a mutable dict on purpose: code deep inside a request (or a task the framework
started with a copied context) can :func:`bind` the appointment id it just learned, and the edge's
own closing log line still sees it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

TRACEPARENT_HEADER = "traceparent"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
# Only these keys are ever added to log lines (never a tenant, an e-mail or a token).
LOG_FIELDS = ("request_id", "event_id", "appointment_id")

_scope: ContextVar[dict[str, str] | None] = ContextVar("visitor_trace_scope", default=None)


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """``(trace_id, parent_span_id)`` of a valid version-00 ``traceparent``; ``None`` otherwise."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_SPAN:
        return None
    return match.group(1), match.group(2)


def format_traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


@contextlib.contextmanager
def scope(traceparent: str | None = None, **ids: str | None) -> Iterator[dict[str, str]]:
    """A fresh scope continuing ``traceparent`` (or starting a trace), with ``ids`` bound."""
    parsed = parse_traceparent(traceparent)
    trace_id = parsed[0] if parsed else new_trace_id()
    state = {"request_id": trace_id, "span_id": new_span_id()}
    state.update({k: v for k, v in ids.items() if v})
    token = _scope.set(state)
    try:
        yield state
    finally:
        _scope.reset(token)


def bind(**ids: str | None) -> None:
    """Add ids to the current scope (no-op outside one). What is bound stays: a consumer's scope
    keeps naming the event it consumed, not the ones its handler then publishes."""
    state = _scope.get()
    if state is None:
        return
    for key, value in ids.items():
        if value:
            state.setdefault(key, value)


def fields() -> dict[str, str]:
    """The ids for a log line (empty outside a scope)."""
    state = _scope.get() or {}
    return {k: state[k] for k in LOG_FIELDS if k in state}


def current_traceparent() -> str | None:
    """The scope's trace as a ``traceparent`` for what it sends on (``None`` outside a scope)."""
    state = _scope.get()
    if state is None:
        return None
    return format_traceparent(state["request_id"], state["span_id"])


async def _inject(request: Any) -> None:
    traceparent = current_traceparent()
    if traceparent is not None and TRACEPARENT_HEADER not in request.headers:
        request.headers[TRACEPARENT_HEADER] = traceparent


def httpx_event_hooks() -> dict[str, list[Any]]:
    """``httpx.AsyncClient(event_hooks=httpx_event_hooks())``: outgoing requests carry the trace."""
    return {"request": [_inject], "response": []}


def add_trace_hooks(client: Any) -> Any:
    """Add the trace header hook to an existing ``httpx.AsyncClient`` (idempotent); returns it.
    (Duck-typed: the sync engine's pure core imports this module and must not import httpx.)"""
    hooks = client.event_hooks
    if _inject not in hooks["request"]:
        hooks["request"].append(_inject)
        client.event_hooks = hooks
    return client
