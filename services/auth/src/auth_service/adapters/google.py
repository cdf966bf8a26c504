"""Google: authorization URL with PKCE, code exchange (httpx), id-token verification and refresh
(google-auth)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import google.auth.exceptions
import httpx
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token as google_id_token
from google.oauth2.credentials import Credentials

from auth_service.adapters.providers import (
    AuthorizationStart,
    InvalidGrant,
    LinkedAccount,
    ProviderAccessToken,
)
from auth_service.adapters.tls import PinnedSession, ca_bundle_path, ssl_context
from auth_service.domain import errors
from auth_service.domain.models import ProviderIdentity
from auth_service.settings import Settings
from visitor_common.events import Provider

log = logging.getLogger(__name__)
LABEL = "Google"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def unavailable_for(response: httpx.Response) -> errors.AuthServiceError | None:
    if response.status_code >= 500 or response.status_code == 429:
        return errors.provider_unavailable(LABEL, 502)
    return None


class GoogleClient:
    provider = Provider.GOOGLE

    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self._ca_bundle = ca_bundle_path(settings.provider_ca_file)
        self._ssl = ssl_context(settings.provider_ca_file)
        # One pooled session for every token call: a new TLS connection loads the whole CA
        # bundle (tens of ms of CPU, holding the GIL), which at thousands of refreshes starves
        # the event loop.
        self._session = PinnedSession(self._ca_bundle)

    def _configured(self) -> None:
        if not self._s.google_client_id:
            raise errors.provider_not_configured(LABEL)

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self._ssl, timeout=self._s.provider_timeout_seconds)

    def _requests_transport(self) -> GoogleRequest:
        return GoogleRequest(session=self._session)

    async def begin(self, state: str, login_hint: str | None) -> AuthorizationStart:
        self._configured()
        verifier, challenge = pkce_pair()
        nonce = secrets.token_urlsafe(24)
        params = {
            "client_id": self._s.google_client_id,
            "redirect_uri": self._s.redirect_uri("google"),
            "response_type": "code",
            "scope": " ".join(self._s.google_scopes),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",
            # Ask for consent every time so Google issues a refresh token on every link.
            "prompt": "consent",
            "include_granted_scopes": "true",
            "nonce": nonce,
        }
        if login_hint:
            params["login_hint"] = login_hint
        url = f"{self._s.google_auth_url}?{urlencode(params)}"
        return AuthorizationStart(url=url, flow={"code_verifier": verifier, "nonce": nonce})

    async def _post_token(self, data: dict[str, str]) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.post(self._s.google_token_url, data=data)
        except httpx.HTTPError as error:
            log.warning("google token endpoint unreachable", extra={"error": type(error).__name__})
            raise errors.provider_unavailable(LABEL) from error
        problem = unavailable_for(response)
        if problem is not None:
            raise problem
        try:
            body: dict[str, Any] = response.json()
        except ValueError as error:
            raise errors.provider_unavailable(LABEL, 502) from error
        if response.status_code >= 400 or "error" in body:
            error_name = str(body.get("error", f"http_{response.status_code}"))
            if error_name == "invalid_grant":
                raise errors.authorization_rejected(LABEL)
            raise errors.provider_error(LABEL, error_name)
        return body

    async def finish(self, flow: dict[str, Any], params: dict[str, str]) -> LinkedAccount:
        self._configured()
        code = params.get("code")
        if not code:
            raise errors.provider_error(LABEL, "missing_code")
        body = await self._post_token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._s.redirect_uri("google"),
                "client_id": self._s.google_client_id,
                "client_secret": self._s.google_client_secret.get_secret_value(),
                "code_verifier": str(flow.get("code_verifier", "")),
            }
        )
        if not body.get("id_token") or not body.get("refresh_token") or not body.get("access_token"):
            raise errors.provider_error(LABEL, "incomplete_token_response")
        claims = await self._verify_id_token(str(body["id_token"]), flow.get("nonce"))
        identity = ProviderIdentity(
            provider=Provider.GOOGLE,
            subject=str(claims["sub"]),
            email=str(claims.get("email", "")),
            workspace=claims.get("hd") or None,
        )
        access = ProviderAccessToken(
            token=str(body["access_token"]),
            expires_in=float(body.get("expires_in", 3600)),
        )
        scopes = str(body.get("scope", "")).split()
        return LinkedAccount(
            identity=identity, refresh_token=str(body["refresh_token"]), access=access, scopes=scopes
        )

    async def _verify_id_token(self, token: str, nonce: Any) -> dict[str, Any]:
        def verify() -> dict[str, Any]:
            return dict(
                google_id_token.verify_token(
                    token,
                    self._requests_transport(),
                    audience=self._s.google_client_id,
                    certs_url=self._s.google_certs_url,
                    clock_skew_in_seconds=30,
                )
            )

        try:
            claims = await asyncio.to_thread(verify)
        except google.auth.exceptions.TransportError as error:
            log.warning("google certs unreachable", extra={"error": str(error)[:300]})
            raise errors.provider_unavailable(LABEL) from error
        except (ValueError, google.auth.exceptions.GoogleAuthError) as error:
            log.warning("google id token rejected", extra={"error": type(error).__name__})
            raise errors.id_token_invalid(LABEL) from error
        if claims.get("iss") not in {self._s.google_issuer, self._s.google_issuer.removeprefix("https://")}:
            raise errors.id_token_invalid(LABEL)
        if nonce and claims.get("nonce") != nonce:
            raise errors.id_token_invalid(LABEL)
        # An unverified address proves nothing about R7 (same e-mail as the employee).
        if not claims.get("email") or not claims.get("sub") or claims.get("email_verified") is False:
            raise errors.id_token_invalid(LABEL)
        return claims

    async def refresh(self, refresh_token: str) -> ProviderAccessToken:
        self._configured()
        credentials = Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=self._s.google_token_url,
            client_id=self._s.google_client_id,
            client_secret=self._s.google_client_secret.get_secret_value(),
        )
        try:
            await asyncio.to_thread(credentials.refresh, self._requests_transport())
        except google.auth.exceptions.RefreshError as error:
            details = error.args[1] if len(error.args) > 1 else None
            if isinstance(details, dict) and details.get("error") == "invalid_grant":
                raise InvalidGrant() from error
            raise errors.provider_unavailable(LABEL, 502) from error
        except google.auth.exceptions.TransportError as error:
            raise errors.provider_unavailable(LABEL) from error
        # google-auth reports expiry as naive UTC.
        expiry = credentials.expiry
        expires_in = (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds() if expiry else 3600.0
        rotated = credentials.refresh_token if credentials.refresh_token != refresh_token else None
        return ProviderAccessToken(token=str(credentials.token), expires_in=expires_in, refresh_token=rotated)

    async def revoke(self, refresh_token: str) -> bool:
        try:
            async with self._http() as http:
                response = await http.post(self._s.google_revoke_url, data={"token": refresh_token})
        except httpx.HTTPError as error:
            log.warning("google revoke failed", extra={"error": type(error).__name__})
            return False
        # 400 invalid_token: already revoked at Google, which is what we wanted.
        return response.status_code in (200, 400)

    def admin_consent_url(self, state: str) -> str | None:
        return None
