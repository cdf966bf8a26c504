"""Fixtures of the web front's suites; the fakes live in ``web_testkit``."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib does not put test directories on sys.path; the kit must be importable.
sys.path.insert(0, str(Path(__file__).parent))

from web_testkit import browser, fakes  # noqa: E402

__all__ = ["browser", "fakes"]
