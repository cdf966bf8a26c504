"""The whole local stack (``make run``'s own code) on free ports, for end-to-end tests and benches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.demo import DemoAccounts
from devstack.stack import LocalStack, StackConfig
from devstack.walkthrough import Employee, StackUrls
from provider_emulators.google.testing import GoogleControl
from provider_emulators.microsoft.testing import MicrosoftControl


@dataclass
class RunningStack:
    stack: LocalStack
    urls: StackUrls
    demo: DemoAccounts
    google: GoogleControl
    microsoft: MicrosoftControl

    @property
    def kafka_bootstrap(self) -> str:
        assert self.stack.broker is not None
        return self.stack.broker.bootstrap_servers

    async def sign_in(self, provider: str) -> Employee:
        """The demo host of ``provider`` (``google`` / ``microsoft``), signed in."""
        email, password = self.demo.credentials(provider)
        return await Employee.sign_in(self.urls, self.demo.tenant_id, email, password)

    def live_events(self, provider: str, email: str) -> list[CalendarEvent]:
        """The events in ``email``'s calendar at the emulator, without deleted ones."""
        if provider == "google":
            live = [e for e in self.google.events(email) if e["status"] != "cancelled"]
            return [CalendarEvent(e["id"], e.get("summary", ""), e["status"] == "tentative") for e in live]
        found = [e for e in self.microsoft.mailbox_events(email) if not e.get("deleted")]
        return [CalendarEvent(e["id"], e.get("subject", ""), e["showAs"] == "tentative") for e in found]


@dataclass(frozen=True)
class CalendarEvent:
    """One event as the emulated provider holds it."""

    event_id: str
    title: str
    tentative: bool


@contextmanager
def running_stack(
    state_dir: Path,
    overrides: dict[str, dict[str, str]] | None = None,
    instances: dict[str, int] | None = None,
) -> Iterator[RunningStack]:
    """Start everything, yield handles to it, stop every process on exit. ``instances``: how
    many processes run a service (default one each)."""
    config = StackConfig.with_free_ports(state_dir, overrides=overrides or {}, instances=instances or {})
    stack = LocalStack(config, say=lambda _: None)
    try:
        stack.start()
        assert stack.demo is not None
        google, microsoft = stack.emulators["google"], stack.emulators["microsoft"]
        running = RunningStack(
            stack=stack,
            urls=StackUrls(
                auth=stack.config.url("auth"),
                appointments=stack.config.url("appointments"),
                ca_file=google.ca_file,
            ),
            demo=stack.demo,
            google=GoogleControl(google.base_url, Path(google.ca_file)),
            microsoft=MicrosoftControl(microsoft.base_url, Path(microsoft.ca_file)),
        )
        try:
            yield running
        finally:
            running.google.close()
            running.microsoft.close()
    finally:
        stack.stop()
