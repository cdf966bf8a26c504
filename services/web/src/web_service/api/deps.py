"""Shared route helpers: the API clients, the settings, and host calls that renew the session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

from web_service.adapters.api import ApiError, Apis
from web_service.api.pages import SignInRequired
from web_service.api.security import session_of
from web_service.settings import Settings

T = TypeVar("T")


def apis_of(request: Request) -> Apis:
    apis: Apis = request.app.state.apis
    return apis


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def as_host(request: Request, call: Callable[[str], Awaitable[T]]) -> T:
    """Run ``call`` with the host's access token; on 401 renew it once with the refresh token,
    and when that fails too, forget the session and send the browser to the sign-in page."""
    session = session_of(request)
    if session.access_token is None:
        raise SignInRequired
    try:
        return await call(session.access_token)
    except ApiError as error:
        if error.status != 401:
            raise
    if session.refresh_token:
        try:
            tokens = await apis_of(request).auth.refresh(session.refresh_token)
        except ApiError:
            tokens = None
        if tokens is not None:
            session.access_token = str(tokens["access_token"])
            session.refresh_token = str(tokens["refresh_token"])
            session.changed = True
            return await call(session.access_token)
    session.sign_out()
    raise SignInRequired
