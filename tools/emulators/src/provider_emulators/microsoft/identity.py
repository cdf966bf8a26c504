"""Microsoft identity platform v2.0: discovery, JWKS, authorize pages, token, admin consent.

Admin-consent policy: when a user's tenant needs an administrator's consent that is missing,
the authorize flow redirects back with ``error=consent_required`` and an
``error_description`` starting ``AADSTS90094`` ("The grant requires admin permission").
(The real service first shows a "Need admin approval" page whose "return to the application"
link produces that redirect; the emulator skips the page.)
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from typing import Any
from urllib.parse import unquote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from provider_emulators.microsoft import pages
from provider_emulators.microsoft.context import TENANT_PLACEHOLDER, Emulator
from provider_emulators.microsoft.errors import AadError, aad_error_response
from provider_emulators.microsoft.scopes import (
    has_user_consent,
    missing_admin_consent,
    parse_scopes,
    resource_scopes,
    scope_string,
)
from provider_emulators.microsoft.state import (
    OIDC_SCOPES,
    AccessToken,
    App,
    AuthCode,
    AuthRequest,
    RefreshToken,
    User,
)
from provider_emulators.microsoft.timeutil import now
from provider_emulators.microsoft.tokens import (
    access_token_claims,
    client_info,
    id_token_claims,
    pairwise_sub,
    verify_pkce,
)

_PROMPTS = frozenset({"login", "none", "consent", "select_account"})
_RESPONSE_MODES = frozenset({"query", "fragment", "form_post"})
_REQUEST_LIFETIME = dt.timedelta(minutes=10)


class RedirectError(Exception):
    """An authorize-flow error delivered to the client's redirect URI."""

    def __init__(self, error: str, aadsts: int, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.description = f"AADSTS{aadsts}: {message}"


# --- discovery ---------------------------------------------------------------------------------


def discovery_document(emu: Emulator, tenant_path: str) -> dict[str, Any] | None:
    resolved = emu.resolve_tenant_path(tenant_path)
    if resolved is None:
        return None
    kind, tenant = resolved
    issuer_tid = tenant.id if tenant is not None else TENANT_PLACEHOLDER
    base = f"{emu.base_url}/{tenant_path}"
    return {
        "issuer": emu.issuer(issuer_tid),
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "userinfo_endpoint": f"{emu.base_url}/oidc/userinfo",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "request_uri_parameter_supported": False,
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "code_challenge_methods_supported": ["plain", "S256"],
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
            "oid",
        ],
        "tenant_region_scope": None if kind == "consumers" else "AS",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def _invalid_tenant(tenant_path: str) -> JSONResponse:
    return aad_error_response(
        AadError(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant_path}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud.",
        )
    )


# --- authorize helpers -------------------------------------------------------------------------


def _redirect(req: AuthRequest, params: dict[str, str]) -> Response:
    """Deliver ``params`` to the redirect URI in the requested response mode."""
    if req.state is not None:
        params = {**params, "state": req.state}
    if req.response_mode == "form_post":
        return pages.form_post(req.redirect_uri, params)
    separator = "#" if req.response_mode == "fragment" else ("&" if "?" in req.redirect_uri else "?")
    return RedirectResponse(f"{req.redirect_uri}{separator}{urlencode(params)}", status_code=302)


def _redirect_error(req: AuthRequest, exc: RedirectError) -> Response:
    return _redirect(req, {"error": exc.error, "error_description": exc.description})


def _validate_client(emu: Emulator, params: dict[str, str]) -> App | HTMLResponse:
    """Client id and redirect URI problems show an error page: never redirect to an unknown URI."""
    client_id = params.get("client_id", "")
    app = emu.state.apps.get(client_id)
    if app is None:
        return pages.error_page(
            700016, f"Application with identifier '{client_id}' was not found in the directory."
        )
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return pages.error_page(
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
            f"URIs configured for the application '{client_id}'.",
        )
    return app


