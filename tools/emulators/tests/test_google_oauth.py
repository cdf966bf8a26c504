"""Google OAuth 2.0 / OIDC: browser flow, token endpoint, revocation, id tokens, google-auth."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import google.oauth2.id_token
import httpx
import jwt
import pytest
import requests

from provider_emulators.core.server import EmulatorServer
from provider_emulators.google.app import create_app
from provider_emulators.google.testing import GoogleControl, SeededWorld

CAL = "https://www.googleapis.com/auth/calendar"
SCOPE = f"openid email {CAL}"
AUTH = "/o/oauth2/v2/auth"


def authorize(http: httpx.Client, world: SeededWorld, **params: str) -> httpx.Response:
    query = {
        "client_id": world.client_id,
        "redirect_uri": world.redirect_uri,
        "response_type": "code",
        "scope": SCOPE,
        "state": "st-123",
        **params,
    }
    return http.get(AUTH, params={k: v for k, v in query.items() if v != ""})


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, html
    return match.group(1)


def choose(http: httpx.Client, page: httpx.Response, email: str) -> httpx.Response:
    return http.post(f"{AUTH}/select", data={"flow": hidden(page.text, "flow"), "email": email})


def consent(http: httpx.Client, page: httpx.Response, action: str = "allow") -> httpx.Response:
    form = {"flow": hidden(page.text, "flow"), "email": hidden(page.text, "email"), "action": action}
    return http.post(f"{AUTH}/approve", data=form)


def redirect_params(response: httpx.Response, world: SeededWorld) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(world.redirect_uri + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def full_flow(http: httpx.Client, world: SeededWorld, email: str, **params: str) -> dict[str, str]:
    chooser = authorize(http, world, **params)
    page = choose(http, chooser, email)
    return redirect_params(consent(http, page), world)


def exchange(http: httpx.Client, world: SeededWorld, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": world.redirect_uri,
        "client_id": world.client_id,
        "client_secret": world.client_secret,
        **extra,
    }
    return http.post("/token", data={k: v for k, v in form.items() if v != ""})


def refresh(http: httpx.Client, world: SeededWorld, token: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": world.client_id,
        "client_secret": world.client_secret,
    }
    return http.post("/token", data=form)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def claims(id_token: str) -> dict[str, Any]:
    return jwt.decode(id_token, options={"verify_signature": False})


# ----- authorization endpoint --------------------------------------------------------------


def test_account_chooser_lists_users_and_consent_shows_allow_button(
    google_http: httpx.Client, google_world: SeededWorld
) -> None:
    chooser = authorize(google_http, google_world)
    assert chooser.status_code == 200
    assert "text/html" in chooser.headers["content-type"]
    for email in (google_world.admin, google_world.member, google_world.personal):
        assert f'value="{email}"' in chooser.text
    page = choose(google_http, chooser, google_world.admin)
    assert page.status_code == 200
    assert "許可" in page.text
    assert "キャンセル" in page.text
    assert CAL in page.text


def test_full_flow_returns_code_state_and_scope(google_http: httpx.Client, google_world: SeededWorld) -> None:
    params = full_flow(google_http, google_world, google_world.admin)
    assert params["state"] == "st-123"
    assert params["code"]
    assert CAL in params["scope"]
    assert params["hd"] == "example.com"


def test_cancel_redirects_with_access_denied(google_http: httpx.Client, google_world: SeededWorld) -> None:
    page = choose(google_http, authorize(google_http, google_world), google_world.admin)
    params = redirect_params(consent(google_http, page, action="deny"), google_world)
    assert params == {"error": "access_denied", "state": "st-123"}


def test_login_hint_skips_chooser(google_http: httpx.Client, google_world: SeededWorld) -> None:
    page = authorize(google_http, google_world, login_hint=google_world.member)
    assert "許可" in page.text
    assert hidden(page.text, "email") == google_world.member


def test_internal_client_lists_only_its_domain(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    google_control.add_client("internal", "s", [google_world.redirect_uri], domain="example.com")
    chooser = authorize(google_http, google_world, client_id="internal")
    assert google_world.admin in chooser.text
    assert google_world.personal not in chooser.text
    refused = choose(google_http, chooser, google_world.personal)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"client_id": "unknown"}, 401, "invalid_client"),
        ({"redirect_uri": "https://evil.example/cb"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": ""}, 400, "redirect_uri_mismatch"),
        ({"scope": ""}, 400, "invalid_request"),
        ({"code_challenge_method": "S512", "code_challenge": "x"}, 400, "invalid_request"),
    ],
)
def test_authorize_errors_are_shown_as_pages(
    google_http: httpx.Client, google_world: SeededWorld, params: dict[str, str], status: int, error: str
) -> None:
    response = authorize(google_http, google_world, **params)
    assert response.status_code == status
    assert f"Error {status}: {error}" in response.text


def test_unsupported_response_type_redirects(google_http: httpx.Client, google_world: SeededWorld) -> None:
    params = redirect_params(authorize(google_http, google_world, response_type="token"), google_world)
    assert params["error"] == "unsupported_response_type"


def test_unknown_or_expired_flow_is_refused(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    bad = google_http.post(f"{AUTH}/select", data={"flow": "nope", "email": google_world.admin})
    assert bad.status_code == 400
    chooser = authorize(google_http, google_world)
    google_control.advance_clock(3601)
    assert choose(google_http, chooser, google_world.admin).status_code == 400


def test_consent_must_follow_account_choice(google_http: httpx.Client, google_world: SeededWorld) -> None:
    chooser = authorize(google_http, google_world)
    flow = hidden(chooser.text, "flow")
    skipped = google_http.post(
        f"{AUTH}/approve", data={"flow": flow, "email": google_world.admin, "action": "allow"}
    )
    assert skipped.status_code == 400
    page = choose(google_http, chooser, google_world.admin)
    swapped = google_http.post(
        f"{AUTH}/approve", data={"flow": flow, "email": google_world.member, "action": "allow"}
    )
    assert swapped.status_code == 400
    assert consent(google_http, page).status_code == 302
    assert consent(google_http, page).status_code == 400  # the flow is used up


def test_missing_form_fields_are_400(google_http: httpx.Client) -> None:
    response = google_http.post(f"{AUTH}/select", data={})
    assert response.status_code == 400


def test_unsupported_response_type_without_state(
    google_http: httpx.Client, google_world: SeededWorld
) -> None:
    response = authorize(google_http, google_world, response_type="token", state="")
    assert redirect_params(response, google_world) == {"error": "unsupported_response_type"}


def test_login_hint_is_case_insensitive(google_http: httpx.Client, google_world: SeededWorld) -> None:
    page = authorize(google_http, google_world, login_hint="ALICE@example.com")
    assert hidden(page.text, "email") == google_world.admin


def test_prompt_none(google_http: httpx.Client, google_world: SeededWorld) -> None:
    no_user = redirect_params(authorize(google_http, google_world, prompt="none"), google_world)
    assert no_user["error"] == "login_required"
    no_grant = authorize(google_http, google_world, prompt="none", login_hint=google_world.admin)
    assert redirect_params(no_grant, google_world)["error"] == "consent_required"
    full_flow(google_http, google_world, google_world.admin)
    granted = authorize(google_http, google_world, prompt="none", login_hint=google_world.admin)
    assert "code" in redirect_params(granted, google_world)


def test_existing_grant_skips_consent_unless_prompt_consent(
    google_http: httpx.Client, google_world: SeededWorld
) -> None:
    full_flow(google_http, google_world, google_world.admin)
    again = choose(google_http, authorize(google_http, google_world), google_world.admin)
    assert "code" in redirect_params(again, google_world)
    forced = choose(google_http, authorize(google_http, google_world, prompt="consent"), google_world.admin)
    assert "許可" in forced.text


# ----- token endpoint -----------------------------------------------------------------------


def test_code_exchange_offline_returns_refresh_and_id_token(
    google_http: httpx.Client, google_world: SeededWorld
) -> None:
    params = full_flow(google_http, google_world, google_world.admin, access_type="offline", nonce="n-1")
    response = exchange(google_http, google_world, params["code"])
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"]
    assert CAL in body["scope"].split()
    id_claims = claims(body["id_token"])
    assert id_claims["email"] == google_world.admin
    assert id_claims["hd"] == "example.com"
    assert id_claims["nonce"] == "n-1"
    assert id_claims["aud"] == id_claims["azp"] == google_world.client_id
    assert id_claims["iss"] == "https://accounts.google.com"
    assert id_claims["email_verified"] is True
    assert id_claims["exp"] - id_claims["iat"] == 3600


def test_online_access_has_no_refresh_token_and_second_offline_grant_neither(
    google_http: httpx.Client, google_world: SeededWorld
) -> None:
    online = full_flow(google_http, google_world, google_world.member)
    assert "refresh_token" not in exchange(google_http, google_world, online["code"]).json()
    first = full_flow(google_http, google_world, google_world.admin, access_type="offline")
    assert "refresh_token" in exchange(google_http, google_world, first["code"]).json()
    chooser = authorize(google_http, google_world, access_type="offline")
    second = redirect_params(choose(google_http, chooser, google_world.admin), google_world)
    assert "refresh_token" not in exchange(google_http, google_world, second["code"]).json()
    forced = full_flow(google_http, google_world, google_world.admin, access_type="offline", prompt="consent")
    assert "refresh_token" in exchange(google_http, google_world, forced["code"]).json()


def test_personal_account_id_token_has_no_hd(google_http: httpx.Client, google_world: SeededWorld) -> None:
    params = full_flow(google_http, google_world, google_world.personal)
    assert "hd" not in params
    id_claims = claims(exchange(google_http, google_world, params["code"]).json()["id_token"])
    assert id_claims["email"] == google_world.personal
    assert "hd" not in id_claims


@pytest.mark.parametrize("method", ["S256", "plain", None])
def test_pkce(google_http: httpx.Client, google_world: SeededWorld, method: str | None) -> None:
    verifier, s256 = pkce_pair()
    challenge = s256 if method == "S256" else verifier
    extra = {"code_challenge": challenge, **({"code_challenge_method": method} if method else {})}
    missing = full_flow(google_http, google_world, google_world.admin, prompt="consent", **extra)
    response = exchange(google_http, google_world, missing["code"])
    assert response.json() == {"error": "invalid_grant", "error_description": "Missing code verifier."}
    wrong = full_flow(google_http, google_world, google_world.admin, prompt="consent", **extra)
    response = exchange(google_http, google_world, wrong["code"], code_verifier="x" * 43)
    assert response.json()["error_description"] == "Invalid code verifier."
    good = full_flow(google_http, google_world, google_world.admin, prompt="consent", **extra)
    assert exchange(google_http, google_world, good["code"], code_verifier=verifier).status_code == 200


def test_code_is_single_use_and_replay_revokes_tokens(
    google_http: httpx.Client, google_world: SeededWorld
) -> None:
    params = full_flow(google_http, google_world, google_world.admin, access_type="offline")
    tokens = exchange(google_http, google_world, params["code"]).json()
    replay = exchange(google_http, google_world, params["code"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert refresh(google_http, google_world, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_code_expires_after_ten_minutes(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    params = full_flow(google_http, google_world, google_world.admin)
    google_control.advance_clock(601)
    response = exchange(google_http, google_world, params["code"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_id": ""}, 400, "invalid_request"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": ""}, 400, "invalid_request"),
        ({"code": ""}, 400, "invalid_request"),
        ({"code": "4/garbage"}, 400, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:1/other"}, 400, "redirect_uri_mismatch"),
    ],
)
def test_token_endpoint_errors(
    google_http: httpx.Client, google_world: SeededWorld, form: dict[str, str], status: int, error: str
) -> None:
    params = full_flow(google_http, google_world, google_world.admin)
    response = exchange(google_http, google_world, form.pop("code", params["code"]), **form)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_code_of_other_client_is_invalid_grant(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    google_control.add_client("other", "other-secret", [google_world.redirect_uri])
    params = full_flow(google_http, google_world, google_world.admin)
    response = exchange(
        google_http, google_world, params["code"], client_id="other", client_secret="other-secret"
    )
    assert response.json()["error"] == "invalid_grant"


def test_client_secret_basic_auth(google_http: httpx.Client, google_world: SeededWorld) -> None:
    params = full_flow(google_http, google_world, google_world.admin)
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": google_world.redirect_uri,
    }
    auth = (google_world.client_id, google_world.client_secret)
    assert google_http.post("/token", data=form, auth=auth).status_code == 200
    bad = google_http.post("/token", data=form, headers={"Authorization": "Basic !!!"})
    assert bad.status_code == 401


def test_refresh_grant(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    response = refresh(google_http, google_world, tokens["refresh_token"])
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] != tokens["access_token"]
    assert "refresh_token" not in body
    assert claims(body["id_token"])["email"] == google_world.admin
    assert refresh(google_http, google_world, "").json()["error"] == "invalid_request"
    google_control.add_client("other", "s2", [google_world.redirect_uri])
    other = google_http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "other",
            "client_secret": "s2",
        },
    )
    assert other.json()["error"] == "unauthorized_client"


def test_user_revocation_makes_refresh_invalid_grant(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    assert google_control.revoke_user(google_world.admin) == 1
    response = refresh(google_http, google_world, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    api = google_http.get(
        "/calendar/v3/calendars/primary/events", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert api.status_code == 401


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoke_endpoint_revokes_the_grant(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld, which: str
) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    assert google_http.post("/revoke", params={"token": tokens[which]}).status_code == 200
    assert refresh(google_http, google_world, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    again = google_http.post("/revoke", data={"token": tokens[which]})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"
    assert google_http.post("/revoke").json()["error"] == "invalid_request"


def test_expired_access_token_is_401_until_refreshed(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert google_http.get("/calendar/v3/calendars/primary/events", headers=headers).status_code == 200
    assert google_control.expire_tokens(email=google_world.admin) == 1
    expired = google_http.get("/calendar/v3/calendars/primary/events", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["error"]["errors"][0]["reason"] == "authError"
    fresh = refresh(google_http, google_world, tokens["refresh_token"]).json()["access_token"]
    ok = google_http.get(
        "/calendar/v3/calendars/primary/events", headers={"Authorization": f"Bearer {fresh}"}
    )
    assert ok.status_code == 200


def test_access_token_expires_after_an_hour(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    token = google_control.mint_token(google_world.admin, google_world.client_id)["access_token"]
    google_control.advance_clock(3601)
    response = google_http.get("/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# ----- OIDC discovery, JWKS, userinfo, google-auth -----------------------------------------------


def test_discovery_and_jwks(google_http: httpx.Client, google_server: EmulatorServer) -> None:
    config = google_http.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == "https://accounts.google.com"
    assert config["token_endpoint"] == f"{google_server.base_url}/token"
    assert config["jwks_uri"] == f"{google_server.base_url}/oauth2/v3/certs"
    assert "S256" in config["code_challenge_methods_supported"]
    keys = google_http.get("/oauth2/v3/certs").json()["keys"]
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"


def test_userinfo(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    token = google_control.mint_token(google_world.admin, google_world.client_id)["access_token"]
    info = google_http.get("/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {token}"}).json()
    assert info["email"] == google_world.admin
    assert info["hd"] == "example.com"
    assert google_http.get("/oauth2/v3/userinfo").status_code == 401


@pytest.fixture
def google_auth_request(google_server: EmulatorServer) -> google.auth.transport.requests.Request:
    session = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE (set on many machines) override ``session.verify``
    # unless the session ignores the environment.
    session.trust_env = False
    session.verify = str(google_server.ca_path)
    return google.auth.transport.requests.Request(session)


def test_google_auth_refreshes_credentials_and_verifies_id_token(
    google_server: EmulatorServer,
    google_control: GoogleControl,
    google_world: SeededWorld,
    google_auth_request: google.auth.transport.requests.Request,
) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    credentials = google.oauth2.credentials.Credentials(
        token=None,
        refresh_token=tokens["refresh_token"],
        token_uri=f"{google_server.base_url}/token",
        client_id=google_world.client_id,
        client_secret=google_world.client_secret,
    )
    credentials.refresh(google_auth_request)
    assert credentials.valid
    assert credentials.token
    assert credentials.id_token
    verified = google.oauth2.id_token.verify_token(
        credentials.id_token,
        google_auth_request,
        audience=google_world.client_id,
        certs_url=f"{google_server.base_url}/oauth2/v3/certs",
    )
    assert verified["email"] == google_world.admin
    assert verified["hd"] == "example.com"
    assert verified["iss"] in ("accounts.google.com", "https://accounts.google.com")
    with pytest.raises((ValueError, jwt.InvalidAudienceError), match=r"(?i)audience"):
        google.oauth2.id_token.verify_token(
            credentials.id_token,
            google_auth_request,
            audience="someone-else",
            certs_url=f"{google_server.base_url}/oauth2/v3/certs",
        )


def test_google_auth_refresh_error_after_revocation(
    google_server: EmulatorServer,
    google_control: GoogleControl,
    google_world: SeededWorld,
    google_auth_request: google.auth.transport.requests.Request,
) -> None:
    tokens = google_control.mint_token(google_world.admin, google_world.client_id)
    google_control.revoke_user(google_world.admin)
    credentials = google.oauth2.credentials.Credentials(
        token=None,
        refresh_token=tokens["refresh_token"],
        token_uri=f"{google_server.base_url}/token",
        client_id=google_world.client_id,
        client_secret=google_world.client_secret,
    )
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        credentials.refresh(google_auth_request)


async def test_issuer_is_configurable() -> None:
    base = "https://127.0.0.1:1"
    app = create_app(base, issuer=base)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as client:
        config = (await client.get("/.well-known/openid-configuration")).json()
    assert config["issuer"] == base
    assert config["authorization_endpoint"] == f"{base}/o/oauth2/v2/auth"


def test_refresh_token_unused_for_six_months_expires(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    used = google_control.mint_token(google_world.admin, google_world.client_id)["refresh_token"]
    idle = google_control.mint_token(google_world.member, google_world.client_id)["refresh_token"]
    for _ in range(2):
        google_control.advance_clock(100 * 24 * 3600)
        assert refresh(google_http, google_world, used).status_code == 200
    response = refresh(google_http, google_world, idle)
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_only_the_newest_100_refresh_tokens_work(
    google_http: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    tokens = [
        google_control.mint_token(google_world.admin, google_world.client_id, scopes=["openid"])[
            "refresh_token"
        ]
        for _ in range(101)
    ]
    assert refresh(google_http, google_world, tokens[0]).json()["error"] == "invalid_grant"
    assert refresh(google_http, google_world, tokens[1]).status_code == 200
