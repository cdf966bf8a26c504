"""OAuth 2.0 / OpenID Connect endpoints: authorize (chooser + consent), token, revoke, JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from provider_emulators.google import pages
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.errors import OAuthError
from provider_emulators.google.state import CODE_TTL_S, FLOW_TTL_S, AuthCode, AuthFlow, OAuthClient, User
from provider_emulators.google.tokens import normalize_scopes

REVOKED_MESSAGE = "Token has been expired or revoked."
PKCE_METHODS = ("S256", "plain")


class FlowPageError(Exception):
    """An authorization error Google shows as a page instead of redirecting."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def response(self) -> HTMLResponse:
        return HTMLResponse(pages.error(self.status, self.error, self.message), status_code=self.status)


def redirect_with(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302)


def pkce_matches(verifier: str, challenge: str, method: str | None) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)


def build_oauth_router(emu: GoogleEmulator) -> APIRouter:
    router = APIRouter()
    state = emu.state

    def allowed_users(client: OAuthClient) -> list[User]:
        return [u for u in state.users.values() if client.domain is None or u.domain == client.domain]

    def client_for_page(client_id: str | None, redirect_uri: str | None) -> OAuthClient:
        client = state.clients.get(client_id or "")
        if client is None:
            raise FlowPageError(401, "invalid_client", "The OAuth client was not found.")
        if not redirect_uri or redirect_uri not in client.redirect_uris:
            raise FlowPageError(
                400,
                "redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
                f"redirect_uri={redirect_uri}",
            )
        return client

    def live_flow(flow_id: str) -> AuthFlow:
        flow = state.flows.get(flow_id)
        if flow is None or flow.created + FLOW_TTL_S < state.clock.time():
            raise FlowPageError(400, "invalid_request", "The sign-in session has expired. Start again.")
        return flow

    def flow_user(flow: AuthFlow, email: str) -> User:
        user = state.users.get(email.lower())
        if user is None or user not in allowed_users(state.clients[flow.client_id]):
            raise FlowPageError(403, "org_internal", f"{email} cannot use this application.")
        return user

    def issue_code(flow: AuthFlow, user: User) -> RedirectResponse:
        state.flows.pop(flow.flow_id, None)
        existing = emu.tokens.live_grant(user.email, flow.client_id)
        had_refresh = existing is not None and bool(existing.refresh_tokens)
        grant = emu.tokens.find_or_create_grant(user.email, flow.client_id, flow.scopes)
        code = AuthCode(
            code=f"4/{secrets.token_urlsafe(40)}",
            client_id=flow.client_id,
            redirect_uri=flow.redirect_uri,
            email=user.email,
            scopes=flow.scopes,
            code_challenge=flow.code_challenge,
            code_challenge_method=flow.code_challenge_method,
            nonce=flow.nonce,
            issue_refresh=flow.access_type == "offline"
            and ("consent" in flow.prompt.split() or not had_refresh),
            expires_at=state.clock.time() + CODE_TTL_S,
            grant_id=grant.grant_id,
        )
        state.codes[code.code] = code
        params = {
            "state": flow.state,
            "iss": emu.issuer,
            "code": code.code,
            "scope": " ".join(flow.scopes),
            "authuser": "0",
            "hd": user.domain,
            "prompt": "consent",
        }
        return redirect_with(flow.redirect_uri, params)

    def deny(flow: AuthFlow, error: str) -> RedirectResponse:
        state.flows.pop(flow.flow_id, None)
        return redirect_with(flow.redirect_uri, {"error": error, "state": flow.state})

    def grant_covers(user: User, flow: AuthFlow) -> bool:
        grant = emu.tokens.live_grant(user.email, flow.client_id)
        return grant is not None and set(flow.scopes) <= set(grant.scopes)

    def after_account(flow: AuthFlow, user: User) -> Response:
        if "consent" not in flow.prompt.split() and grant_covers(user, flow):
            return issue_code(flow, user)
        flow.chosen_email = user.email
        client = state.clients[flow.client_id]
        return HTMLResponse(pages.consent(flow.flow_id, client, user, flow.scopes))

    def start_flow(params: dict[str, str | None]) -> Response:
        client = client_for_page(params.get("client_id"), params.get("redirect_uri"))
        redirect_uri = str(params["redirect_uri"])
        if params.get("response_type") != "code":
            return redirect_with(
                redirect_uri, {"error": "unsupported_response_type", "state": params.get("state")}
            )
        scope = params.get("scope")
        if not scope:
            raise FlowPageError(400, "invalid_request", "Missing required parameter: scope")
        method, challenge = params.get("code_challenge_method"), params.get("code_challenge")
        if method is not None and (method not in PKCE_METHODS or not challenge):
            raise FlowPageError(400, "invalid_request", "Invalid code_challenge_method or code_challenge.")
        flow = AuthFlow(
            flow_id=secrets.token_urlsafe(24),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=normalize_scopes(scope),
            state=params.get("state"),
            code_challenge=challenge,
            code_challenge_method=(method or "plain") if challenge else None,
            access_type=params.get("access_type") or "online",
            prompt=params.get("prompt") or "",
            nonce=params.get("nonce"),
            login_hint=params.get("login_hint"),
            created=state.clock.time(),
        )
        state.flows[flow.flow_id] = flow
        hinted = state.users.get((flow.login_hint or "").lower())
        if hinted is not None and hinted not in allowed_users(client):
            hinted = None
        if flow.prompt == "none":
            if hinted is None:
                return deny(flow, "login_required")
            return issue_code(flow, hinted) if grant_covers(hinted, flow) else deny(flow, "consent_required")
        if hinted is not None and "select_account" not in flow.prompt:
            return after_account(flow, hinted)
        return HTMLResponse(pages.account_chooser(flow.flow_id, client, allowed_users(client)))

    @router.get(pages.AUTH_PATH)
    async def authorize(request: Request) -> Response:
        try:
            return start_flow(dict(request.query_params))
        except FlowPageError as exc:
            return exc.response()

    @router.post(pages.AUTH_PATH + "/select")
    async def select_account(flow: Annotated[str, Form()], email: Annotated[str, Form()]) -> Response:
        try:
            auth_flow = live_flow(flow)
            return after_account(auth_flow, flow_user(auth_flow, email))
        except FlowPageError as exc:
            return exc.response()

    @router.post(pages.AUTH_PATH + "/approve")
    async def approve(
        flow: Annotated[str, Form()], email: Annotated[str, Form()], action: Annotated[str, Form()]
    ) -> Response:
        try:
            auth_flow = live_flow(flow)
            user = flow_user(auth_flow, email)
            if user.email != auth_flow.chosen_email:
                raise FlowPageError(400, "invalid_request", "Choose an account first.")
        except FlowPageError as exc:
            return exc.response()
        if action != "allow":
            return deny(auth_flow, "access_denied")
        return issue_code(auth_flow, user)

    @router.post("/token")
    async def token(request: Request, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        return JSONResponse(exchange(emu, form, authorization), headers={"Cache-Control": "no-store"})

    @router.post("/revoke")
    async def revoke(request: Request, token: Annotated[str | None, Query()] = None) -> JSONResponse:
        value = token or str((await request.form()).get("token") or "")
        if not value:
            raise OAuthError("invalid_request", "Bad Request")
        revoke_token(emu, value)
        return JSONResponse({})

    @router.get("/oauth2/v3/certs")
    async def certs() -> JSONResponse:
        return JSONResponse(emu.key.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return openid_configuration(emu)

    @router.get("/oauth2/v3/userinfo")
    async def userinfo(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        user = state.users[emu.tokens.authenticate(authorization).email]
        info: dict[str, Any] = {
            "sub": user.sub,
            "email": user.email,
            "email_verified": True,
            "name": user.name,
        }
        if user.domain:
            info["hd"] = user.domain
        return info

    return router


def openid_configuration(emu: GoogleEmulator) -> dict[str, Any]:
    base = emu.base_url
    return {
        "issuer": emu.issuer,
        "authorization_endpoint": f"{base}{pages.AUTH_PATH}",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/oauth2/v3/userinfo",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{base}/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "hd", "iat", "iss", "name", "sub"],
        "code_challenge_methods_supported": list(PKCE_METHODS),
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Unauthorized", 401) from None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            raise OAuthError("invalid_client", "Unauthorized", 401)
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def authenticate_client(emu: GoogleEmulator, form: dict[str, str], authorization: str | None) -> OAuthClient:
    client_id, secret = _client_credentials(form, authorization)
    if not client_id:
        raise OAuthError("invalid_request", "Could not determine client ID from request.")
    client = emu.state.clients.get(client_id)
    if client is None:
        raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
    if not secret:
        raise OAuthError("invalid_request", "client_secret is missing.")
    if not hmac.compare_digest(secret, client.client_secret):
        raise OAuthError("invalid_client", "Unauthorized", 401)
    return client


def exchange(emu: GoogleEmulator, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
    """The token endpoint: ``authorization_code`` and ``refresh_token`` grants."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "Required parameter is missing: grant_type")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    client = authenticate_client(emu, form, authorization)
    if grant_type == "authorization_code":
        return _exchange_code(emu, client, form)
    return _exchange_refresh(emu, client, form)


def _exchange_code(emu: GoogleEmulator, client: OAuthClient, form: dict[str, str]) -> dict[str, Any]:
    value = form.get("code")
    if not value:
        raise OAuthError("invalid_request", "Missing required parameter: code")
    code = emu.state.codes.get(value)
    if code is None or code.client_id != client.client_id:
        raise OAuthError("invalid_grant", "Malformed auth code.")
    if code.used:
        _revoke_grant_id(emu, code.grant_id)  # RFC 6749 §4.1.2: a replayed code burns its tokens
        raise OAuthError("invalid_grant", "Bad Request")
    if code.expires_at <= emu.state.clock.time():
        raise OAuthError("invalid_grant", "Bad Request")
    if form.get("redirect_uri") != code.redirect_uri:
        raise OAuthError("redirect_uri_mismatch", "Bad Request")
    _check_pkce(code, form.get("code_verifier"))
    code.used = True
    grant = emu.state.grants.get(code.grant_id or "")
    if grant is None or grant.revoked:
        raise OAuthError("invalid_grant", REVOKED_MESSAGE)
    return emu.tokens.issue(grant, code.scopes, nonce=code.nonce, with_refresh=code.issue_refresh)


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if code.code_challenge is None:
        return
    if not verifier:
        raise OAuthError("invalid_grant", "Missing code verifier.")
    if not pkce_matches(verifier, code.code_challenge, code.code_challenge_method):
        raise OAuthError("invalid_grant", "Invalid code verifier.")


def _exchange_refresh(emu: GoogleEmulator, client: OAuthClient, form: dict[str, str]) -> dict[str, Any]:
    value = form.get("refresh_token")
    if not value:
        raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
    grant = emu.tokens.use_refresh_token(value)
    if grant is None:
        raise OAuthError("invalid_grant", REVOKED_MESSAGE)
    if grant.client_id != client.client_id:
        raise OAuthError("unauthorized_client", "Unauthorized")
    return emu.tokens.issue(grant, grant.scopes)


def _revoke_grant_id(emu: GoogleEmulator, grant_id: str | None) -> None:
    grant = emu.state.grants.get(grant_id or "")
    if grant is not None:
        emu.tokens.revoke_grant(grant)


def revoke_token(emu: GoogleEmulator, token: str) -> None:
    """Revoking either an access or a refresh token revokes the whole grant, as Google does."""
    grant_id = emu.state.refresh_tokens.get(token)
    if grant_id is None:
        access = emu.state.access_tokens.get(token)
        if access is None or access.revoked or access.expires_at <= emu.state.clock.time():
            raise OAuthError("invalid_token", "Token expired or revoked")
        access.revoked = True
        grant_id = access.grant_id
    _revoke_grant_id(emu, grant_id)
