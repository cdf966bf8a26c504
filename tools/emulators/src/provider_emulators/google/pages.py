"""Plain HTML pages of the sign-in flow: no JavaScript, forms a test can post with httpx."""

from __future__ import annotations

from html import escape

from provider_emulators.google.state import OAuthClient, User

AUTH_PATH = "/o/oauth2/v2/auth"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def account_chooser(flow_id: str, client: OAuthClient, users: list[User]) -> str:
    """「アカウントの選択」: one form per account, each posting the flow id and the e-mail."""
    if not users:
        items = "<p>アカウントがありません (no accounts).</p>"
    else:
        items = "".join(
            f'<form method="post" action="{AUTH_PATH}/select" class="account">'
            f'<input type="hidden" name="flow" value="{escape(flow_id)}">'
            f'<button type="submit" name="email" value="{escape(u.email)}">'
            f"{escape(u.name)} &lt;{escape(u.email)}&gt;</button></form>"
            for u in users
        )
    return _page("アカウントの選択", f"<p>「{escape(client.name)}」に移動</p>{items}")


def consent(flow_id: str, client: OAuthClient, user: User, scopes: list[str]) -> str:
    """The consent screen with 「許可」 (action=allow) and 「キャンセル」 (action=deny)."""
    scope_items = "".join(f"<li>{escape(s)}</li>" for s in scopes)
    form = (
        f'<form method="post" action="{AUTH_PATH}/approve" id="consent">'
        f'<input type="hidden" name="flow" value="{escape(flow_id)}">'
        f'<input type="hidden" name="email" value="{escape(user.email)}">'
        '<button type="submit" name="action" value="deny">キャンセル</button>'
        '<button type="submit" name="action" value="allow">許可</button></form>'
    )
    body = (
        f"<p>{escape(user.email)}</p>"
        f"<p>「{escape(client.name)}」が Google アカウントへのアクセスをリクエストしています</p>"
        f"<ul>{scope_items}</ul>{form}"
    )
    return _page(f"{client.name} にアクセスを許可", body)


def error(code: int, error_name: str, message: str) -> str:
    """Google's "エラー 400: redirect_uri_mismatch"-style error page."""
    return _page(
        "アクセスをブロック: 承認エラー",
        f'<p id="error">Error {code}: {escape(error_name)}</p><p id="message">{escape(message)}</p>',
    )
