"""Errors a ``CalendarProvider`` raises (mapped from HTTP by the connector) and the token client's
errors. The engine decides what each means: retry, refresh, re-create, or a ``failed`` status."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of provider failures. ``status``/``reason`` as the provider sent them."""

    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """Worth retrying: 429, 403 rateLimitExceeded/userRateLimitExceeded, 5xx, network errors."""

    retriable = True

    @property
    def rate_limited(self) -> bool:
        return (
            self.status == 429
            or (self.reason or "").endswith("RateLimitExceeded")
            or (self.reason == "rateLimitExceeded")
        )


class AccessTokenRejected(ProviderError):
    """401: the access token expired or was revoked; refresh and retry (``REFRESHES_PER_SESSION``)."""


class EventAlreadyExists(ProviderError):
    """409 on insert with a client-chosen id: check whether it is ours ("already done")."""


class EventNotFound(ProviderError):
    """404, or 410 ``deleted``: the event is gone (a delete of it counts as done)."""


class SyncCursorInvalid(ProviderError):
    """410 ``fullSyncRequired`` (Google) / ``syncStateNotFound`` (Graph): resync from scratch."""


class PermissionMissing(ProviderError):
    """The account lacks a permission (directory rights, admin consent). ``code`` is the stable
    problem code to show (e.g. ``directory_permission_missing``), ``message`` says why and what
    to do."""

    def __init__(self, message: str, *, code: str, status: int | None = 403, reason: str | None = None):
        super().__init__(message, status=status, reason=reason)
        self.code = code


class ProviderRejected(ProviderError):
    """Any other 4xx: retrying will not help."""


# ---------------------------------------------------------------- auth service


class TokenError(Exception):
    """The auth service could not hand out an access token."""

    code = "token_error"
    retriable = False


class ReauthRequired(TokenError):
    """409 ``reauth_required``: the host must link the calendar again. Never retried."""

    code = "reauth_required"


class ConnectionInactive(TokenError):
    """409 ``connection_inactive`` / 404: the connection is no longer usable (R8: never write
    elsewhere)."""

    code = "connection_inactive"


class AuthServiceUnavailable(TokenError):
    """The auth service did not answer properly; worth retrying later."""

    code = "auth_unavailable"
    retriable = True


class InvalidSnapshot(ValueError):
    """The appointment snapshot cannot be planned (e.g. confirmed without a known slot)."""
