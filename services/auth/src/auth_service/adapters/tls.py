"""Trust for outbound HTTPS: the system CAs plus, optionally, one extra CA (the emulators').

requests (under msal and google-auth) takes one bundle file, so the extra CA is appended to the
base bundle (``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` when set, else certifi's) in a private
file; httpx gets an ``SSLContext`` with both.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import certifi
import requests


def _base_bundle() -> str:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or certifi.where()


@lru_cache(maxsize=8)
def ca_bundle_path(extra_ca_file: str | None) -> str:
    """Path of a CA bundle for requests-based clients (the base bundle plus the extra CA).

    Named by the content's hash, so processes share one file instead of leaving one each."""
    if not extra_ca_file:
        return _base_bundle()
    combined = Path(_base_bundle()).read_text() + "\n" + Path(extra_ca_file).read_text()
    digest = hashlib.sha256(combined.encode()).hexdigest()[:24]
    path = Path(tempfile.gettempdir()) / f"auth-ca-{digest}.pem"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(combined)
        partial.replace(path)  # atomic: a concurrent reader never sees half a bundle
    return str(path)


def ssl_context(extra_ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=_base_bundle())
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


class PinnedSession(requests.Session):
    """A session whose ``verify`` really applies: requests lets ``REQUESTS_CA_BUNDLE`` override
    ``Session.verify`` whenever a call passes none (as google-auth and msal do)."""

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.verify = ca_bundle

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
