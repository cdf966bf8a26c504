"""What every answer carries: the sealed session cookie, the security headers, and CSRF checks.

CSRF: the token lives inside the sealed session (session-bound, not a double-submit copy an
attacker could plant); every form carries it in ``csrf_token`` and every POST is refused with
403 unless it matches.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from web_service.adapters.session import COOKIE_NAME, Session, SessionCodec
from web_service.api.pages import CSRF_REFUSED, PageError

# No script at all; styles from our own origin only. form-action also allows https: because the
# calendar-link form is answered with a redirect to the provider's sign-in page, and browsers
# check form-action against that redirect too.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SessionAndHeaders(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, codec: SessionCodec, secure: bool, ttl_seconds: int) -> None:
        super().__init__(app)
        self._codec = codec
        self._secure = secure
        self._ttl = ttl_seconds

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        session = self._codec.open(request.cookies.get(COOKIE_NAME))
        request.state.session = session
        response = await call_next(request)
        if session.changed:
            response.set_cookie(
                COOKIE_NAME,
                self._codec.seal(session),
                max_age=self._ttl,
                httponly=True,
                samesite="lax",
                secure=self._secure,
                path="/",
            )
        for name, value in SECURITY_HEADERS.items():
            if not (name == "Cache-Control" and request.url.path.startswith("/static/")):
                response.headers.setdefault(name, value)
        return response


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = session_of(request).csrf
    if not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        raise PageError(403, CSRF_REFUSED)
