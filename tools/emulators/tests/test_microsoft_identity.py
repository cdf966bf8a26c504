"""Identity platform v2.0: discovery, JWKS, the authorize pages, and the token endpoint."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from provider_emulators.core.server import EmulatorServer
from provider_emulators.microsoft.state import CONSUMER_TENANT_ID
from provider_emulators.microsoft.testing import (
    MS_REDIRECT_URI,
    MS_SCOPES,
    MicrosoftControl,
    MsWorld,
    authorize_url,
    obtain_tokens,
    parse_forms,
    pkce_pair,
    redeem,
    sign_in,
)

AAD_ERROR_KEYS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}


def assert_aad_error(response: httpx.Response, status: int, error: str, aadsts: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body.keys() >= AAD_ERROR_KEYS
    assert body["error"] == error
    assert body["error_description"].startswith(f"AADSTS{aadsts}: ")
    assert body["error_codes"] == [aadsts]
    return body


def code_for(http: httpx.Client, world: MsWorld, account: str, **params: str) -> tuple[str, str]:
    """Sign in with PKCE S256; returns ``(code, verifier)``."""
    verifier, challenge = pkce_pair()
    url = authorize_url(world, code_challenge=challenge, code_challenge_method="S256", **params)
    result = sign_in(http, url, account)
    return result.params["code"], verifier


def token_post(http: httpx.Client, world: MsWorld, **form: str) -> httpx.Response:
    body = {"client_id": world.client_id, "client_secret": world.client_secret, **form}
    return http.post("/organizations/oauth2/v2.0/token", data=body)


# --- discovery and keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "issuer_tid"),
    [
        ("common", "{tenantid}"),
        ("organizations", "{tenantid}"),
        ("consumers", CONSUMER_TENANT_ID),
        ("11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555"),
        ("contoso.example", "11111111-2222-3333-4444-555555555555"),
    ],
)
def test_discovery_document(
    ms_server: EmulatorServer, ms_http: httpx.Client, ms_world: MsWorld, tenant: str, issuer_tid: str
) -> None:
    doc = ms_http.get(f"/{tenant}/v2.0/.well-known/openid-configuration").json()
    base = ms_server.base_url
    assert doc["issuer"] == f"{base}/{issuer_tid}/v2.0"
    assert doc["authorization_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{base}/{tenant}/discovery/v2.0/keys"
    assert doc["end_session_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/logout"
    assert doc["userinfo_endpoint"] == f"{base}/oidc/userinfo"
    assert {"openid", "offline_access"} <= set(doc["scopes_supported"])
    assert "code" in doc["response_types_supported"]
    assert {"email", "tid", "oid", "nonce", "preferred_username"} <= set(doc["claims_supported"])


def test_unknown_tenant_is_rejected(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    assert_aad_error(
        ms_http.get("/nowhere.example/v2.0/.well-known/openid-configuration"), 400, "invalid_tenant", 90002
    )
    assert_aad_error(ms_http.get("/nowhere.example/discovery/v2.0/keys"), 400, "invalid_tenant", 90002)
    page = ms_http.get(authorize_url(ms_world, tenant="nowhere.example"))
    assert page.status_code == 400
    assert "AADSTS90002" in page.text
    response = ms_http.post("/nowhere.example/oauth2/v2.0/token", data={"grant_type": "refresh_token"})
    assert_aad_error(response, 400, "invalid_tenant", 90002)


def test_id_token_verifies_against_jwks(
    ms_server: EmulatorServer, ms_http: httpx.Client, ms_world: MsWorld
) -> None:
    code, verifier = code_for(ms_http, ms_world, ms_world.host, login_hint=ms_world.host, nonce="n-123")
    tokens = redeem(ms_http, ms_world, code, verifier).json()
    jwks = ms_http.get(f"/{ms_world.contoso_id}/discovery/v2.0/keys").json()
    key = jwt.PyJWK(jwks["keys"][0])
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == key.key_id
    claims = jwt.decode(
        tokens["id_token"],
        key.key,
        algorithms=["RS256"],
        audience=ms_world.client_id,
        issuer=f"{ms_server.base_url}/{ms_world.contoso_id}/v2.0",
    )
    assert claims["ver"] == "2.0"
    assert claims["nonce"] == "n-123"
    assert claims["tid"] == ms_world.contoso_id
    assert claims["email"] == claims["preferred_username"] == ms_world.host
    assert claims["name"] == "Hana Host"
    assert {"oid", "sub", "iat", "exp"} <= claims.keys()
    assert claims["exp"] > claims["iat"]
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert "Calendars.ReadWrite" in tokens["scope"].split()
    assert tokens["refresh_token"]


# --- authorize: errors shown as pages or sent to the redirect URI ----------------------------------


def test_unknown_client_and_unregistered_redirect_show_error_pages(
    ms_http: httpx.Client, ms_world: MsWorld
) -> None:
    unknown = ms_http.get(authorize_url(ms_world, client_id="00000000-0000-0000-0000-00000000dead"))
    assert unknown.status_code == 400
    assert "AADSTS700016" in unknown.text
    wrong_uri = ms_http.get(authorize_url(ms_world, redirect_uri="https://evil.example/cb"))
    assert wrong_uri.status_code == 400
    assert "AADSTS50011" in wrong_uri.text
    near_miss = ms_http.get(authorize_url(ms_world, redirect_uri=MS_REDIRECT_URI + "/"))
    assert "AADSTS50011" in near_miss.text


@pytest.mark.parametrize(
    ("params", "error", "aadsts"),
    [
        ({"response_type": "token"}, "unsupported_response_type", 700054),
        ({"scope": ""}, "invalid_request", 900144),
        ({"code_challenge": "abc", "code_challenge_method": "S512"}, "invalid_request", 501491),
        ({"code_challenge_method": "S256"}, "invalid_request", 501491),
        ({"prompt": "sometimes"}, "invalid_request", 90023),
    ],
)
def test_bad_authorize_parameters_come_back_on_the_redirect(
    ms_http: httpx.Client, ms_world: MsWorld, params: dict[str, str], error: str, aadsts: int
) -> None:
    response = ms_http.get(authorize_url(ms_world, state="keep-me", **params))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(MS_REDIRECT_URI + "?")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["error"] == error
    assert query["error_description"].startswith(f"AADSTS{aadsts}:")
    assert query["state"] == "keep-me"


def test_account_chooser_lists_accounts_per_tenant_path(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    def accounts(tenant: str) -> set[str]:
        form = parse_forms(ms_http.get(authorize_url(ms_world, tenant=tenant)).text)[0]
        assert form.id == "account-chooser"
        return {value for _, value, _ in form.buttons}

    everyone = accounts("common")
    assert ms_world.personal in everyone and ms_world.host in everyone
    assert ms_world.personal not in accounts("organizations")
    assert accounts("consumers") == {ms_world.personal}
    assert accounts("fabrikam.example") == {ms_world.fabrikam_user, ms_world.fabrikam_admin}


def test_account_outside_the_tenant_cannot_be_submitted(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    page = ms_http.get(authorize_url(ms_world, tenant="consumers"))
    form = parse_forms(page.text)[0]
    response = ms_http.post(
        "/consumers/oauth2/v2.0/authorize/select", data={**form.fields, "login": ms_world.host}
    )
    assert response.status_code == 400
    assert "AADSTS50034" in response.text
    expired = ms_http.post(
        "/consumers/oauth2/v2.0/authorize/select", data={"request_id": "nope", "login": "x"}
    )
    assert expired.status_code == 400


def test_state_consent_page_and_code(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    result = sign_in(ms_http, authorize_url(ms_world, state="abc-123"), ms_world.host)
    assert result.pages == ["account-chooser", "consent"]
    assert result.location.startswith(MS_REDIRECT_URI + "?")
    assert result.params["state"] == "abc-123"
    assert result.params["code"]


def test_consent_page_has_accept_and_cancel_buttons(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    page = ms_http.get(authorize_url(ms_world, login_hint=ms_world.host))
    form = parse_forms(page.text)[0]
    assert form.id == "consent"
    labels = [label for _, _, label in form.buttons]
    assert labels == ["承諾", "キャンセル"]
    assert "Calendars.ReadWrite" in page.text


def test_cancel_on_consent_redirects_access_denied(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    result = sign_in(ms_http, authorize_url(ms_world, state="s1"), ms_world.host, accept=False)
    assert result.params["error"] == "access_denied"
    assert result.params["error_description"].startswith("AADSTS65004:")
    assert result.params["state"] == "s1"
    assert "code" not in result.params


def test_login_hint_and_prompt(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    first = sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host)
    assert first.pages == ["consent"]
    again = sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host)
    assert again.pages == []  # consent remembered: straight back with a code
    assert again.params["code"]
    forced = sign_in(
        ms_http, authorize_url(ms_world, login_hint=ms_world.host, prompt="consent"), ms_world.host
    )
    assert forced.pages == ["consent"]
    chooser = sign_in(
        ms_http, authorize_url(ms_world, login_hint=ms_world.host, prompt="select_account"), ms_world.host
    )
    assert chooser.pages == ["account-chooser"]


def test_prompt_none(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    anonymous = sign_in(ms_http, authorize_url(ms_world, prompt="none"), None)
    assert anonymous.params["error"] == "login_required"
    assert anonymous.params["error_description"].startswith("AADSTS50058:")
    not_consented = sign_in(ms_http, authorize_url(ms_world, prompt="none", login_hint=ms_world.host), None)
    assert not_consented.params["error"] == "consent_required"
    assert not_consented.params["error_description"].startswith("AADSTS65001:")
    sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host)
    silent = sign_in(ms_http, authorize_url(ms_world, prompt="none", login_hint=ms_world.host), None)
    assert silent.params["code"]


@pytest.mark.parametrize("mode", ["fragment", "form_post"])
def test_response_modes(ms_http: httpx.Client, ms_world: MsWorld, mode: str) -> None:
    result = sign_in(ms_http, authorize_url(ms_world, response_mode=mode, state="m"), ms_world.host)
    if mode == "fragment":
        assert "#" in result.location
    assert result.params["state"] == "m"
    assert result.params["code"]


def test_client_info_in_redirect_when_requested(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    result = sign_in(ms_http, authorize_url(ms_world, client_info="1"), ms_world.host)
    raw = result.params["client_info"]
    info = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert info["utid"] == ms_world.contoso_id


# --- token endpoint ------------------------------------------------------------------------------------


def test_pkce_s256_and_plain(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    assert_aad_error(
        redeem(ms_http, ms_world, code, "wrong-verifier-" + "x" * 40), 400, "invalid_grant", 501481
    )
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    assert_aad_error(redeem(ms_http, ms_world, code, None), 400, "invalid_grant", 501481)
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    assert redeem(ms_http, ms_world, code, verifier).status_code == 200
    plain = sign_in(
        ms_http, authorize_url(ms_world, code_challenge="plain-verifier-" + "y" * 30), ms_world.host
    )
    assert redeem(ms_http, ms_world, plain.params["code"], "plain-verifier-" + "y" * 30).status_code == 200


def test_code_is_single_use(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    assert redeem(ms_http, ms_world, code, verifier).status_code == 200
    assert_aad_error(redeem(ms_http, ms_world, code, verifier), 400, "invalid_grant", 54005)


def test_code_errors(ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl) -> None:
    assert_aad_error(redeem(ms_http, ms_world, "1.Abogus", None), 400, "invalid_grant", 9002313)
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    response = token_post(
        ms_http,
        ms_world,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri="https://visitors.example/other",
    )
    assert_aad_error(response, 400, "invalid_grant", 70000)
    other = ms_control.add_app([MS_REDIRECT_URI])
    response = ms_http.post(
        "/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": MS_REDIRECT_URI,
        },
    )
    assert_aad_error(response, 400, "invalid_grant", 70000)
    ms_control.settings(code_lifetime_s=0)
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    assert_aad_error(redeem(ms_http, ms_world, code, verifier), 400, "invalid_grant", 70008)


def test_client_authentication(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    code, verifier = code_for(ms_http, ms_world, ms_world.host)
    basic = base64.b64encode(f"{ms_world.client_id}:{ms_world.client_secret}".encode()).decode()
    response = ms_http.post(
        "/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": MS_REDIRECT_URI,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    wrong = token_post(ms_http, ms_world, grant_type="refresh_token", refresh_token="x", client_secret="nope")
    assert_aad_error(wrong, 401, "invalid_client", 7000215)
    missing = ms_http.post(
        "/organizations/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": ms_world.client_id},
    )
    assert_aad_error(missing, 401, "invalid_client", 7000218)
    unknown = token_post(ms_http, ms_world, grant_type="refresh_token", refresh_token="x", client_id="nobody")
    assert_aad_error(unknown, 400, "unauthorized_client", 700016)
    bad_basic = ms_http.post(
        "/organizations/oauth2/v2.0/token",
        data={"grant_type": "refresh_token"},
        headers={"Authorization": "Basic %%%"},
    )
    assert_aad_error(bad_basic, 401, "invalid_client", 7000215)


def test_request_errors(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    assert_aad_error(token_post(ms_http, ms_world), 400, "invalid_request", 900144)
    assert_aad_error(
        token_post(ms_http, ms_world, grant_type="password"), 400, "unsupported_grant_type", 70003
    )
    assert_aad_error(
        token_post(ms_http, ms_world, grant_type="authorization_code"), 400, "invalid_request", 900144
    )
    assert_aad_error(
        token_post(ms_http, ms_world, grant_type="refresh_token"), 400, "invalid_request", 900144
    )
    no_client = ms_http.post("/organizations/oauth2/v2.0/token", data={"grant_type": "refresh_token"})
    assert_aad_error(no_client, 400, "invalid_request", 900144)


def test_refresh_rotates_and_old_token_dies(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    first = token_post(ms_http, ms_world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert first.status_code == 200, first.text
    renewed = first.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert "id_token" in renewed
    assert "Calendars.ReadWrite" in renewed["scope"].split()
    reused = token_post(ms_http, ms_world, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert_aad_error(reused, 400, "invalid_grant", 700082)
    again = token_post(ms_http, ms_world, grant_type="refresh_token", refresh_token=renewed["refresh_token"])
    assert again.status_code == 200


def test_redeemed_refresh_token_can_stay_valid_like_entra(
    ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    ms_control.settings(retire_redeemed_refresh_tokens=False)
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    for _ in range(2):
        response = token_post(
            ms_http, ms_world, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert response.status_code == 200
        assert response.json()["refresh_token"] != tokens["refresh_token"]


def test_refresh_errors(ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl) -> None:
    unknown = token_post(ms_http, ms_world, grant_type="refresh_token", refresh_token="0.Anothing")
    assert_aad_error(unknown, 400, "invalid_grant", 9002313)
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    wider = token_post(
        ms_http,
        ms_world,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        scope="https://graph.microsoft.com/Mail.Read offline_access",
    )
    body = assert_aad_error(wider, 400, "invalid_grant", 65001)
    assert body["suberror"] == "consent_required"
    other = ms_control.add_app([MS_REDIRECT_URI])
    stolen = ms_http.post(
        "/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert_aad_error(stolen, 400, "invalid_grant", 70000)


def test_revoked_grant_gives_700082(
    ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    assert ms_control.revoke_grants(user=ms_world.host) == 1
    response = token_post(
        ms_http, ms_world, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert_aad_error(response, 400, "invalid_grant", 700082)
    # the user's consent went with the grant: the next sign-in asks again
    result = sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host)
    assert result.pages == ["consent"]


def test_expired_refresh_token(
    ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    ms_control.settings(refresh_token_lifetime_s=0)
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    response = token_post(
        ms_http, ms_world, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert_aad_error(response, 400, "invalid_grant", 700082)


def test_no_refresh_token_without_offline_access(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    tokens = obtain_tokens(
        ms_http, ms_world, ms_world.host, scope="https://graph.microsoft.com/Calendars.Read"
    )
    assert "refresh_token" not in tokens
    assert "id_token" not in tokens
    assert tokens["scope"] == "Calendars.Read"


# --- userinfo and logout ------------------------------------------------------------------------------


def test_userinfo_and_logout(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    info = ms_http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert info["email"] == ms_world.host
    assert info["sub"] == jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"]
    assert ms_http.get("/oidc/userinfo").status_code == 401
    out = ms_http.get(
        "/common/oauth2/v2.0/logout", params={"post_logout_redirect_uri": "https://visitors.example/"}
    )
    assert out.status_code == 302
    assert out.headers["location"] == "https://visitors.example/"
    assert ms_http.get("/common/oauth2/v2.0/logout").status_code == 200


def test_scope_string_parsing(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    tokens = obtain_tokens(
        ms_http,
        ms_world,
        ms_world.host,
        scope="openid offline_access calendars.readwrite https://graph.microsoft.com/User.Read",
    )
    assert set(tokens["scope"].split()) == {"Calendars.ReadWrite", "User.Read", "openid", "offline_access"}
    assert MS_SCOPES  # the default scope set used by the other tests


def test_no_identity_input_causes_a_server_error(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    junk = ["", "x", "%00", "'; DROP", "\u627f\u8afe", "a" * 3000]
    for value in junk:
        for name in ("grant_type", "code", "refresh_token", "scope", "redirect_uri", "code_verifier"):
            response = token_post(ms_http, ms_world, **{"grant_type": "authorization_code", name: value})
            assert response.status_code in (400, 401), (name, value, response.text)
        for name in ("client_id", "scope", "prompt", "response_mode", "code_challenge_method", "login_hint"):
            page = ms_http.get(authorize_url(ms_world, **{name: value}))
            assert page.status_code in (200, 302, 400), (name, value, page.text)
    assert ms_http.post("/common/oauth2/v2.0/authorize/consent", data={"request_id": "x"}).status_code == 400
    assert (
        ms_http.post(
            "/common/oauth2/v2.0/token",
            content=b"\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).status_code
        == 400
    )
