"""Issue 18 on the real processes: two instances of each connector (own ports, one SQLite store
and one consumer group per connector, as replicas), a real broker, the emulators over HTTPS,
calendars linked through the real link path. What is checked is what the providers saw — each
poll is one incremental listing of one host's calendar in the emulator's call log — and which
instance the shared lease table names.

- two instances split the connections and never poll one twice within an interval;
- a killed instance's connections move to the other within the session timeout, and each is
  polled within an interval after that;
- a connection whose push channel fails falls back to frequent polling, and returns to rare
  polling once its channel is back — also when the removal notice reaches the instance whose
  address opened the channel while the other instance owns the connection now.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack import fleet
from devstack.drift_at_scale import CHANNEL_CALLS, CONNECTORS, Observer, Plan, duplicates
from devstack.testing import RunningStack, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(600)]

# A new link is claimed by the instance that reads its ``linked`` event (one per partition of
# the connections group), whatever its share; the others' shares come back at the next full
# rebalance, 300 s by default: 10 s here, so the split below does not wait on that period.
PLAN = Plan(connections=12, interval_s=4.0, lease_s=3.0, rebalance_s=10.0)
HOSTS = {"google": 6, "microsoft": 6}
# Channel opening refused (a client error, not retried): every connection is without a channel.
CHANNEL_FAULTS = {
    "google": r"/calendar/v3/calendars/primary/events/watch$",
    "microsoft": r"^/v1\.0/subscriptions$",
}


def _refuse_channels(running: RunningStack) -> None:
    running.google.add_fault(CHANNEL_FAULTS["google"], method="POST", status=400, reason="invalid")
    running.microsoft.add_fault(CHANNEL_FAULTS["microsoft"], method="POST", status=400, reason="BadRequest")


def _allow_channels(running: RunningStack) -> None:
    running.google.clear_faults()
    running.microsoft.clear_faults()


@pytest.fixture(scope="module")
def drifting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, Observer]]:
    with running_stack(
        tmp_path_factory.mktemp("drift-instances"),
        overrides=PLAN.overrides(push=True),
        instances={connector: 2 for connector in CONNECTORS},
    ) as running:
        _refuse_channels(running)
        hosts = asyncio.run(fleet.link_hosts(running, HOSTS, say=lambda _: None))
        yield running, Observer(running, hosts)


async def _until(
    check: Callable[[], bool], within: float, what: str, seen: Callable[[], object] | None = None
) -> None:
    """Until ``check``; past ``within`` the failure says ``what`` and, given, what was ``seen``."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within} s" + (f"; {seen()}" if seen else ""))
        await asyncio.sleep(0.5)


def _owned_by(observer: Observer) -> dict[str | None, int]:
    return dict(observer.owners())


async def test_two_instances_split_the_connections_and_never_poll_one_twice_per_interval(
    drifting: tuple[RunningStack, Observer],
) -> None:
    running, observer = drifting
    instances = {name for c in CONNECTORS for name in running.stack.config.instance_names(c)}

    def split() -> bool:
        owned = _owned_by(observer)
        # every connection owned and every instance at its share: what a rebalance leaves (a
        # connection released by one instance and not yet claimed by the other is not polled)
        counts = [owned.get(instance, 0) for instance in instances]
        balanced = max(counts) - min(counts) <= 1 and min(counts) > 0
        return balanced and sum(owned.values()) == len(observer.hosts)

    # a bound for a hung run, not a target: two rebalance periods and then some
    shares = "every connection owned, every instance at its share"
    await _until(split, within=60, what=shares, seen=lambda: _owned_by(observer))
    await asyncio.sleep(PLAN.interval_s * 1.2)  # past the first polls, spread over an interval
    since = time.time()
    await asyncio.sleep(PLAN.interval_s * 3)
    polls = observer.polls(observer.calls(since, time.time()))

    assert set(polls) == observer.hosts  # every host polled (its channel is refused) ...
    assert all(2 <= len(times) <= 4 for times in polls.values()), {h: len(t) for h, t in polls.items()}
    assert duplicates(polls, PLAN.interval_s) == 0  # ... and never twice within an interval


async def test_a_killed_instance_hands_its_connections_over_within_the_session_timeout(
    drifting: tuple[RunningStack, Observer],
) -> None:
    running, observer = drifting
    killed = [running.stack.config.instance_names(c)[-1] for c in CONNECTORS]
    before = time.time()
    for instance in killed:
        running.stack.kill_service(instance)
    try:
        await _until(
            lambda: not set(killed) & set(_owned_by(observer)),
            within=PLAN.session_s + PLAN.interval_s,  # the survivor sees the lease run out, then claims
            what="the killed instances' connections moved",
        )
        after_session = before + PLAN.session_s
        await asyncio.sleep(max(0.0, after_session + PLAN.interval_s * 1.5 - time.time()))
        watched = observer.polls(observer.calls(after_session, time.time()))
        assert set(watched) == observer.hosts  # none left unwatched
        around = observer.polls(observer.calls(before - PLAN.interval_s * 2, time.time()))
        assert duplicates(around, PLAN.interval_s) == 0
    finally:
        for instance in killed:
            await asyncio.to_thread(running.stack.restart_service, instance)


