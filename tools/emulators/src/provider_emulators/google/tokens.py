"""Access, refresh and id tokens; bearer authentication of API calls."""

from __future__ import annotations

import secrets
from typing import Any

from provider_emulators.google.errors import GoogleApiError, auth_error
from provider_emulators.google.keys import SigningKey
from provider_emulators.google.state import (
    ACCESS_TOKEN_TTL_S,
    MAX_REFRESH_TOKENS,
    REFRESH_IDLE_LIMIT_S,
    AccessToken,
    GoogleState,
    Grant,
    User,
)

DEFAULT_ISSUER = "https://accounts.google.com"
CALENDAR_SCOPES = (
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.freebusy",
)
DIRECTORY_SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.resource.calendar",
    "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
)
OPENID_SCOPES = ("openid", "email", "profile")
_SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


def normalize_scopes(raw: str) -> list[str]:
    """Split a scope string; Google answers ``email``/``profile`` with their full URLs."""
    return list(dict.fromkeys(_SCOPE_ALIASES.get(s, s) for s in raw.split() if s))


class TokenService:
    def __init__(self, state: GoogleState, key: SigningKey, issuer: str) -> None:
        self.state = state
        self.key = key
        self.issuer = issuer

    def find_or_create_grant(self, email: str, client_id: str, scopes: list[str]) -> Grant:
        for grant in self.state.grants.values():
            if grant.email == email and grant.client_id == client_id and not grant.revoked:
                grant.scopes = list(dict.fromkeys([*grant.scopes, *scopes]))
                return grant
        grant = Grant(grant_id=secrets.token_hex(8), email=email, client_id=client_id, scopes=list(scopes))
        self.state.grants[grant.grant_id] = grant
        return grant

    def live_grant(self, email: str, client_id: str) -> Grant | None:
        return next(
            (
                g
                for g in self.state.grants.values()
                if g.email == email and g.client_id == client_id and not g.revoked
            ),
            None,
        )

    def issue(
        self,
        grant: Grant,
        scopes: list[str],
        *,
        nonce: str | None = None,
        with_refresh: bool = False,
    ) -> dict[str, Any]:
        """Mint an access token (and optionally refresh and id tokens) for ``grant``."""
        access = AccessToken(
            token=f"ya29.{secrets.token_urlsafe(48)}",
            email=grant.email,
            client_id=grant.client_id,
            scopes=list(scopes),
            expires_at=self.state.clock.time() + ACCESS_TOKEN_TTL_S,
            grant_id=grant.grant_id,
        )
        self.state.access_tokens[access.token] = access
        response: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": ACCESS_TOKEN_TTL_S,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if with_refresh:
            response["refresh_token"] = self._new_refresh_token(grant)
        if "openid" in scopes:
            response["id_token"] = self.id_token(self.state.users[grant.email], grant.client_id, nonce)
        return response

    def _new_refresh_token(self, grant: Grant) -> str:
        refresh = f"1//{secrets.token_urlsafe(48)}"
        grant.refresh_tokens.append(refresh)
        self.state.refresh_tokens[refresh] = grant.grant_id
        self.state.refresh_last_used[refresh] = self.state.clock.time()
        while len(grant.refresh_tokens) > MAX_REFRESH_TOKENS:
            self.state.refresh_tokens.pop(grant.refresh_tokens.pop(0), None)
        return refresh

    def use_refresh_token(self, token: str) -> Grant | None:
        """The live grant behind ``token`` (marking it used), or None when invalid or idle too long."""
        grant = self.state.grants.get(self.state.refresh_tokens.get(token, ""))
        if grant is None or grant.revoked:
            return None
        now = self.state.clock.time()
        if now - self.state.refresh_last_used.get(token, now) > REFRESH_IDLE_LIMIT_S:
            self.state.refresh_tokens.pop(token, None)
            return None
        self.state.refresh_last_used[token] = now
        return grant

    def id_token(self, user: User, client_id: str, nonce: str | None) -> str:
        now = int(self.state.clock.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "azp": client_id,
            "aud": client_id,
            "sub": user.sub,
            "email": user.email,
            "email_verified": True,
            "name": user.name,
            "iat": now,
            "exp": now + ACCESS_TOKEN_TTL_S,
        }
        if user.domain is not None:
            claims["hd"] = user.domain
        if nonce is not None:
            claims["nonce"] = nonce
        return self.key.sign(claims)

    def revoke_grant(self, grant: Grant) -> None:
        grant.revoked = True
        for refresh in grant.refresh_tokens:
            self.state.refresh_tokens.pop(refresh, None)
        for access in self.state.access_tokens.values():
            if access.grant_id == grant.grant_id:
                access.revoked = True

    def authenticate(self, authorization: str | None) -> AccessToken:
        """Resolve ``Authorization: Bearer …`` to a live access token or raise 401 authError."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise auth_error()
        access = self.state.access_tokens.get(authorization[7:].strip())
        if access is None or access.revoked or access.expires_at <= self.state.clock.time():
            raise auth_error()
        if access.email not in self.state.users:
            raise auth_error()
        return access


def require_scope(access: AccessToken, accepted: tuple[str, ...]) -> None:
    if not any(scope in accepted for scope in access.scopes):
        raise GoogleApiError(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )
