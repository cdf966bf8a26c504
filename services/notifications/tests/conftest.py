"""Fixtures of the notifications service's suites; the machinery lives in ``notifications_testkit``."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib does not put test directories on sys.path; the kit must be importable.
sys.path.insert(0, str(Path(__file__).parent))

from notifications_testkit import _no_env_leak  # noqa: E402

__all__ = ["_no_env_leak"]
