"""``python -m <service>``: load settings, configure logging, serve the app with uvicorn.

A bad configuration ends the process with exit status 2 and one line per problem (which
variable, what is wrong) — never a traceback, and never the offending value, which may be a
secret.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from visitor_common.logging import configure_logging
from visitor_common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def configuration_problems(settings_class: type[ServiceSettings], error: ValidationError) -> list[str]:
    """``PREFIX_FIELD: message`` per problem, without the input values."""
    prefix = str(settings_class.model_config.get("env_prefix") or "")
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"{prefix}{field.upper()}: {item['msg']}")
    return problems


def uvicorn_options(settings: ServiceSettings) -> dict[str, Any]:
    """How every service runs uvicorn. Forwarding headers (``X-Forwarded-For``/``-Proto``) are
    believed only from ``trusted_proxies``: uvicorn's own default trusts them from 127.0.0.1,
    so any local process could pose as any client; with no proxy configured they are ignored
    and the peer address is the client, which per-address rate limits key on.

    The event loop is uvloop's and HTTP/1.1 is parsed by httptools (decision 0026): named here
    rather than left to uvicorn's "auto", which silently falls back to asyncio's loop and h11
    when a wheel is missing."""
    proxies = settings.trusted_proxy_list
    return {
        "host": settings.http_host,
        "port": settings.http_port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


def serve(settings_class: type[S], create_app: Callable[[S], FastAPI]) -> None:
    try:
        settings = settings_class()
    except ValidationError as error:
        for line in ["invalid configuration:", *configuration_problems(settings_class, error)]:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(create_app(settings), **uvicorn_options(settings))
