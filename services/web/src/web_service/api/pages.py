"""Rendering: one Jinja2 environment (autoescaped), the page errors and their handlers.

Every answer, error or not, is a page: an unknown route is a 404 page, a malformed form a 422
page, an unexpected failure a plain 500 page that reveals nothing (and logs the route, never
the raw path, which may hold a guest token).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from web_service.domain.messages import Explanation

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    base = {"session": session, "csrf": session.csrf if session else ""}
    return TEMPLATES.TemplateResponse(request, template, base | context, status_code=status, headers=headers)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


class PageError(Exception):
    """Answer with the error page: ``explanation`` in Japanese and English, at ``status``."""

    def __init__(
        self,
        status: int,
        explanation: Explanation,
        *,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(explanation.title_en)
        self.status = status
        self.explanation = explanation
        self.detail = detail
        self.headers = headers


class SignInRequired(Exception):
    """The host's session is missing or no longer accepted: go to the sign-in page."""


NOT_FOUND = Explanation(
    "ページが見つかりません", "URL をご確認ください。", "Page not found", "Check the address."
)
BAD_FORM = Explanation(
    "入力内容を読み取れませんでした",
    "ページを再読み込みして、もう一度入力してください。",
    "The request could not be read",
    "Reload the page and try again.",
)
CSRF_REFUSED = Explanation(
    "このフォームは期限切れです",
    "ページを再読み込みして、もう一度送信してください。",
    "This form expired",
    "Reload the page and submit it again.",
)
METHOD = Explanation(
    "この操作はできません", "ページの案内に従って操作してください。", "Not allowed", "Use the page's buttons."
)
INTERNAL = Explanation(
    "エラーが発生しました",
    "しばらくしてからもう一度お試しください。",
    "Something went wrong",
    "Please try again in a little while.",
)


def error_page(
    request: Request,
    status: int,
    explanation: Explanation,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(request, "error.html", {"e": explanation, "detail": detail}, status, headers)


def install_page_handlers(app: FastAPI) -> None:
    async def on_page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, exc.explanation, exc.detail, exc.headers)

    async def on_sign_in(request: Request, _: Exception) -> Response:
        return see_other("/host/sign-in")

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        explanation = {404: NOT_FOUND, 405: METHOD}.get(exc.status_code, BAD_FORM)
        return error_page(request, exc.status_code, explanation)

    async def on_validation(request: Request, _: Exception) -> Response:
        return error_page(request, 422, BAD_FORM)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        route = request.scope.get("route")
        log.error(
            "unhandled error", extra={"route": getattr(route, "path", "?"), "error": type(exc).__name__}
        )
        return error_page(request, 500, INTERNAL)

    app.add_exception_handler(PageError, on_page_error)
    app.add_exception_handler(SignInRequired, on_sign_in)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