def _check_authorize_params(params: dict[str, str]) -> None:
    if params.get("response_type") != "code":
        raise RedirectError(
            "unsupported_response_type",
            700054,
            f"response_type '{params.get('response_type', '')}' is not enabled for the application.",
        )
    if not params.get("scope"):
        raise RedirectError("invalid_request", 900144, "The request must contain the parameter 'scope'.")
    method = params.get("code_challenge_method")
    if method is not None and method not in ("S256", "plain"):
        raise RedirectError("invalid_request", 501491, f"Invalid code_challenge_method '{method}'.")
    if method is not None and not params.get("code_challenge"):
        raise RedirectError("invalid_request", 501491, "code_challenge_method given without code_challenge.")
    prompt = params.get("prompt")
    if prompt is not None and prompt not in _PROMPTS:
        raise RedirectError("invalid_request", 90023, f"Invalid prompt value '{prompt}'.")


def _new_request(tenant_path: str, app: App, params: dict[str, str], kind: str) -> AuthRequest:
    mode = params.get("response_mode") or "query"
    challenge = params.get("code_challenge")
    return AuthRequest(
        id=secrets.token_urlsafe(24),
        tenant_path=tenant_path,
        client_id=app.client_id,
        redirect_uri=params["redirect_uri"],
        scopes=parse_scopes(params.get("scope"), app),
        state=params.get("state"),
        nonce=params.get("nonce"),
        code_challenge=challenge,
        code_challenge_method=(params.get("code_challenge_method") or "plain") if challenge else None,
        response_mode=mode if mode in _RESPONSE_MODES else "query",
        prompt=params.get("prompt"),
        login_hint=params.get("login_hint"),
        client_info=params.get("client_info") == "1",
        kind=kind,
    )


def _issue_code(emu: Emulator, req: AuthRequest, user: User) -> Response:
    state = emu.state
    code = AuthCode(
        code="1.A" + secrets.token_urlsafe(48),
        client_id=req.client_id,
        redirect_uri=req.redirect_uri,
        user_id=user.id,
        scopes=req.scopes,
        nonce=req.nonce,
        code_challenge=req.code_challenge,
        code_challenge_method=req.code_challenge_method,
        expires_at=now() + dt.timedelta(seconds=state.settings.code_lifetime_s),
    )
    state.codes[code.code] = code
    state.auth_requests.pop(req.id, None)
    params = {"code": code.code, "session_state": str(uuid.uuid4())}
    if req.client_info:
        params["client_info"] = client_info(user)
    return _redirect(req, params)


def _consent_or_code(emu: Emulator, req: AuthRequest, user: User) -> Response:
    """After sign-in: enforce admin consent, then skip or show the consent page."""
    req.user_id = user.id
    state = emu.state
    if req.kind == "adminconsent":
        return _render_consent(emu, req, user)
    missing = missing_admin_consent(state, user, req.client_id, req.scopes)
    if missing:
        raise RedirectError(
            "consent_required",
            90094,
            f"The grant requires admin permission. Missing admin consent for: {' '.join(missing)}.",
        )
    consented = has_user_consent(state, user, req.client_id, req.scopes)
    if consented and req.prompt != "consent":
        return _issue_code(emu, req, user)
    if req.prompt == "none":
        raise RedirectError(
            "consent_required",
            65001,
            f"The user or administrator has not consented to use the application with ID "
            f"'{req.client_id}'. Send an interactive authorization request for this user and resource.",
        )
    return _render_consent(emu, req, user)


def _render_consent(emu: Emulator, req: AuthRequest, user: User) -> Response:
    app = emu.state.apps[req.client_id]
    action = f"/{req.tenant_path}/oauth2/v2.0/authorize/consent"
    scopes = req.scopes if req.kind == "authorize" else resource_scopes(req.scopes)
    return pages.consent_page(action, req.id, user, app.name, scopes, for_org=req.kind == "adminconsent")


