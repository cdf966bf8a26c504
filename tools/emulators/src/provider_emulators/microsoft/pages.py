"""Plain-HTML sign-in pages (account chooser, consent, errors) — no JavaScript, forms only.

A test drives them with httpx: read the ``<form>``'s action and hidden inputs, then submit it
with the ``name``/``value`` of the chosen ``<button>``.
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from provider_emulators.microsoft.state import User

ACCEPT_LABEL = "承諾"
CANCEL_LABEL = "キャンセル"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def account_chooser(action: str, request_id: str, users: list[User], app_name: str) -> HTMLResponse:
    """'Pick an account': one submit button per account (``name="login"``)."""
    buttons = "\n".join(
        f'<li><button type="submit" name="login" value="{escape(u.email)}">'
        f"{escape(u.name)} &lt;{escape(u.email)}&gt;</button></li>"
        for u in users
    )
    empty = "" if users else "<p id='no-accounts'>No account can sign in here.</p>"
    body = (
        f"<h1>Pick an account</h1><p>to continue to {escape(app_name)}</p>{empty}\n"
        f'<form id="account-chooser" method="post" action="{escape(action)}">\n'
        f"{_hidden('request_id', request_id)}\n<ul>\n{buttons}\n</ul>\n</form>"
    )
    return _page("Sign in to your account", body)


def consent_page(
    action: str, request_id: str, user: User, app_name: str, scopes: list[str], for_org: bool
) -> HTMLResponse:
    """'Permissions requested' with 承諾 (accept) and キャンセル (cancel)."""
    items = "\n".join(f"<li>{escape(s)}</li>" for s in scopes)
    org = "<p id='for-organization'>Accept for your organization</p>" if for_org else ""
    body = (
        f"<h1>Permissions requested</h1><p>{escape(app_name)}</p><p>{escape(user.email)}</p>{org}\n"
        f"<ul id='scopes'>\n{items}\n</ul>\n"
        f'<form id="consent" method="post" action="{escape(action)}">\n'
        f"{_hidden('request_id', request_id)}\n"
        f'<button type="submit" name="action" value="accept">{ACCEPT_LABEL}</button>\n'
        f'<button type="submit" name="action" value="cancel">{CANCEL_LABEL}</button>\n</form>'
    )
    return _page("Permissions requested", body)


def form_post(redirect_uri: str, params: dict[str, str]) -> HTMLResponse:
    """``response_mode=form_post``: a form the browser would auto-submit."""
    fields = "\n".join(_hidden(k, v) for k, v in params.items())
    body = (
        f'<form id="response" method="post" action="{escape(redirect_uri)}">\n{fields}\n'
        '<button type="submit">Continue</button>\n</form>'
    )
    return _page("Working...", body)


def error_page(aadsts: int, message: str, status: int = 400) -> HTMLResponse:
    """An error the identity platform shows instead of redirecting (bad client or redirect URI)."""
    body = (
        f"<h1>Sorry, but we're having trouble signing you in.</h1>\n"
        f"<p id='error-code'>AADSTS{aadsts}</p>\n<p id='error-message'>AADSTS{aadsts}: {escape(message)}</p>"
    )
    return _page("Sign in to your account", body, status)


def signed_out_page() -> HTMLResponse:
    return _page("Signed out", "<h1>You signed out of your account</h1>")
