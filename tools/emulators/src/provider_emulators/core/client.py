"""The client side of the control API that every emulator mounts (``core/control.py``)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx


def tls_context(ca_path: Path) -> ssl.SSLContext:
    """Trust the emulators' CA (and nothing else)."""
    return ssl.create_default_context(cafile=str(ca_path))


class ControlClient:
    """Wraps ``/__emulator/...``; every method raises ``httpx.HTTPStatusError`` on failure.

    The routes every emulator has live here; each provider's subclass adds its own."""

    timeout: float = 10.0

    def __init__(self, base_url: str, ca_path: Path) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, verify=tls_context(ca_path), timeout=self.timeout)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"/__emulator{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self.call("POST", "/reset")

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/state")
        return result

    def requests(self) -> dict[str, int]:
        """Requests answered so far, by ``METHOD path``."""
        result: dict[str, int] = self.call("GET", "/requests")
        return result

    def calls(self, since: float = 0.0) -> list[tuple[float, str | None, str]]:
        """API calls since the Unix time ``since``: ``(time, account or None, "METHOD /path")``."""
        found = self.call("GET", f"/calls?since={since}")["calls"]
        return [(float(t), account, call) for t, account, call in found]

    def add_fault(self, path_regex: str, **rule: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/faults", {"path_regex": path_regex, **rule})
        return result

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")