def _start_sign_in(emu: Emulator, req: AuthRequest) -> Response:
    """Pick the account from ``login_hint`` when allowed, else show the account chooser."""
    users = _eligible_users(emu, req)
    hinted = next((u for u in users if req.login_hint and u.email == req.login_hint.lower()), None)
    if hinted is not None and req.prompt not in ("select_account", "login"):
        return _consent_or_code(emu, req, hinted)
    if req.prompt == "none":
        raise RedirectError(
            "login_required", 50058, "A silent sign-in request was sent but no user is signed in."
        )
    app = emu.state.apps[req.client_id]
    action = f"/{req.tenant_path}/oauth2/v2.0/authorize/select"
    return pages.account_chooser(action, req.id, users, app.name)


def _eligible_users(emu: Emulator, req: AuthRequest) -> list[User]:
    users = emu.users_for_path(req.tenant_path)
    return [u for u in users if not u.personal] if req.kind == "adminconsent" else users


def _pending_request(emu: Emulator, request_id: str) -> AuthRequest | None:
    req = emu.state.auth_requests.get(request_id)
    if req is None or now() - req.created > _REQUEST_LIFETIME:
        return None
    return req


def _session_expired() -> HTMLResponse:
    return pages.error_page(50058, "The sign-in session was not found or has expired. Start again.")


def _finish_admin_consent(emu: Emulator, req: AuthRequest, user: User) -> Response:
    emu.state.auth_requests.pop(req.id, None)
    if not user.is_admin:
        raise RedirectError(
            "consent_required",
            65004,
            "User declined to consent to access the app: the signed-in user is not an administrator "
            "of the tenant and cannot grant consent for the organization.",
        )
    tenant = emu.state.tenants[user.tenant_id]
    tenant.admin_consents.setdefault(req.client_id, set()).update(resource_scopes(req.scopes))
    scope_param = " ".join(f"https://graph.microsoft.com/{s}" for s in resource_scopes(req.scopes))
    return _redirect(req, {"admin_consent": "True", "tenant": tenant.id, "scope": scope_param})


# --- token endpoint helpers --------------------------------------------------------------------


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError) as exc:
            raise AadError(401, "invalid_client", 7000215, "Invalid client secret provided.") from exc
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            raise AadError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        return unquote(client_id), unquote(secret)
    return form.get("client_id", ""), form.get("client_secret")


def _authenticate_client(emu: Emulator, request: Request, form: dict[str, str]) -> App:
    client_id, secret = _client_credentials(request, form)
    if not client_id:
        raise AadError(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    app = emu.state.apps.get(client_id)
    if app is None:
        raise AadError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory.",
        )
    if not secret:
        raise AadError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if not secrets.compare_digest(secret, app.secret):
        raise AadError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    return app


