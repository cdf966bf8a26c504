"""JSON logging that never writes a secret.

Redaction happens in the formatter, so it also covers third-party loggers: known secret keys in
``extra`` fields are masked, and bearer tokens, JWTs, refresh tokens, passwords and reception
codes are masked inside free-text messages.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from visitor_common import tracecontext

REDACTED = "[REDACTED]"

SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "password",
        "client_secret",
        "secret",
        "authorization",
        "code",
        "code_verifier",
        "reception_code",
        "guest_token",
        "state",
        "private_key",
        "key",
    }
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), r"\1" + REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), REDACTED),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|client_secret|password|code_verifier|"
            r"reception_code|guest_token|token)(\"?\s*[=:]\s*\"?)([^\s&\"',}]+)"
        ),
        r"\1\2" + REDACTED,
    ),
    # OAuth codes and states travel in URL queries; "state" in prose (sync state) stays readable.
    (re.compile(r"([?&](?:code|state)=)[^&\s\"']+"), r"\1" + REDACTED),
)

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


# Every pattern above needs one of these words (case aside) to match: text with none of them
# (most log messages and field values) is returned after one search instead of four.
_SECRET_WORD = re.compile("bearer|eyj|token|secret|password|code|state", re.IGNORECASE)

# Values written as they are: nothing in them can be a secret's text.
_PLAIN = (int, float, bool, type(None))


def redact_text(text: str) -> str:
    """Mask secrets that appear inside free text (URLs, exception messages, headers)."""
    if _SECRET_WORD.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """Recursively mask secret-named keys and secret-looking strings."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the trace ids of the current
    :mod:`~visitor_common.tracecontext` scope, redacted extras, exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        payload.update(tracecontext.fields())
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        payload.update(redact(extras))
        if record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class RepeatFilter(logging.Filter):
    """Lets one record of a kind through per ``window`` seconds; the next one that passes says
    how many were dropped (``repeated``). A kind is the logger, the level and the message
    template (``record.msg`` before its arguments).

    While the broker is down or restarting, every Kafka client of a service (one per consumer,
    the producer, the admin client) logs each failed reconnect at ERROR, every retry backoff
    (~100 ms): measured 6,500 lines in 22 s from one connector, on all services at once. That
    costs the CPU the recovery needs and can fill the pipe a supervisor reads the logs from, and
    it says nothing the first line of each kind did not."""

    def __init__(
        self, prefixes: tuple[str, ...], window: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._window = window
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        last = self._seen.get(kind)
        if last is not None and now - last[0] < self._window:
            self._seen[kind] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.repeated = last[1]
        if len(self._seen) > 1000:  # kinds are few; never let the map grow without bound
            self._seen.clear()
        self._seen[kind] = (now, 0)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger through one redacting JSON handler on stderr (repeats of the Kafka
    client's records collapsed, see :class:`RepeatFilter`)."""
    # The line holds none of the caller's file, line, thread or process: skip gathering them
    # (the logging HOWTO's "Optimization"; 76 -> 64 µs a line with the formatter below).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatFilter(("aiokafka",)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
