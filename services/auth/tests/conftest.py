"""Fixtures of the auth service's suites; the machinery lives in ``auth_testkit``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib does not put test directories on sys.path; the kit must be importable.
sys.path.insert(0, str(Path(__file__).parent))

from auth_testkit import (
    _cheap_password_hashing,
    _no_env_leak,
    clock,
    emulators,
    fake_google,
    harness,
    unit_harness,
)  # noqa: E402

__all__ = [
    "_cheap_password_hashing",
    "_no_env_leak",
    "clock",
    "emulators",
    "fake_google",
    "harness",
    "unit_harness",
]


_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Our Microsoft callback is GET with a query by contract (PKCE + single-use state protect the
    # code); MSAL warns about that on every flow.
    quiet = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning")
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(quiet)
