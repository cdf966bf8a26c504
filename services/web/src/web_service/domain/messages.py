"""What each refusal means for the person in front of the page, Japanese first, then English.

The codes are the services' problem codes (auth's linking refusals, appointments' guest
refusals), so a page explains exactly what the API refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    title_ja: str
    next_ja: str
    title_en: str
    next_en: str


# --- the guest's page -----------------------------------------------------------------------------
GUEST_NOT_FOUND = Explanation(
    "このリンクは見つかりません",
    "ご案内のメールに記載されたリンクをもう一度ご確認ください。解決しない場合は担当者にお問い合わせください。",
    "This link does not exist",
    "Check the link in the invitation e-mail again, or ask your contact person.",
)
GUEST_GONE = Explanation(
    "このリンクは有効期限が切れたか、取り消されました",
    "日程を調整するには、担当者に新しいリンクの送付を依頼してください。",
    "This link expired or was withdrawn",
    "Ask your contact person to send you a new link.",
)
SLOT_TAKEN = Explanation(
    "選択した日時は先に埋まりました",
    "お手数ですが、残っている候補から別の日時を選んでください。",
    "The time you chose was taken meanwhile",
    "Please choose another of the remaining times.",
)
ALREADY_CONFIRMED = Explanation(
    "この予定は既に確定しています",
    "確定した日時と受付コードはこのページで確認できます。",
    "This visit is already confirmed",
    "The confirmed time is shown on this page.",
)
NOT_BOOKABLE = Explanation(
    "この予定は現在予約できません",
    "しばらくしてからもう一度お試しください。解決しない場合は担当者にお問い合わせください。",
    "This visit cannot be booked right now",
    "Please try again in a little while, or ask your contact person.",
)
TOO_MANY = Explanation(
    "アクセスが集中しています",
    "少し時間をおいてから、もう一度お試しください。",
    "Too many requests",
    "Please wait a moment and try again.",
)

GUEST_PROBLEMS: dict[str, Explanation] = {
    "guest_link_invalid": GUEST_NOT_FOUND,
    "appointment_not_found": GUEST_NOT_FOUND,
    "not_found": GUEST_NOT_FOUND,
    "guest_link_expired": GUEST_GONE,
    "slot_unavailable": SLOT_TAKEN,
    "slot_not_found": SLOT_TAKEN,
    "already_confirmed": ALREADY_CONFIRMED,
    "rate_limited": TOO_MANY,
}


def guest_explanation(code: str, status: int) -> Explanation:
    if code in GUEST_PROBLEMS:
        return GUEST_PROBLEMS[code]
    if status == 404:
        return GUEST_NOT_FOUND
    if status == 410:
        return GUEST_GONE
    if status == 429:
        return TOO_MANY
    return NOT_BOOKABLE


# --- the linking pages ------------------------------------------------------------------------------
RESTART_JA = "「カレンダー連携」をもう一度押して、最初からやり直してください。"
RESTART_EN = "Press the calendar-link button again to start over."

LINK_PROBLEMS: dict[str, Explanation] = {
    "personal_account": Explanation(
        "個人用アカウントは連携できません",
        "会社の Google Workspace / Microsoft 365 アカウントを選んで、もう一度連携してください。",
        "Personal accounts cannot be linked",
        "Link again and choose your company's Google Workspace / Microsoft 365 account.",
    ),
    "email_mismatch": Explanation(
        "メールアドレスが一致しません",
        "登録されているメールアドレスのアカウントを選んで、もう一度連携してください。",
        "The e-mail addresses do not match",
        "Link again and choose the account of the e-mail address registered here.",
    ),
    "admin_consent_required": Explanation(
        "管理者の承認が必要です",
        "Microsoft 365 の管理者に下のリンクを開いて「承諾」するよう依頼してください。"
        "承認後、もう一度連携してください。",
        "Administrator approval needed",
        "Ask your Microsoft 365 administrator to open the link below and accept; then link again.",
    ),
    "admin_consent_not_granted": Explanation(
        "管理者の承認が完了しませんでした",
        "管理者アカウントでサインインして「承諾」してください。",
        "The administrator approval did not complete",
        "Sign in with an administrator account and accept.",
    ),
    "link_cancelled": Explanation(
        "連携がキャンセルされました",
        "連携するには、もう一度開始して「許可」または「承諾」を押してください。",
        "Linking was cancelled",
        "To link, start again and press Allow / Accept.",
    ),
    "link_refused": Explanation(
        "連携が許可されませんでした",
        "アカウントとアクセス許可を確認して、もう一度「カレンダー連携」を押してください。"
        "解決しない場合は管理者にお問い合わせください。",
        "The provider did not allow the link",
        "Check the account and its permissions, then press the calendar-link button again; "
        "if that does not help, ask your administrator.",
    ),
    "link_state_expired": Explanation(
        "連携リクエストの有効期限が切れました", RESTART_JA, "The linking request expired", RESTART_EN
    ),
    "link_state_unknown": Explanation(
        "連携リクエストが見つかりません", RESTART_JA, "The linking request was not found", RESTART_EN
    ),
    "link_state_used": Explanation(
        "この連携リクエストは使用済みです", RESTART_JA, "This linking request was already used", RESTART_EN
    ),
    "authorization_code_rejected": Explanation(
        "認可コードが受け付けられませんでした", RESTART_JA, "The authorization was not accepted", RESTART_EN
    ),
    "authorization_code_missing": Explanation(
        "認可コードがありません", RESTART_JA, "The provider sent no authorization", RESTART_EN
    ),
}
LINK_FALLBACK = Explanation(
    "カレンダー連携できませんでした",
    "しばらくしてからもう一度お試しください。",
    "The calendar could not be linked",
    "Please try again in a little while.",
)

DIRECTORY_ERROR = Explanation(
    "会議室の一覧を取得できませんでした",
    "しばらくしてから、このページを再読み込みしてください。Google Workspace では管理者に"
    "ディレクトリ（カレンダーリソース）の閲覧権限を確認してもらってください。",
    "The room directory could not be read",
    "Reload this page in a little while. On Google Workspace, ask your administrator to check the "
    "directory (calendar resources) read permission.",
)


def link_explanation(code: str) -> Explanation:
    return LINK_PROBLEMS.get(code, LINK_FALLBACK)
