"""``create_app(base_url)``: the Google emulator as one FastAPI app.

Routes mirror the real hosts' paths on a single origin: ``accounts.google.com`` (authorize),
``oauth2.googleapis.com`` (``/token``, ``/revoke``), ``www.googleapis.com`` (``/oauth2/v3/certs``,
``/calendar/v3``) and ``admin.googleapis.com`` (``/admin/directory/v1``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from provider_emulators.core.control import build_control_router, install_middleware
from provider_emulators.google.batch_api import build_batch_router
from provider_emulators.google.bulk_events import build_bulk_events_router
from provider_emulators.google.calendar_api import build_calendar_router
from provider_emulators.google.channels import ChannelService
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.control_api import build_google_control_router
from provider_emulators.google.directory import build_directory_router
from provider_emulators.google.errors import fault_error_body, install_error_handlers
from provider_emulators.google.events import CalendarService
from provider_emulators.google.freebusy import FreeBusyService
from provider_emulators.google.oauth import build_oauth_router
from provider_emulators.google.tokens import DEFAULT_ISSUER


def create_app(base_url: str, *, issuer: str = DEFAULT_ISSUER) -> FastAPI:
    """Build the emulator. ``issuer`` defaults to Google's, so google-auth accepts the id tokens."""
    emu = GoogleEmulator(base_url=base_url.rstrip("/"), issuer=issuer)
    channels = ChannelService(emu)
    calendar = CalendarService(emu, channels)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        emu.notifier.close()

    app = FastAPI(title="Google emulator", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emu
    install_error_handlers(app)
    app.include_router(build_oauth_router(emu))
    app.include_router(build_calendar_router(emu, calendar, FreeBusyService(calendar), channels))
    app.include_router(build_batch_router(emu))
    app.include_router(build_directory_router(emu))
    app.include_router(
        build_control_router(
            faults=emu.faults,
            reset=emu.state.reset,
            state=emu.state.dump,
            counter=emu.counter,
            calls=emu.calls,
        )
    )
    app.include_router(build_google_control_router(emu, calendar))
    app.include_router(build_bulk_events_router(emu, channels))
    install_middleware(
        app,
        faults=emu.faults,
        counter=emu.counter,
        error_body=fault_error_body,
        calls=emu.calls,
        account_of=emu.account_of,
    )
    return app
