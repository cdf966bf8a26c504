"""The whole local stack on free ports, started once for the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.testing import RunningStack
from devstack.testing import running_stack as start_stack


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with start_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
