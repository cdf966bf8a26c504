"""Each mail once per (event, recipient), surviving a restart; SMTP retried with backoff, then
given up; a crashed sender's reservation lapses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from notifications_testkit import RecordingSmtp

from notifications_service.adapters.sent_mail import SENT_MAIL, Claim, SentMailStore
from notifications_service.adapters.smtp import SendFailed
from notifications_service.domain.model import Mail, MailKind, Recipient, delivery_key
from notifications_service.service_layer.delivery import DeliveryFailed, MailDelivery, RetryPolicy
from visitor_common.persistence import InMemoryDocumentStore

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def mail(to: str = "guest@example.org") -> Mail:
    return Mail(MailKind.INVITATION, Recipient(to), "subject", "body")


def delivery(
    store: InMemoryDocumentStore, smtp: RecordingSmtp, clock: Clock | None = None, attempts: int = 4
) -> MailDelivery:
    return MailDelivery(
        SentMailStore(store.collection(SENT_MAIL)),
        smtp.send,
        sender="noreply@example.com",
        clock=clock or Clock(),
        retry=RetryPolicy(attempts=attempts, initial_seconds=0.01, max_seconds=0.05),
        lease=timedelta(seconds=60),
        in_flight_poll_seconds=0.01,
    )


async def test_the_same_event_sends_each_recipient_once_even_after_a_restart() -> None:
    store, smtp = InMemoryDocumentStore(), RecordingSmtp()
    mails = [mail("a@example.org"), mail("b@example.org")]
    first = await delivery(store, smtp).deliver("ev-1", mails)
    assert (first.sent, first.skipped) == (2, 0)
    # A new process on the same store (the restart), the same event redelivered:
    again = await delivery(store, smtp).deliver("ev-1", [mail("A@Example.org"), mail("b@example.org")])
    assert (again.sent, again.skipped) == (0, 2)
    assert len(smtp.messages) == 2
    # Another event to the same guest is another mail.
    assert (await delivery(store, smtp).deliver("ev-2", [mail("a@example.org")])).sent == 1
    assert len(smtp.messages) == 3


async def test_transient_smtp_failures_are_retried_then_the_mail_goes_once() -> None:
    store, smtp = InMemoryDocumentStore(), RecordingSmtp()
    smtp.fail_next(SendFailed("421 busy", transient=True), SendFailed("connection reset", transient=True))
    outcome = await delivery(store, smtp).deliver("ev-1", [mail()])
    assert outcome.sent == 1 and smtp.attempts == 3 and len(smtp.messages) == 1


async def test_retries_run_out_then_delivery_fails_and_a_later_replay_can_send() -> None:
    store, smtp = InMemoryDocumentStore(), RecordingSmtp()
    smtp.fail_next(*[SendFailed("421 busy", transient=True)] * 3)
    with pytest.raises(DeliveryFailed, match="421 busy"):
        await delivery(store, smtp, attempts=3).deliver("ev-1", [mail()])
    assert smtp.attempts == 3 and smtp.messages == []
    # The reservation was released: replaying the dead letter sends it.
    assert (await delivery(store, smtp).deliver("ev-1", [mail()])).sent == 1


async def test_a_permanent_refusal_is_not_retried() -> None:
    store, smtp = InMemoryDocumentStore(), RecordingSmtp()
    smtp.fail_next(SendFailed("550 no such user", transient=False))
    with pytest.raises(DeliveryFailed):
        await delivery(store, smtp).deliver("ev-1", [mail()])
    assert smtp.attempts == 1


async def test_partly_delivered_event_replays_only_the_missing_mail() -> None:
    store, smtp = InMemoryDocumentStore(), RecordingSmtp()
    mails = [mail("a@example.org"), mail("b@example.org")]
    send = delivery(store, smtp, attempts=1)
    original = smtp.send
    calls = 0

    async def second_fails(message: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SendFailed("550 refused", transient=False)
        await original(message)  # type: ignore[arg-type]

    send._send = second_fails  # type: ignore[method-assign]
    with pytest.raises(DeliveryFailed):
        await send.deliver("ev-1", mails)
    replay = await delivery(store, smtp).deliver("ev-1", mails)
    assert (replay.sent, replay.skipped) == (1, 1)
    assert sorted(str(m["To"]) for m in smtp.messages) == ["a@example.org", "b@example.org"]


async def test_a_send_cancelled_by_shutdown_gives_its_reservation_back() -> None:
    store, smtp = InMemoryDocumentStore(), RecordingSmtp()
    started = asyncio.Event()

    async def hangs(message: object) -> None:
        started.set()
        await asyncio.sleep(3600)

    stuck = delivery(store, smtp)
    stuck._send = hangs  # type: ignore[method-assign]
    task = asyncio.create_task(stuck.deliver("ev-1", [mail()]))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await delivery(store, smtp).deliver("ev-1", [mail()])).sent == 1


async def test_a_crashed_senders_reservation_lapses_after_the_lease() -> None:
    store, clock = InMemoryDocumentStore(), Clock()
    sent_mail = SentMailStore(store.collection(SENT_MAIL))
    key = delivery_key("ev-1", Recipient("guest@example.org"))
    lease = timedelta(seconds=60)
    assert await sent_mail.claim(key, event_id="ev-1", kind="x", now=clock.now, lease=lease) is Claim.CLAIMED
    # ... and the process died. Within the lease another consumer waits; after it, takes over.
    assert (
        await sent_mail.claim(key, event_id="ev-1", kind="x", now=clock.now, lease=lease) is Claim.IN_FLIGHT
    )
    later = clock.now + timedelta(seconds=61)
    assert await sent_mail.claim(key, event_id="ev-1", kind="x", now=later, lease=lease) is Claim.CLAIMED


async def test_a_mail_in_flight_elsewhere_is_waited_for_not_sent_again() -> None:
    store, smtp, clock = InMemoryDocumentStore(), RecordingSmtp(), Clock()
    sent_mail = SentMailStore(store.collection(SENT_MAIL))
    key = delivery_key("ev-1", Recipient("guest@example.org"))
    await sent_mail.claim(key, event_id="ev-1", kind="x", now=clock.now, lease=timedelta(seconds=60))
    waiting = asyncio.create_task(delivery(store, smtp, clock).deliver("ev-1", [mail()]))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await sent_mail.mark_sent(key, message_id="<m>", now=clock.now)  # the other consumer finished
    outcome = await asyncio.wait_for(waiting, 10)
    assert outcome.skipped == 1 and smtp.messages == []