def _require(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise AadError(
            400,
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: '{name}'.",
        )
    return value


def token_response(
    emu: Emulator, app: App, user: User, scopes: list[str], nonce: str | None, form: dict[str, str]
) -> dict[str, Any]:
    state = emu.state
    issued = now()
    lifetime = state.settings.access_token_lifetime_s
    graph_scopes = resource_scopes(scopes)
    access = emu.key.sign(access_token_claims(user, app, graph_scopes, issued, lifetime))
    state.access_tokens[access] = AccessToken(
        access, app.client_id, user.id, graph_scopes, issued + dt.timedelta(seconds=lifetime)
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scope_string([*graph_scopes, *(s for s in scopes if s not in graph_scopes)]),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    }
    if "offline_access" in scopes:
        body["refresh_token"] = state.new_refresh_token(app.client_id, user.id, scopes).token
        body["refresh_token_expires_in"] = state.settings.refresh_token_lifetime_s
    if "openid" in scopes:
        claims = id_token_claims(user, app, emu.issuer(user.tenant_id), nonce, issued)
        body["id_token"] = emu.key.sign(claims)
    if form.get("client_info") == "1":
        body["client_info"] = client_info(user)
    return body


def _redeem_code(emu: Emulator, app: App, form: dict[str, str]) -> dict[str, Any]:
    state = emu.state
    code = state.codes.get(_require(form, "code"))
    if code is None:
        raise AadError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if code.redeemed:
        raise AadError(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
            "an existing refresh token.",
        )
    if code.expires_at <= now():
        raise AadError(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        )
    if code.client_id != app.client_id:
        raise AadError(
            400, "invalid_grant", 70000, "The provided authorization code was issued to another client."
        )
    if form.get("redirect_uri") != code.redirect_uri:
        raise AadError(
            400,
            "invalid_grant",
            70000,
            "The provided value for the input parameter 'redirect_uri' is not valid. The value must "
            "exactly match the redirect URI used to obtain the authorization code.",
        )
    if code.code_challenge and not verify_pkce(
        form.get("code_verifier"), code.code_challenge, code.code_challenge_method
    ):
        raise AadError(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    code.redeemed = True
    user = state.users[code.user_id]
    return token_response(emu, app, user, code.scopes, code.nonce, form)


def _expired_refresh() -> AadError:
    return AadError(
        400,
        "invalid_grant",
        700082,
        "The refresh token has expired due to inactivity. The token was issued and was inactive for "
        "too long, or it was revoked.",
    )


def _live_refresh_token(emu: Emulator, app: App, raw: str) -> RefreshToken:
    record = emu.state.refresh_tokens.get(raw)
    if record is None:
        raise AadError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if record.client_id != app.client_id:
        raise AadError(400, "invalid_grant", 70000, "The refresh token was issued to a different client.")
    if record.revoked or record.expires_at <= now():
        raise _expired_refresh()
    return record


def _refresh(emu: Emulator, app: App, form: dict[str, str]) -> dict[str, Any]:
    state = emu.state
    record = _live_refresh_token(emu, app, _require(form, "refresh_token"))
    user = state.users[record.user_id]
    requested = parse_scopes(form.get("scope"), app) or record.scopes
    granted = set(record.scopes)
    not_granted = [s for s in resource_scopes(requested) if s not in granted]
    if not_granted or missing_admin_consent(state, user, app.client_id, requested):
        raise AadError(
            400,
            "invalid_grant",
            65001,
            f"The user or administrator has not consented to use the application with ID "
            f"'{app.client_id}'. Send an interactive authorization request for this user and resource.",
            suberror="consent_required",
        )
    oidc = [s for s in record.scopes if s in OIDC_SCOPES and s not in requested]
    scopes = [*requested, *oidc]
    body = token_response(emu, app, user, scopes, None, form)
    record.replaced_by = body.get("refresh_token")
    if state.settings.retire_redeemed_refresh_tokens:
        record.revoked = True
    return body


# --- router ------------------------------------------------------------------------------------


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    @router.get("/{tenant}/v2.0/.well-known/openid-configuration", include_in_schema=False)
    async def openid_configuration(tenant: str) -> Response:
        doc = discovery_document(emu, tenant)
        return _invalid_tenant(tenant) if doc is None else JSONResponse(doc)

    @router.get("/{tenant}/discovery/v2.0/keys", include_in_schema=False)
    async def jwks(tenant: str) -> Response:
        resolved = emu.resolve_tenant_path(tenant)
        if resolved is None:
            return _invalid_tenant(tenant)
        tid = resolved[1].id if resolved[1] is not None else TENANT_PLACEHOLDER
        return JSONResponse({"keys": [emu.key.jwk(emu.issuer(tid))]})

    @router.get("/{tenant}/oauth2/v2.0/authorize", include_in_schema=False)
    async def authorize(tenant: str, request: Request) -> Response:
        return _begin(tenant, dict(request.query_params), "authorize")

    @router.get("/{tenant}/v2.0/adminconsent", include_in_schema=False)
    async def admin_consent(tenant: str, request: Request) -> Response:
        params = {**request.query_params, "response_type": "code"}
        params.setdefault("scope", "https://graph.microsoft.com/.default")
        return _begin(tenant, params, "adminconsent")

    def _begin(tenant: str, params: dict[str, str], kind: str) -> Response:
        if emu.resolve_tenant_path(tenant) is None:
            return pages.error_page(90002, f"Tenant '{tenant}' not found.")
        app = _validate_client(emu, params)
        if isinstance(app, HTMLResponse):
            return app
        req = _new_request(tenant, app, params, kind)
        try:
            _check_authorize_params(params)
            emu.state.auth_requests[req.id] = req
            return _start_sign_in(emu, req)
        except RedirectError as exc:
            emu.state.auth_requests.pop(req.id, None)
            return _redirect_error(req, exc)

    @router.post("/{tenant}/oauth2/v2.0/authorize/select", include_in_schema=False)
    async def select_account(tenant: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        req = _pending_request(emu, form.get("request_id", ""))
        if req is None:
            return _session_expired()
        login = form.get("login", "").lower()
        user = next((u for u in _eligible_users(emu, req) if u.email == login), None)
        if user is None:
            return pages.error_page(50034, f"The user account {login} does not exist in this directory.")
        try:
            return _consent_or_code(emu, req, user)
        except RedirectError as exc:
            emu.state.auth_requests.pop(req.id, None)
            return _redirect_error(req, exc)

    @router.post("/{tenant}/oauth2/v2.0/authorize/consent", include_in_schema=False)
    async def consent(tenant: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        req = _pending_request(emu, form.get("request_id", ""))
        if req is None or req.user_id is None:
            return _session_expired()
        user = emu.state.users[req.user_id]
        try:
            if form.get("action") != "accept":
                emu.state.auth_requests.pop(req.id, None)
                raise RedirectError("access_denied", 65004, "User declined to consent to access the app.")
            if req.kind == "adminconsent":
                return _finish_admin_consent(emu, req, user)
            emu.state.user_consents.setdefault((user.id, req.client_id), set()).update(
                resource_scopes(req.scopes)
            )
            return _issue_code(emu, req, user)
        except RedirectError as exc:
            return _redirect_error(req, exc)

    @router.post("/{tenant}/oauth2/v2.0/token", include_in_schema=False)
    async def token(tenant: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            if emu.resolve_tenant_path(tenant) is None:
                raise AadError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            grant_type = _require(form, "grant_type")
            app = _authenticate_client(emu, request, form)
            if grant_type == "authorization_code":
                body = _redeem_code(emu, app, form)
            elif grant_type == "refresh_token":
                body = _refresh(emu, app, form)
            else:
                raise AadError(
                    400,
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant_type}'.",
                )
        except AadError as exc:
            return aad_error_response(exc)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @router.get("/{tenant}/oauth2/v2.0/logout", include_in_schema=False)
    async def logout(tenant: str, post_logout_redirect_uri: str | None = None) -> Response:
        if post_logout_redirect_uri:
            return RedirectResponse(post_logout_redirect_uri, status_code=302)
        return pages.signed_out_page()

    @router.get("/oidc/userinfo", include_in_schema=False)
    async def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        record = (
            emu.state.access_tokens.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        )
        if record is None or record.expires_at <= now():
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        user = emu.state.users[record.user_id]
        app = emu.state.apps[record.client_id]
        first, _, last = user.name.partition(" ")
        return JSONResponse(
            {
                "sub": pairwise_sub(user, app.client_id),
                "name": user.name,
                "given_name": first,
                "family_name": last,
                "email": user.email,
                "picture": f"{emu.graph_base}/me/photo/$value",
            }
        )

    return router
