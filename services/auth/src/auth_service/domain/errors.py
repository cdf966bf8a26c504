"""Every refusal the service can answer with: a stable code, an HTTP status and a human message.

Human messages are Japanese throughout (the product's users read Japanese; the success messages
are fixed by the manual in Japanese too). Codes are the machine-readable contract.
"""

from __future__ import annotations

from typing import Any


class AuthServiceError(Exception):
    """A refusal with a stable ``code``; the API turns it into a problem document."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


# --- accounts ------------------------------------------------------------------------------------


def invalid_credentials() -> AuthServiceError:
    return AuthServiceError(401, "invalid_credentials", "メールアドレスまたはパスワードが正しくありません。")


def invalid_refresh_token() -> AuthServiceError:
    return AuthServiceError(
        401,
        "invalid_refresh_token",
        "リフレッシュトークンが無効か期限切れです。もう一度サインインしてください。",
    )


def invalid_client() -> AuthServiceError:
    return AuthServiceError(401, "invalid_client", "サービスクライアントの認証に失敗しました。")


def unsupported_grant_type() -> AuthServiceError:
    return AuthServiceError(
        400, "unsupported_grant_type", "grant_type は client_credentials のみ利用できます。"
    )


def operator_key_invalid() -> AuthServiceError:
    return AuthServiceError(401, "operator_key_invalid", "X-Operator-Key が正しくありません。")


def admin_required() -> AuthServiceError:
    return AuthServiceError(403, "admin_role_required", "この操作にはテナント管理者の権限が必要です。")


def employee_email_taken(email: str) -> AuthServiceError:
    return AuthServiceError(
        409, "employee_email_taken", f"メールアドレス {email} はこのテナントで既に登録されています。"
    )


def tenant_exists() -> AuthServiceError:
    return AuthServiceError(409, "tenant_exists", "このテナント ID は既に使われています。")


def employee_not_found() -> AuthServiceError:
    return AuthServiceError(404, "employee_not_found", "従業員が見つかりません。")


def reception_device_not_found() -> AuthServiceError:
    return AuthServiceError(404, "reception_device_not_found", "受付端末が見つかりません。")


def invalid_device_credentials() -> AuthServiceError:
    return AuthServiceError(
        401,
        "invalid_device_credentials",
        "受付端末の認証に失敗しました"
        "（client_id / client_secret が誤っているか、端末が無効化されています）。",
    )


def too_many_attempts(retry_after: int) -> AuthServiceError:
    return AuthServiceError(
        429,
        "too_many_attempts",
        "認証の失敗が続いたため一時的に受け付けを停止しています。"
        f"{retry_after} 秒後にもう一度お試しください。",
        retry_after=retry_after,
    )


# --- linking -------------------------------------------------------------------------------------


def link_state_unknown() -> AuthServiceError:
    return AuthServiceError(
        400,
        "link_state_unknown",
        "連携リクエストが見つかりません。カレンダー連携を最初からやり直してください。",
    )


def link_state_expired() -> AuthServiceError:
    return AuthServiceError(
        400,
        "link_state_expired",
        "連携リクエストの有効期限（10分）が切れました。カレンダー連携を最初からやり直してください。",
    )


def link_state_used() -> AuthServiceError:
    return AuthServiceError(
        409,
        "link_state_used",
        "この連携リクエストは既に使用されています。カレンダー連携を最初からやり直してください。",
    )


def link_state_provider_mismatch() -> AuthServiceError:
    return AuthServiceError(
        400,
        "link_state_unknown",
        "連携リクエストが見つかりません。カレンダー連携を最初からやり直してください。",
    )


def link_cancelled(provider_label: str) -> AuthServiceError:
    return AuthServiceError(
        400,
        "link_cancelled",
        f"{provider_label}の連携がキャンセルされました。連携するには、もう一度開始して許可してください。",
    )


def link_refused(provider_label: str, error: str) -> AuthServiceError:
    """The provider sent the browser back with ``error=`` (other than a cancel): the user or the
    provider's policy declined the request. The caller's request, not our failure: a 4xx."""
    return AuthServiceError(
        400,
        "link_refused",
        f"{provider_label}が連携を許可しませんでした（{error}）。"
        "アカウントやアクセス許可を確認して、もう一度連携を開始してください。",
        provider_error=error,
    )


def personal_account(provider_label: str, email: str) -> AuthServiceError:
    kind = "Google Workspace" if provider_label.startswith("Google") else "Microsoft 365（職場または学校）"
    return AuthServiceError(
        403,
        "personal_account",
        f"個人用アカウント（{email}）は連携できません。{kind} のアカウントで連携してください。",
        account_email=email,
    )


def email_mismatch(employee_email: str, account_email: str) -> AuthServiceError:
    return AuthServiceError(
        403,
        "email_mismatch",
        f"登録されているメールアドレス（{employee_email}）と連携しようとしたカレンダーアカウントの"
        f"メールアドレス（{account_email}）が一致しません。{employee_email} のアカウントで連携してください。",
        employee_email=employee_email,
        account_email=account_email,
    )


def admin_consent_required(admin_consent_url: str) -> AuthServiceError:
    return AuthServiceError(
        403,
        "admin_consent_required",
        "このアプリを利用するには Microsoft 365 の管理者による承認（管理者の同意）が必要です。"
        "管理者に admin_consent_url を開いてアクセス許可を承諾するよう依頼し、"
        "承認後にもう一度連携してください。",
        admin_consent_url=admin_consent_url,
    )


def admin_consent_not_granted() -> AuthServiceError:
    return AuthServiceError(
        403,
        "admin_consent_not_granted",
        "管理者の承認が完了しませんでした。"
        "Microsoft 365 の管理者アカウントでサインインして承諾してください。",
    )


def authorization_rejected(provider_label: str) -> AuthServiceError:
    return AuthServiceError(
        400,
        "authorization_code_rejected",
        f"{provider_label}が認可コードを受け付けませんでした（期限切れまたは使用済み）。もう一度連携してください。",
    )


def authorization_code_missing(provider_label: str) -> AuthServiceError:
    return AuthServiceError(
        400,
        "authorization_code_missing",
        f"{provider_label}からの応答に認可コードがありません。カレンダー連携を最初からやり直してください。",
    )


def provider_error(provider_label: str, error: str) -> AuthServiceError:
    return AuthServiceError(
        502,
        "provider_error",
        f"{provider_label}がエラー（{error}）を返しました。しばらくしてからもう一度お試しください。",
        provider_error=error,
    )


def provider_unavailable(provider_label: str, status: int = 503) -> AuthServiceError:
    return AuthServiceError(
        status,
        "provider_unavailable",
        f"{provider_label}に接続できません。しばらくしてからもう一度お試しください。",
    )


def id_token_invalid(provider_label: str) -> AuthServiceError:
    return AuthServiceError(
        502, "id_token_invalid", f"{provider_label}から受け取った ID トークンを検証できませんでした。"
    )


def provider_not_configured(provider_label: str) -> AuthServiceError:
    return AuthServiceError(
        503, "provider_not_configured", f"{provider_label}との連携はこの環境で設定されていません。"
    )


# --- connections ---------------------------------------------------------------------------------


def no_active_connection() -> AuthServiceError:
    return AuthServiceError(
        404, "no_active_connection", "有効なカレンダー連携がありません。カレンダーを連携してください。"
    )


def connection_not_found() -> AuthServiceError:
    return AuthServiceError(404, "connection_not_found", "カレンダー連携が見つかりません。")


def reauth_required(provider_label: str) -> AuthServiceError:
    return AuthServiceError(
        409,
        "reauth_required",
        f"{provider_label}へのアクセス許可が取り消されたか期限切れです。カレンダーをもう一度連携してください。",
    )


def connection_inactive(status: str) -> AuthServiceError:
    return AuthServiceError(
        409,
        "connection_inactive",
        f"このカレンダー連携は現在有効ではありません（状態: {status}）。"
        "この連携で作成された予定は変更できません。カレンダーをもう一度連携してください。",
        connection_status=status,
    )


def concurrent_update() -> AuthServiceError:
    return AuthServiceError(409, "concurrent_update", "同時に更新されました。もう一度お試しください。")
