"""The whole local stack (``make run``'s own code) on free ports, for end-to-end tests and benches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.demo import DemoAccounts
from devstack.stack import LocalStack, StackConfig
from devstack.walkthrough import StackUrls
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


@contextmanager
def running_stack(
    state_dir: Path, overrides: dict[str, dict[str, str]] | None = None
) -> Iterator[RunningStack]:
    """Start everything, yield handles to it, stop every process on exit."""
    config = StackConfig.with_free_ports(state_dir, overrides=overrides or {})
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
