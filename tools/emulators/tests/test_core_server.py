"""EmulatorServer (background HTTPS) and the provider-emulator CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from provider_emulators.cli import load_factory, main
from provider_emulators.core.client import tls_context
from provider_emulators.core.server import EmulatorServer
from provider_emulators.google.app import create_app as create_google_app


def make_app(base_url: str) -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami() -> dict[str, Any]:
        return {"base_url": base_url}

    return app


def test_factory_gets_base_url_and_serves_https(tmp_path: Path) -> None:
    with EmulatorServer(app_factory=make_app, data_dir=tmp_path) as server:
        assert server.base_url == f"https://127.0.0.1:{server.port}"
        assert server.port > 0
        assert server.ca_path == tmp_path / "ca.pem"
        with httpx.Client(verify=tls_context(server.ca_path)) as client:
            assert client.get(f"{server.base_url}/whoami").json() == {"base_url": server.base_url}
        with httpx.Client() as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get(f"{server.base_url}/whoami")
    with httpx.Client(verify=tls_context(tmp_path / "ca.pem")) as client, pytest.raises(httpx.ConnectError):
        client.get(f"{server.base_url}/whoami")


def test_ready_app_and_explicit_start_stop(tmp_path: Path) -> None:
    server = EmulatorServer(make_app("fixed"), data_dir=tmp_path)
    assert server.start() is server
    assert server.start() is server  # idempotent
    with httpx.Client(verify=tls_context(server.ca_path)) as client:
        assert client.get(f"{server.base_url}/whoami").json() == {"base_url": "fixed"}
    server.stop()
    server.stop()


def test_two_servers_share_one_ca(tmp_path: Path) -> None:
    with (
        EmulatorServer(app_factory=make_app, data_dir=tmp_path) as a,
        EmulatorServer(app_factory=make_app, data_dir=tmp_path) as b,
    ):
        assert a.port != b.port
        with httpx.Client(verify=tls_context(tmp_path / "ca.pem")) as client:
            assert client.get(f"{a.base_url}/whoami").status_code == 200
            assert client.get(f"{b.base_url}/whoami").status_code == 200


def test_app_and_factory_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        EmulatorServer(data_dir=tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        EmulatorServer(make_app("x"), data_dir=tmp_path, app_factory=make_app)


def test_default_data_dir_is_a_temp_dir() -> None:
    server = EmulatorServer(make_app("x"))
    assert (server.data_dir / "ca.pem").exists()
    server.stop()


def _start_cli(tmp_path: Path, provider: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provider_emulators.cli",
            provider,
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(2))
    return process, lines


def test_cli_serves_google_until_sigterm(tmp_path: Path) -> None:
    process, lines = _start_cli(tmp_path, "google")
    try:
        assert lines["base_url"].startswith("https://127.0.0.1:")
        assert Path(lines["ca_file"]) == (tmp_path / "ca.pem").resolve()
        with httpx.Client(verify=tls_context(Path(lines["ca_file"]))) as client:
            config = client.get(f"{lines['base_url']}/.well-known/openid-configuration").json()
        assert config["token_endpoint"] == f"{lines['base_url']}/token"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_cli_rejects_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["yahoo"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_loads_the_google_factory() -> None:
    assert load_factory("google") is create_google_app


def test_cli_loads_the_microsoft_factory_lazily() -> None:
    module = pytest.importorskip("provider_emulators.microsoft.app")
    assert load_factory("microsoft") is module.create_app


def test_wildcard_bind_advertises_loopback(tmp_path: Path) -> None:
    with EmulatorServer(app_factory=make_app, host="0.0.0.0", data_dir=tmp_path) as server:
        assert server.base_url == f"https://127.0.0.1:{server.port}"
        with httpx.Client(verify=tls_context(server.ca_path)) as client:
            assert client.get(f"{server.base_url}/whoami").status_code == 200


def test_public_host_names_base_url_and_certificate(tmp_path: Path) -> None:
    with EmulatorServer(app_factory=make_app, data_dir=tmp_path, public_host="localhost") as server:
        assert server.base_url == f"https://localhost:{server.port}"
        with httpx.Client(verify=tls_context(server.ca_path)) as client:
            assert client.get(f"{server.base_url}/whoami").json() == {"base_url": server.base_url}
