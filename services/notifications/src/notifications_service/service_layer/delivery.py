"""Delivering each mail once: reserve its sent-mail record, send with retries, record it sent.

Per mail (event id × recipient): a record already ``sent`` means skip; one being sent by
another consumer (a rebalance handed the partition over mid-send) is waited for; otherwise this
consumer reserves it, hands the message to SMTP — retrying transient failures with exponential
backoff and jitter (tenacity) — and marks it sent once the server accepted it. When the
attempts run out, or the server refuses for good (5xx), the reservation is released and
:class:`DeliveryFailed` tells the handler to dead-letter the event; mails of the same event that
did go out stay recorded, so replaying the dead letter sends only the missing ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from notifications_service.adapters.sent_mail import Claim, SentMailStore
from notifications_service.adapters.smtp import SendFailed
from notifications_service.domain.message import OutgoingMessage, message_id, mime_message
from notifications_service.domain.model import Mail, delivery_key
from visitor_common import metrics

log = logging.getLogger(__name__)

Send = Callable[[OutgoingMessage], Awaitable[None]]
Clock = Callable[[], datetime]


class DeliveryFailed(Exception):
    """A mail of the event could not be delivered; the event goes to the dead-letter topic."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_seconds: float = 1.0
    max_seconds: float = 30.0


@dataclass
class Outcome:
    sent: int = 0
    skipped: int = 0


def _transient(error: BaseException) -> bool:
    return isinstance(error, SendFailed) and error.transient


class MailDelivery:
    def __init__(
        self,
        store: SentMailStore,
        send: Send,
        *,
        sender: str,
        clock: Clock,
        retry: RetryPolicy,
        lease: timedelta,
        in_flight_poll_seconds: float = 0.5,
    ) -> None:
        self._store = store
        self._send = send
        self._sender = sender
        self._clock = clock
        self._retry = retry
        self._lease = lease
        self._poll = in_flight_poll_seconds

    async def deliver(self, event_id: str, mails: Sequence[Mail]) -> Outcome:
        outcome = Outcome()
        for mail in mails:
            if await self._deliver_one(event_id, mail):
                outcome.sent += 1
            else:
                outcome.skipped += 1
        return outcome

    async def _deliver_one(self, event_id: str, mail: Mail) -> bool:
        """True when this call sent the mail, False when it had already been sent."""
        key = delivery_key(event_id, mail.to)
        if not await self._reserve(key, event_id, mail):
            log.info("mail already sent; skipped", extra={"event_id": event_id, "kind": mail.kind.value})
            return False
        message = mime_message(mail, sender=self._sender, delivery_key=key, date=self._clock())
        try:
            await self._send_with_retries(message)
        except BaseException as error:
            # Failed for good, or cancelled by a shutdown: give the reservation back so the next
            # delivery (a redelivery, a replayed dead letter) sends it instead of waiting.
            await asyncio.shield(self._store.release(key))
            if isinstance(error, SendFailed):
                metrics.mail("failed")
                raise DeliveryFailed(f"{mail.kind.value} mail not accepted: {error}") from error
            raise
        await self._store.mark_sent(key, message_id=message_id(key), now=self._clock())
        log.info("mail sent", extra={"event_id": event_id, "kind": mail.kind.value})
        metrics.mail("sent")
        return True

    async def _reserve(self, key: str, event_id: str, mail: Mail) -> bool:
        while True:
            claim = await self._store.claim(
                key, event_id=event_id, kind=mail.kind.value, now=self._clock(), lease=self._lease
            )
            if claim is Claim.CLAIMED:
                return True
            if claim is Claim.ALREADY_SENT:
                return False
            await asyncio.sleep(self._poll)  # another consumer is sending it right now

    async def _send_with_retries(self, message: OutgoingMessage) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_random_exponential(multiplier=self._retry.initial_seconds, max=self._retry.max_seconds),
            retry=retry_if_exception(_transient),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "SMTP attempt failed; retrying",
                extra={"attempt": state.attempt_number, "error": str(state.outcome.exception())[:300]}
                if state.outcome
                else {"attempt": state.attempt_number},
            ),
        )
        async for attempt in retrying:
            with attempt:
                await self._send(message)
