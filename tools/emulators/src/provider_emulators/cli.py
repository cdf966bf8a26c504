"""``provider-emulator google|microsoft --host H --port P --data-dir D``.

Serves the chosen emulator over HTTPS with the CA kept in ``D``, prints ``base_url=…`` and
``ca_file=…`` (one line each) once listening, then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from provider_emulators.core.server import AppFactory, serve_forever

APP_FACTORIES = {
    "google": "provider_emulators.google.app:create_app",
    "microsoft": "provider_emulators.microsoft.app:create_app",
}


def load_factory(provider: str) -> AppFactory:
    """Import ``create_app`` of ``provider`` lazily (each provider is its own subpackage)."""
    module_name, attr = APP_FACTORIES[provider].split(":")
    factory: AppFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="provider-emulator", description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=sorted(APP_FACTORIES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, default=Path(".emulator-data"), help="CA and certs")
    parser.add_argument(
        "--public-host",
        default=None,
        help="host name clients use (base URL and certificate); default: --host",
    )
    return parser.parse_args(argv)


def _announce(base_url: str, ca_path: Path) -> None:
    print(f"base_url={base_url}", flush=True)
    print(f"ca_file={ca_path.resolve()}", flush=True)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    factory = load_factory(args.provider)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was installed before it: make that one a clean exit (status 0).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    serve_forever(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        app_factory=factory,
        on_ready=_announce,
        public_host=args.public_host,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
