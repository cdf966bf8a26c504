"""Microsoft: MSAL's authorization-code flow (PKCE S256, nonce, state), refresh, admin consent.

MSAL is synchronous (requests), so every call runs in a worker thread. A fresh
``ConfidentialClientApplication`` with its own empty token cache serves each operation: the
service keeps refresh tokens itself (encrypted), and one employee's tokens must never sit in a
cache another employee's request could read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import warnings
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import msal
import msal.exceptions
import requests

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
# The callback contract is GET with query parameters (the code is bound by PKCE S256 and a
# single-use state), so MSAL's advice to use form_post is noise in every log.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)
LABEL = "Microsoft 365"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
# Transport failures and unparseable answers (an HTML 502 page) both mean "provider down".
_UNAVAILABLE = (requests.RequestException, msal.exceptions.MsalServiceError, ValueError, KeyError)


class MicrosoftClient:
    provider = Provider.OUTLOOK

    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self._ca_bundle = ca_bundle_path(settings.provider_ca_file)
        self._ssl = ssl_context(settings.provider_ca_file)
        # One pooled session under the per-call applications: a new TLS connection loads the
        # whole CA bundle (tens of ms of CPU, holding the GIL), which at thousands of refreshes
        # starves the event loop. Each call still gets its own application and token cache.
        self._session = PinnedSession(self._ca_bundle)

    def _configured(self) -> None:
        if not self._s.microsoft_client_id:
            raise errors.provider_not_configured(LABEL)

    def _app(self) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            self._s.microsoft_client_id,
            client_credential=self._s.microsoft_client_secret.get_secret_value(),
            authority=self._s.microsoft_authority,
            instance_discovery=False,
            verify=self._ca_bundle,
            # Used for every call (verify= alone loses to REQUESTS_CA_BUNDLE inside requests).
            http_client=self._session,
            timeout=self._s.provider_timeout_seconds,
            token_cache=msal.TokenCache(),
        )

    async def _run(self, call: Any) -> Any:
        try:
            return await asyncio.to_thread(call)
        except errors.AuthServiceError:
            raise
        except _UNAVAILABLE as error:
            log.warning("microsoft identity platform unreachable", extra={"error": type(error).__name__})
            raise errors.provider_unavailable(LABEL) from error

    async def begin(self, state: str, login_hint: str | None) -> AuthorizationStart:
        self._configured()

        def initiate() -> dict[str, Any]:
            flow: dict[str, Any] = self._app().initiate_auth_code_flow(
                self._s.microsoft_scopes,
                redirect_uri=self._s.redirect_uri("microsoft"),
                state=state,
                login_hint=login_hint,
            )
            return flow

        flow = await self._run(initiate)
        return AuthorizationStart(url=str(flow["auth_uri"]), flow=flow)

    async def finish(self, flow: dict[str, Any], params: dict[str, str]) -> LinkedAccount:
        self._configured()

        def redeem() -> dict[str, Any]:
            result: dict[str, Any] = self._app().acquire_token_by_auth_code_flow(
                flow, params, scopes=self._s.microsoft_scopes
            )
            return result

        try:
            result = await self._run(redeem)
        except RuntimeError as error:  # MSAL's own nonce check failed
            raise errors.id_token_invalid(LABEL) from error
        self._raise_for_error(result, on_invalid_grant=errors.authorization_rejected(LABEL))
        claims = self._check_id_token(result, flow)
        if not result.get("refresh_token") or not result.get("access_token"):
            raise errors.provider_error(LABEL, "incomplete_token_response")
        identity = ProviderIdentity(
            provider=Provider.OUTLOOK,
            subject=str(claims.get("oid") or claims["sub"]),
            email=str(claims.get("email") or claims.get("preferred_username") or ""),
            workspace=str(claims["tid"]),
        )
        return LinkedAccount(
            identity=identity,
            refresh_token=str(result["refresh_token"]),
            access=self._access(result),
            scopes=str(result.get("scope", "")).split(),
        )

    @staticmethod
    def _access(result: dict[str, Any]) -> ProviderAccessToken:
        return ProviderAccessToken(
            token=str(result["access_token"]),
            expires_in=float(result.get("expires_in", 3600)),
            refresh_token=result.get("refresh_token"),
        )

    @staticmethod
    def _raise_for_error(result: dict[str, Any], *, on_invalid_grant: Exception) -> None:
        error = result.get("error")
        if not error:
            return
        if error == "invalid_grant":
            raise on_invalid_grant
        if str(error).startswith(("server_error", "temporarily_unavailable")):
            raise errors.provider_unavailable(LABEL, 502)
        raise errors.provider_error(LABEL, str(error))

    def _check_id_token(self, result: dict[str, Any], flow: dict[str, Any]) -> dict[str, Any]:
        """MSAL no longer validates id tokens; the app must. The token came straight from the
        token endpoint over verified TLS (OIDC core 3.1.3.7), so the claims are checked here."""
        raw = result.get("id_token")
        if not raw:
            raise errors.id_token_invalid(LABEL)
        try:
            claims: dict[str, Any] = jwt.decode(raw, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise errors.id_token_invalid(LABEL) from error
        tid = claims.get("tid")
        expected_issuer = f"{self._s.microsoft_authority_host.rstrip('/')}/{tid}/v2.0"
        checks = (
            claims.get("aud") == self._s.microsoft_client_id,
            claims.get("iss") == expected_issuer,
            # MSAL sends the SHA-256 of the flow's nonce (and checks it too; checked again here).
            claims.get("nonce") == hashlib.sha256(str(flow.get("nonce", "")).encode()).hexdigest(),
            int(claims.get("exp", 0)) > time.time() - 60,
            bool(tid) and bool(claims.get("sub")),
        )
        if not all(checks):
            raise errors.id_token_invalid(LABEL)
        return claims

    async def refresh(self, refresh_token: str) -> ProviderAccessToken:
        self._configured()

        def redeem() -> dict[str, Any]:
            result: dict[str, Any] = self._app().acquire_token_by_refresh_token(
                refresh_token, scopes=self._s.microsoft_scopes
            )
            return result

        result = await self._run(redeem)
        self._raise_for_error(result, on_invalid_grant=InvalidGrant())
        if not result.get("access_token"):
            raise errors.provider_unavailable(LABEL, 502)
        return self._access(result)

    async def revoke(self, refresh_token: str) -> bool:
        """Microsoft has no token revocation endpoint; Graph's ``revokeSignInSessions`` ends the
        user's refresh tokens. Our own copy is deleted either way."""
        try:
            access = await self.refresh(refresh_token)
        except (InvalidGrant, errors.AuthServiceError):
            return False
        try:
            async with httpx.AsyncClient(verify=self._ssl, timeout=self._s.provider_timeout_seconds) as http:
                response = await http.post(
                    f"{self._s.microsoft_graph_url.rstrip('/')}/me/revokeSignInSessions",
                    headers={"Authorization": f"Bearer {access.token}"},
                )
        except httpx.HTTPError as error:
            log.warning("graph revokeSignInSessions failed", extra={"error": type(error).__name__})
            return False
        return response.is_success

    def admin_consent_url(self, state: str) -> str | None:
        params = {
            "client_id": self._s.microsoft_client_id,
            "redirect_uri": self._s.redirect_uri("microsoft"),
            "state": state,
            "scope": GRAPH_DEFAULT_SCOPE,
        }
        return f"{self._s.microsoft_authority}/v2.0/adminconsent?{urlencode(params)}"
