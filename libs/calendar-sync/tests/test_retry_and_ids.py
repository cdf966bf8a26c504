"""Retry policy (fake clock), HTTP classification, and deterministic event ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calendar_sync.core import (
    AccessTokenRejected,
    EventAlreadyExists,
    EventNotFound,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
    classify_http,
    google_event_id,
    is_base32hex_id,
    parse_retry_after,
    transaction_id,
)
from calendar_sync.engine import RetryPolicy, call_with_retry

from .conftest import FakeSleep


@pytest.mark.parametrize(
    ("status", "reasons", "expected"),
    [
        (429, ["rateLimitExceeded"], TransientProviderError),
        (403, ["rateLimitExceeded"], TransientProviderError),
        (403, ["userRateLimitExceeded"], TransientProviderError),
        (500, ["backendError"], TransientProviderError),
        (503, [], TransientProviderError),
        (401, ["authError"], AccessTokenRejected),
        (403, ["forbidden"], ProviderRejected),
        (403, ["quotaExceeded"], ProviderRejected),
        (404, ["notFound"], EventNotFound),
        (410, ["deleted"], EventNotFound),
        (410, ["fullSyncRequired"], SyncCursorInvalid),
        (400, ["badRequest"], ProviderRejected),
        (409, ["ErrorIrresolvableConflict"], TransientProviderError),
    ],
)
def test_classification(status: int, reasons: list[str], expected: type) -> None:
    assert type(classify_http(status, reasons)) is expected


def test_409_on_insert_is_already_exists() -> None:
    assert isinstance(classify_http(409, ["duplicate"], inserting=True), EventAlreadyExists)
    assert isinstance(classify_http(409, ["conflict"]), ProviderRejected)


def test_rate_limit_flag() -> None:
    assert TransientProviderError("x", status=429).rate_limited
    assert TransientProviderError("x", status=403, reason="userRateLimitExceeded").rate_limited
    assert not TransientProviderError("x", status=503).rate_limited


def test_full_jitter_is_bounded_by_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.backoff(3, lambda: 0.0) == 0.0


def test_retry_after_is_honoured_and_bounded() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.delay(TransientProviderError("x", status=429, retry_after=7.0), 1, lambda: 0.0) == 7.0
    assert policy.delay(TransientProviderError("x", status=429, retry_after=60.0), 1, lambda: 0.0) is None
    assert policy.delay(ProviderRejected("x", status=400), 1) is None


async def test_call_with_retry_gives_up_after_max_attempts() -> None:
    sleep = FakeSleep()
    calls = 0

    async def always_busy() -> None:
        nonlocal calls
        calls += 1
        raise TransientProviderError("busy", status=503)

    with pytest.raises(TransientProviderError):
        await call_with_retry(
            always_busy, RetryPolicy(max_attempts=3, base_delay=1.0), sleep=sleep, rng=lambda: 1.0
        )
    assert calls == 3 and sleep.waits == [1.0, 2.0]


async def test_permanent_errors_are_not_retried() -> None:
    sleep = FakeSleep()

    async def bad() -> None:
        raise ProviderRejected("no", status=400)

    with pytest.raises(ProviderRejected):
        await call_with_retry(bad, RetryPolicy(), sleep=sleep)
    assert sleep.waits == []


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40), st.integers(1, 1000))
def test_google_ids_are_base32hex_and_deterministic(appointment: str, key: str, generation: int) -> None:
    event_id = google_event_id(appointment, key, generation)
    assert is_base32hex_id(event_id)
    assert event_id == google_event_id(appointment, key, generation)
    assert event_id != google_event_id(appointment, key, generation + 1)


def test_ids_differ_per_entry_and_appointment() -> None:
    ids = {google_event_id(a, k, 1) for a in ("a1", "a2") for k in ("slot:s1", "slot:s2")}
    assert len(ids) == 4
    assert transaction_id("a1", "slot:s1", 1) == transaction_id("a1", "slot:s1", 1)
    assert transaction_id("a1", "slot:s1", 1) != transaction_id("a1", "slot:s1", 2)
