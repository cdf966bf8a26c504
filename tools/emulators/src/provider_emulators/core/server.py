"""Serve an ASGI app over HTTPS with uvicorn, in a background thread or in the foreground.

The listening socket is bound *before* the app is built, so an app factory can receive its own
base URL (issuer and redirect URLs need it) even when port 0 asks for a free port.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from provider_emulators.core.tls import ensure_ca

ASGIApp = Callable[..., Any]
AppFactory = Callable[[str], ASGIApp]
_START_TIMEOUT_S = 15.0


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it Nagle + delayed ACK add ~40 ms per response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - mapping, not binding


def advertised_host(host: str, public_host: str | None) -> str:
    """The host name clients use: ``public_host`` if given, loopback for wildcard binds."""
    return public_host or _WILDCARDS.get(host, host)


def format_base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"


def _resolve_app(app: ASGIApp | None, app_factory: AppFactory | None, base_url: str) -> ASGIApp:
    if (app is None) == (app_factory is None):
        raise ValueError("pass exactly one of app or app_factory")
    return app if app is not None else app_factory(base_url)  # type: ignore[misc]


class _PreparedServer:
    """Socket, TLS files and uvicorn server shared by the threaded and foreground modes."""

    def __init__(
        self,
        app: ASGIApp | None,
        host: str,
        port: int,
        data_dir: Path | None,
        app_factory: AppFactory | None,
        public_host: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="emu-"))
        self.ca = ensure_ca(self.data_dir)
        self.socket = bind_socket(host, port)
        self.port: int = self.socket.getsockname()[1]
        self.public_host = advertised_host(host, public_host)
        self.base_url = format_base_url(self.public_host, self.port)
        self.app = _resolve_app(app, app_factory, self.base_url)
        cert, key = self.ca.issue_server_cert([self.public_host, *([host] if host not in _WILDCARDS else [])])
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level="warning",
            access_log=False,
            lifespan="auto",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)


class EmulatorServer:
    """Run an ASGI app over HTTPS in a background thread.

    ``EmulatorServer(app_factory=create_app, data_dir=d)`` builds the app with its base URL;
    ``EmulatorServer(app, data_dir=d)`` serves a ready app. The port is bound in the
    constructor, so ``base_url`` is known before ``start()``. ``public_host`` is the name
    clients use (base URL and certificate), e.g. a docker-compose service name.
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        *,
        app_factory: AppFactory | None = None,
        public_host: str | None = None,
    ) -> None:
        self._prepared = _PreparedServer(app, host, port, data_dir, app_factory, public_host)
        self._thread: threading.Thread | None = None

    @property
    def app(self) -> ASGIApp:
        return self._prepared.app

    @property
    def base_url(self) -> str:
        return self._prepared.base_url

    @property
    def port(self) -> int:
        return self._prepared.port

    @property
    def ca_path(self) -> Path:
        return self._prepared.ca.ca_path

    @property
    def data_dir(self) -> Path:
        return self._prepared.data_dir

    def start(self) -> EmulatorServer:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        server = self._prepared.server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._prepared.socket]}, daemon=True, name="emulator"
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"emulator at {self.base_url} failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to finish."""
        if self._thread is None:
            self._prepared.socket.close()
            return
        self._prepared.server.should_exit = True
        self._thread.join(timeout=10)
        self._thread = None
        self._prepared.socket.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    app: ASGIApp | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path | None = None,
    *,
    app_factory: AppFactory | None = None,
    on_ready: Callable[[str, Path], None] | None = None,
    public_host: str | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (uvicorn installs the handlers).

    ``on_ready(base_url, ca_path)`` is called once the socket listens, before serving starts.
    """
    prepared = _PreparedServer(app, host, port, data_dir, app_factory, public_host)
    if on_ready is not None:
        on_ready(prepared.base_url, prepared.ca.ca_path)
    try:
        prepared.server.run(sockets=[prepared.socket])
    finally:
        prepared.socket.close()
