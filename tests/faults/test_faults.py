"""The fault suite (SPEC quality targets; issue 13): on Apache Kafka, thousands of appointments
across both providers are proposed, confirmed, some rescheduled and cancelled, while each of
auth, appointments and both connectors is killed with SIGKILL (three times each) and started
again on its SQLite store, the broker is stopped and started once (its data kept), 30 % of the
provider calls answer 429/503 with ``Retry-After``, every access token expires twice and one
grant is revoked. At the end no change is lost, no provider event is duplicated, every
appointment is in its right final state and sync state (the revoked one says
``reauth_required``). Then records already consumed are delivered again, out of order and
duplicated, and nothing changes.

The load is ``FAULTS_APPOINTMENTS`` (default 2,000) with ``FAULTS_CONCURRENCY`` flows at a
time; ``FAULTS_BROKER_RESTART=0`` leaves the broker alone. The figures go to
``.devstack/reports/faults.json``.

A client whose request died with the service it called cannot know whether it was made; the
driver finds out by reading back (see ``faultkit.load``), as a client would.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from faultkit import inject, report
from faultkit.chaos import KILLED, Chaos, provider_throttling, throttled_count
from faultkit.check import Checker, Verdict, live_events, revoked_verdict
from faultkit.load import Driver, Fate, Outcome, plans, sign_in_with_retry

from devstack.kafka import KAFKA_VERSION
from devstack.testing import RunningStack, running_stack
from devstack.walkthrough import Employee, morning_in

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(2400)]

APPOINTMENTS = int(os.environ.get("FAULTS_APPOINTMENTS", "2000"))
CONCURRENCY = int(os.environ.get("FAULTS_CONCURRENCY", "24"))
# off only to look at the other faults alone (the figures then say broker_restarts 0)
BROKER_RESTART = os.environ.get("FAULTS_BROKER_RESTART", "1") != "0"
REVOKED_HOST = "bob@example.com"  # a Workspace user of the demo world, linked only here
# Each connector runs one consumer per partition of its topic (6), not 2: a throttled provider call
# waits its Retry-After in-line, so a partition's records queue behind it; with a consumer per
# partition the others go on. On Apache Kafka a parked fetch is answered when data arrives, so
# the idle consumers may wait the usual 500 ms instead of polling every 10 ms (Tansu's need).
CONNECTOR = {"CONSUMER_MAX_WORKERS": "6", "KAFKA_HOT_FETCH_MAX_WAIT_MS": "500"}
OVERRIDES = {
    "appointments": {"GUEST_RATE_LIMIT_PER_MINUTE": "1000000"},  # one guest IP picks all
    # the hosts sign in once and the driver does not refresh: their tokens must outlive a run of
    # 2,000 on a loaded machine (over 15 minutes, the default lifetime)
    "auth": {"ACCESS_TOKEN_TTL_SECONDS": "3600"},
    "calendar-google": CONNECTOR,
    "calendar-outlook": CONNECTOR,
}


async def test_no_change_is_lost_and_no_event_duplicated_under_faults(tmp_path: Path) -> None:
    began = time.monotonic()
    with running_stack(tmp_path, overrides=OVERRIDES) as running:
        hosts = await _hosts(running)
        bob = await _colleague(running, hosts["google"])
        try:
            figures = await _run(running, hosts, bob, began)
        finally:
            for employee in (*hosts.values(), bob):
                await employee.close()
    report.write(figures)
    assert figures.appointments >= APPOINTMENTS
    assert all(figures.kills_per_service.get(s, 0) >= 3 for s in KILLED), figures.kills_per_service
    assert figures.broker_restarts == (1 if BROKER_RESTART else 0)
    assert figures.throttled_provider_calls > 0


async def _run(
    running: RunningStack, hosts: dict[str, Employee], bob: Employee, began: float
) -> report.Figures:
    first = morning_in(days_ahead=2)
    revoked = await _confirmed_for_revocation(running, bob, first)
    # Entra keeps a redeemed refresh token valid until it expires; the emulator retires it by
    # default (to catch a client that keeps the old one). With retirement, a SIGKILL of auth
    # between Microsoft's answer to a refresh and the store of the rotated token loses the grant
    # (seen in this suite: the host's connection went reauth_required after an auth kill); no
    # client can make the provider's answer and its own write one step. Microsoft's behaviour here.
    await asyncio.to_thread(running.microsoft.settings, retire_redeemed_refresh_tokens=False)
    provider_throttling(running)
    driver = Driver(hosts, running.urls.appointments, CONCURRENCY)
    bob_driver = Driver({"google": bob}, running.urls.appointments, 1)

    async def revoke() -> None:
        """Bob's grant is revoked at Google; then he moves his appointment, which cannot reach
        his calendar any more."""
        await asyncio.to_thread(running.google.revoke_user, REVOKED_HOST)
        await asyncio.to_thread(running.google.expire_tokens, REVOKED_HOST)
        await bob_driver.move(revoked, revoked.plan.moved_to)

    work = plans(APPOINTMENTS, first)
    probe_plans = plans(40, first + timedelta(days=40), label="probe", fate=Fate.PROPOSED)
    chaos = Chaos(running, driver, len(work), probe_plans, revoke, with_broker_restart=BROKER_RESTART)
    try:
        outcomes, _ = await asyncio.gather(driver.run(work), chaos.run())
        everything = [*outcomes, *chaos.probes]
        checker = Checker(running, hosts)
        verdict = await checker.settle(everything)
        await revoked_verdict(running, revoked, bob, verdict)
        assert verdict.clean, verdict.summary()
        redelivered = await _redeliver(running, checker, everything, revoked, bob, verdict)
    finally:
        await driver.close()
        await bob_driver.close()
    low, high = report.recovery(chaos.recoveries)
    return report.Figures(
        broker=f"Apache Kafka {KAFKA_VERSION}",
        idempotent_producer=running.stack.broker is not None and running.stack.broker.idempotent,
        appointments=len(everything) + 1,
        service_kills=sum(chaos.service_kills.values()),
        broker_restarts=chaos.broker_restarts,
        lost_changes=len(verdict.lost),
        duplicate_provider_events=len(verdict.duplicates),
        wrong_final_state=len(verdict.wrong),
        recovery_seconds_p50=low,
        recovery_seconds_max=high,
        duration_s=round(time.monotonic() - began, 1),
        kills_per_service=dict(chaos.service_kills),
        throttled_provider_calls=throttled_count(running),
        token_expiries=chaos.token_expiries,
        redelivered_records=redelivered,
        lost_answers_recovered=driver.ambiguous,
        date=report.today(),
        machine=report.machine(),
    )


async def _redeliver(
    running: RunningStack,
    checker: Checker,
    outcomes: list[Outcome],
    revoked: Outcome,
    bob: Employee,
    verdict: Verdict,
) -> int:
    """Deliver again, out of order and twice, the records of a sample of the appointments (every
    fate) and of the revoked one: afterwards the provider calendars and every appointment are
    exactly as before. ``verdict`` is replaced by the one after."""
    bootstrap = running.kafka_bootstrap
    sample = {o.appointment_id for o in outcomes[::25]} | {revoked.appointment_id}
    before = _calendars(running, checker, bob)
    records = await inject.records_of(bootstrap, sample)
    assert records, "no records found for the sample"
    sent = await inject.deliver_again(bootstrap, records)
    # twice: what the first round made the connectors publish (sync status) is consumed too
    await inject.wait_consumed(bootstrap)
    await inject.wait_consumed(bootstrap)
    after = await checker.verdict(outcomes)
    await revoked_verdict(running, revoked, bob, after)
    assert _calendars(running, checker, bob) == before, "a redelivered record changed a calendar"
    verdict.lost[:], verdict.duplicates[:], verdict.wrong[:] = after.lost, after.duplicates, after.wrong
    return sent


def _calendars(running: RunningStack, checker: Checker, bob: Employee) -> dict[str, object]:
    calendars: dict[str, object] = {
        provider: live_events(running, provider, host.email) for provider, host in checker.hosts.items()
    }
    calendars["bob"] = live_events(running, "google", bob.email)
    return calendars


async def _hosts(running: RunningStack) -> dict[str, Employee]:
    hosts = {}
    for provider in ("google", "microsoft"):
        email, password = running.demo.credentials(provider)
        hosts[provider] = await sign_in_with_retry(
            running.urls, running.demo.tenant_id, email, password, provider
        )
    return hosts


async def _colleague(running: RunningStack, admin: Employee) -> Employee:
    """Bob joins the tenant and links his Google calendar: the grant that will be revoked."""
    password = "faults-" + os.urandom(9).hex()
    await admin.add_colleague("Bob Member", REVOKED_HOST, password)
    return await sign_in_with_retry(running.urls, running.demo.tenant_id, REVOKED_HOST, password, "google")


async def _confirmed_for_revocation(running: RunningStack, bob: Employee, first: datetime) -> Outcome:
    """Bob's one appointment, proposed and confirmed before the faults begin."""
    (plan,) = plans(1, first, label="revoke", fate=Fate.RESCHEDULED, providers=("google",))
    driver = Driver({"google": bob}, running.urls.appointments, 1)
    try:
        outcome = Outcome(plan)
        await driver.propose(outcome)
        await driver.pick(outcome, outcome.slot_ids[0])
        await bob.wait_sync(outcome.appointment_id, "synced", outcome.version, within=120)
        return outcome
    finally:
        await driver.close()
