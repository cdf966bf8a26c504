"""Logs are JSON and never carry a secret, whether in extras or inside free text."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from visitor_common.logging import _PATTERNS, REDACTED, JsonFormatter, RepeatFilter, redact, redact_text


def format_record(message: str, **extra: object) -> dict[str, object]:
    logger = logging.getLogger("t")
    record = logger.makeRecord("t", logging.INFO, __file__, 1, message, (), None, extra=extra)
    return json.loads(JsonFormatter("svc").format(record))


def test_secret_extras_are_masked_recursively() -> None:
    out = format_record(
        "linked", refresh_token="1//abc", nested={"client_secret": "s3cret", "ok": 1}, connection="c1"
    )
    text = json.dumps(out)
    assert "1//abc" not in text and "s3cret" not in text
    assert out["refresh_token"] == REDACTED
    assert out["connection"] == "c1"


def test_secrets_inside_text_are_masked() -> None:
    line = redact_text(
        "GET /cb?code=4/0Ab&state=xyz Authorization: Bearer ya29.tok refresh_token=1//r "
        "jwt eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln password: hunter2"
    )
    for secret in ("4/0Ab", "xyz", "ya29.tok", "1//r", "eyJhbGciOiJFZERTQSJ9", "hunter2"):
        assert secret not in line


def test_plain_prose_is_kept() -> None:
    assert redact_text("sync state=synced for appointment a1") == "sync state=synced for appointment a1"
    assert redact({"state": "x", "status": "ok"}) == {"state": REDACTED, "status": "ok"}


def test_exceptions_are_redacted() -> None:
    logger = logging.getLogger("t")
    try:
        raise RuntimeError("refresh failed for refresh_token=1//leak")
    except RuntimeError:
        import sys

        record = logger.makeRecord("t", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert "1//leak" not in JsonFormatter("svc").format(record)


def test_repeats_of_a_kafka_client_record_are_collapsed_and_counted() -> None:
    now = [0.0]
    repeats = RepeatFilter(("aiokafka",), window=5.0, clock=lambda: now[0])

    def passes(name: str, msg: str, *args: object) -> logging.LogRecord | None:
        record = logging.getLogger(name).makeRecord(name, logging.ERROR, __file__, 1, msg, args, None)
        return record if repeats.filter(record) else None

    unreachable = "Unable connect to node with id %s: %s"
    assert passes("aiokafka", unreachable, 1, "refused") is not None
    for _ in range(40):  # every retry backoff while the broker is down
        now[0] += 0.1
        assert passes("aiokafka", unreachable, 1, "refused") is None
    # another kind, and any other logger, still pass at once
    assert passes("aiokafka", "Unable to update metadata from %s", [1]) is not None
    assert passes("appointments", unreachable, 1, "refused") is not None
    now[0] += 1.1  # the window is over: the next one passes and says what was dropped
    after = passes("aiokafka", unreachable, 1, "refused")
    assert after is not None and after.__dict__["repeated"] == 40
    now[0] += 6.0
    quiet = passes("aiokafka", unreachable, 1, "refused")
    assert quiet is not None and "repeated" not in quiet.__dict__


_FRAGMENTS = [
    "Bearer ",
    "bEaReR ",
    "eyJhb.cd.ef",
    "EYJx.y.z",
    "token",
    "Access_Token",
    "=",
    ": ",
    '"',
    "?code=",
    "&state=",
    "password",
    "Secret",
    "client_secret",
    "reception_code",
    "x",
    "1234",
    " ",
    "&",
    "sync state",
    "/path",
]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join))
def test_the_quick_check_never_skips_what_a_pattern_would_mask(text: str) -> None:
    masked = text
    for pattern, replacement in _PATTERNS:
        masked = pattern.sub(replacement, masked)
    assert redact_text(text) == masked