async def test_connections_poll_rarely_once_their_channels_are_back(
    drifting: tuple[RunningStack, Observer],
) -> None:
    running, observer = drifting
    since = time.time()
    _allow_channels(running)
    await _until(  # each connection opens its channel at its next poll
        lambda: (
            observer.hosts
            <= {
                account
                for _, account, call in observer.calls(since, time.time() + 1)
                if call in CHANNEL_CALLS
            }
        ),
        within=PLAN.interval_s * 3 + 10,
        what="every channel open",
    )
    await asyncio.sleep(1.0)
    quiet = time.time()
    await asyncio.sleep(PLAN.interval_s * 2)
    assert observer.polls(observer.calls(quiet, time.time())) == {}  # push healthy: rare polling


def _moved_channels(running: RunningStack, observer: Observer) -> list[tuple[str, str, str]]:
    """Outlook subscriptions whose connection another instance owns than the one whose address
    opened them: ``(subscription id, mailbox, opener)``."""
    config = running.stack.config
    instances = config.instance_names("calendar-outlook")
    owners = observer.lease_owners(["calendar-outlook"])
    state = running.microsoft.state()
    mailboxes = {user["id"]: user["email"] for user in state["users"]}
    moved = []
    for subscription in state["subscriptions"]:
        mailbox = mailboxes[subscription["user_id"]]
        url = subscription["notification_url"]
        opener = next(i for i in instances if url.startswith(config.url(i) + "/"))
        owner = owners.get(observer.connection_ids.get(mailbox, ""))
        if owner in instances and owner != opener:
            moved.append((str(subscription["id"]), mailbox, opener))
    return moved


async def _move_ownership_away_from_the_openers(running: RunningStack, observer: Observer) -> None:
    """Restart Outlook instances (a clean stop hands its connections to the other, which keeps
    the first half by id when the restarted one comes back) until some connection's owner is
    not the instance its channel's notices go to; two restarts at most."""
    instances = running.stack.config.instance_names("calendar-outlook")
    outlook = {observer.connection_ids[h] for h in observer.hosts if h.endswith("@contoso.example")}

    def split() -> bool:
        owners = observer.lease_owners(["calendar-outlook"])
        counts = {i: sum(1 for c in outlook if owners.get(c) == i) for i in instances}
        return set(counts.values()) == {len(outlook) // len(instances)}

    for instance in instances:
        if _moved_channels(running, observer):
            return
        await asyncio.to_thread(running.stack.stop_and_restart, instance)
        await _until(split, within=60, what=f"the connections split again after {instance} restarted")
        # past the joiner's settling rounds (three leases), so the owners stay put from now on
        await asyncio.sleep(PLAN.lease_s * 4)


async def test_a_channel_failing_later_falls_back_to_frequent_polling_and_back(
    drifting: tuple[RunningStack, Observer],
) -> None:
    """Runs after the channels are back (the test above). The removal notice goes to the
    instance whose address opened the channel, which no longer owns the connection: its owner
    must poll frequently all the same."""
    running, observer = drifting
    await _move_ownership_away_from_the_openers(running, observer)
    moved = _moved_channels(running, observer)
    assert moved, "no connection owned by another instance than its channel's opener"
    subscription_id, mailbox, _opener = moved[0]
    connection_id = observer.connection_ids[mailbox]
    owner = observer.lease_owners(["calendar-outlook"])[connection_id]
    # That connection's channel fails: Graph removes the subscription, a new one is refused.
    _refuse_channels(running)
    removed = time.time()
    running.microsoft.lifecycle(subscription_id, "subscriptionRemoved")
    await asyncio.sleep(PLAN.interval_s * 3)
    frequent = observer.polls(observer.calls(removed, time.time()))
    # The opener syncs once at the notice (all the old code did); the owner, which did not move,
    # every interval after it saw the flag.
    assert observer.lease_owners(["calendar-outlook"])[connection_id] == owner
    assert set(frequent) == {mailbox} and len(frequent[mailbox]) >= 2, frequent

    back = time.time()
    _allow_channels(running)

    def reopened() -> bool:
        calls = observer.calls(back, time.time() + 1)
        return any(account == mailbox and call in CHANNEL_CALLS for _, account, call in calls)

    await _until(
        reopened,
        within=PLAN.interval_s * 2 + 5,
        what="its channel back",
    )
    await asyncio.sleep(1.0)
    rare = time.time()
    await asyncio.sleep(PLAN.interval_s * 2)
    assert observer.polls(observer.calls(rare, time.time())) == {}  # rare polling again


def test_the_shared_sqlite_store_is_one_file_per_connector(drifting: tuple[RunningStack, Observer]) -> None:
    running, _ = drifting
    for connector in CONNECTORS:
        envs = [running.stack.service_env(name) for name in running.stack.config.instance_names(connector)]
        prefix = "CALENDAR_GOOGLE_" if connector == "calendar-google" else "CALENDAR_OUTLOOK_"
        assert len({env[prefix + "SQLITE_PATH"] for env in envs}) == 1
        assert len({env[prefix + "HTTP_PORT"] for env in envs}) == len(envs)
        assert Path(envs[0][prefix + "SQLITE_PATH"]).exists()
