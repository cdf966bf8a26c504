"""Operations on the running stack: one pick tells one story in every service's log, and every
service's ``/metrics`` shows what the run did — with no tenant, e-mail or token in any label.

Both tests share one run (a Google host proposes two slots, the guest picks one, the connector
confirms it: ``synced`` at version 2), then read the log files under ``<state-dir>/logs/`` and
scrape each service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import SERVICES
from devstack.testing import RunningStack
from devstack.walkthrough import guest_pick, morning_in, slots_from
from visitor_common import topics

# The first test of a session waits for the whole stack to start (slow on a busy machine).
pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.timeout(420)]

PICK_ROUTE = "/v1/guest/appointments/{token}/pick"
Line = dict[str, Any]


@dataclass(frozen=True)
class Run:
    appointment_id: str
    guest_token: str
    tenant_id: str
    email: str
    access_token: str


@pytest.fixture(scope="module")
def run(running_stack: RunningStack) -> Run:
    return asyncio.run(_pick_run(running_stack))


async def _pick_run(running_stack: RunningStack) -> Run:
    employee = await running_stack.sign_in("google")
    try:
        await employee.ensure_linked("google")
        created = await employee.propose(*slots_from(morning_in(9), 2))
        await employee.wait_sync(created["appointment_id"], "synced", version=1)
        slot = created["candidates"][0]["slot_id"]
        await guest_pick(running_stack.urls.appointments, created["guest_token"], slot)
        await employee.wait_sync(created["appointment_id"], "synced", version=2)
        token = str(employee.appointments.headers["authorization"]).removeprefix("Bearer ")
        return Run(
            created["appointment_id"],
            created["guest_token"],
            running_stack.demo.tenant_id,
            employee.email,
            token,
        )
    finally:
        await employee.close()


def log_lines(running: RunningStack, service: str) -> list[Line]:
    """The JSON lines of ``service``'s log file (anything else in it is skipped)."""
    path = Path(running.stack.config.state_dir) / "logs" / f"{service}.log"
    lines: list[Line] = []
    for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


async def eventually_line(
    running: RunningStack, service: str, wanted: Callable[[Line], bool], what: str, within: float = 30.0
) -> Line:
    """The first line of ``service``'s log ``wanted`` accepts, waiting for it to be written."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = [line for line in log_lines(running, service) if wanted(line)]
        if found:
            return found[0]
        if loop.time() > deadline:
            near = [line for line in log_lines(running, service) if line.get("message") == "http request"]
            raise AssertionError(f"{service} never logged {what}; its requests: {near[-10:]}")
        await asyncio.sleep(0.5)


async def test_one_grep_follows_a_pick_from_the_request_to_synced(
    running_stack: RunningStack, run: Run
) -> None:
    appointment = run.appointment_id

    def about(message: str, **fields: Any) -> Callable[[Line], bool]:
        return lambda line: (
            line.get("message") == message
            and line.get("appointment_id") == appointment
            and all(line.get(k) == v for k, v in fields.items())
        )

    pick = await eventually_line(
        running_stack, "appointments", about("http request", route=PICK_ROUTE, status=200), "the pick request"
    )
    trace = pick["request_id"]
    assert pick["event_id"], "the pick's log line names the event it produced"

    def traced(message: str, **fields: Any) -> Callable[[Line], bool]:
        check = about(message, **fields)
        return lambda line: check(line) and line.get("request_id") == trace

    await eventually_line(running_stack, "appointments", traced("event published"), "the event going out")
    consumed = await eventually_line(
        running_stack,
        "calendar-google",
        traced("message consumed", topic=topics.GOOGLE_APPOINTMENTS),
        "the Kafka consume of the pick",
    )
    assert consumed["event_id"]
    await eventually_line(
        running_stack, "calendar-google", traced("provider call", provider="google"), "a provider call"
    )
    await eventually_line(
        running_stack, "calendar-google", traced("sync status reported", sync_state="synced"), "synced"
    )
    await eventually_line(
        running_stack,
        "appointments",
        traced("message consumed", topic=topics.SYNC_STATUS),
        "the sync status coming back",
    )
    # Nothing of the story names a guest token.
    for service in ("appointments", "calendar-google"):
        assert not [line for line in log_lines(running_stack, service) if run.guest_token in json.dumps(line)]


async def scrape(running: RunningStack, service: str) -> str:
    async with httpx.AsyncClient(base_url=running.stack.config.url(service), timeout=20) as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 200, service
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def label_values(text: str) -> set[str]:
    return {
        value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        for value in s.labels.values()
    }


async def test_every_service_exposes_the_run_in_its_metrics(running_stack: RunningStack, run: Run) -> None:
    scraped = {service: await scrape(running_stack, service) for service in SERVICES}

    for service, text in scraped.items():
        assert total(text, "http_requests_total") > 0, service
        assert "http_request_duration_seconds_bucket" in text, service
        values = label_values(text)
        assert run.tenant_id not in values, service
        for secret in (run.email, run.guest_token, run.access_token):
            assert not [v for v in values if secret in v], (service, secret)

    appointments, google = scraped["appointments"], scraped["calendar-google"]
    assert total(appointments, "http_requests_total", route=PICK_ROUTE, method="POST", status="200") >= 1
    assert (
        total(appointments, "faststream_published_messages_total", destination=topics.GOOGLE_APPOINTMENTS) > 0
    )
    assert total(appointments, "faststream_received_processed_messages_total", handler=topics.SYNC_STATUS) > 0
    assert "outbox_backlog_entries" in appointments and "outbox_oldest_entry_age_seconds" in appointments
    assert "kafka_consumer_lag" in appointments

    assert (
        total(google, "faststream_received_processed_messages_total", handler=topics.GOOGLE_APPOINTMENTS) > 0
    )
    assert total(google, "faststream_published_messages_total", destination=topics.SYNC_STATUS) > 0
    assert total(google, "calendar_sync_outcomes_total", provider="google", state="synced") >= 2
    assert total(google, "provider_api_calls_total", provider="google") > 0
    assert 'kafka_consumer_lag{group="' in google
    for name in ("provider_api_throttled_total", "token_refreshes_total", "calendar_drift_detections_total"):
        assert f"# TYPE {name} counter" in google, name

    assert total(scraped["auth"], "faststream_published_messages_total") > 0  # the link event
    assert "token_refreshes_total" in scraped["auth"]
