"""Dependencies that are there for what they save, not for an import of ours."""

from __future__ import annotations

import importlib.util


def test_sniffio_is_installed_for_httpcore() -> None:
    # httpcore imports sniffio on every request (to tell asyncio from trio); when it is missing
    # each request searches every sys.path entry for it again.
    assert importlib.util.find_spec("sniffio") is not None
