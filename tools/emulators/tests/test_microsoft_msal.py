"""MSAL Python completes the authorization-code flow and the refresh against the emulator."""

from __future__ import annotations

import httpx
import msal
import pytest

from provider_emulators.core.server import EmulatorServer
from provider_emulators.microsoft.testing import MS_REDIRECT_URI, MicrosoftControl, MsWorld, sign_in

GRAPH_SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite"]


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """``requests`` lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's ``verify``,
    which would silently replace MSAL's ``verify=ca_path``."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _msal_app(server: EmulatorServer, world: MsWorld, tenant: str) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        world.client_id,
        client_credential=world.client_secret,
        authority=f"{server.base_url}/{tenant}",
        instance_discovery=False,
        verify=str(server.ca_path),
    )


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
def test_msal_auth_code_flow_and_refresh(
    ms_server: EmulatorServer, ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    app = _msal_app(ms_server, ms_world, "organizations")
    flow = app.initiate_auth_code_flow(GRAPH_SCOPES, redirect_uri=MS_REDIRECT_URI, login_hint=ms_world.host)
    assert flow["auth_uri"].startswith(f"{ms_server.base_url}/organizations/oauth2/v2.0/authorize")

    result = sign_in(ms_http, flow["auth_uri"], ms_world.host)
    assert result.pages == ["consent"]
    tokens = app.acquire_token_by_auth_code_flow(flow, result.params)

    assert "error" not in tokens, tokens
    claims = tokens["id_token_claims"]
    assert claims["preferred_username"] == ms_world.host
    assert claims["tid"] == ms_world.contoso_id
    assert claims["iss"] == f"{ms_server.base_url}/{ms_world.contoso_id}/v2.0"
    assert claims["aud"] == ms_world.client_id
    me = ms_http.get("/v1.0/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["mail"] == ms_world.host

    refreshed = app.acquire_token_by_refresh_token(tokens["refresh_token"], GRAPH_SCOPES)
    assert "error" not in refreshed, refreshed
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]

    stale = app.acquire_token_by_refresh_token(tokens["refresh_token"], GRAPH_SCOPES)
    assert stale["error"] == "invalid_grant"
    assert "AADSTS700082" in stale["error_description"]


def test_msal_personal_account_through_consumers_authority(
    ms_server: EmulatorServer, ms_http: httpx.Client, ms_world: MsWorld
) -> None:
    app = _msal_app(ms_server, ms_world, "consumers")
    flow = app.initiate_auth_code_flow(GRAPH_SCOPES, redirect_uri=MS_REDIRECT_URI, response_mode="form_post")
    result = sign_in(ms_http, flow["auth_uri"], ms_world.personal)
    assert result.pages == ["account-chooser", "consent", "response"]
    assert result.location == MS_REDIRECT_URI
    tokens = app.acquire_token_by_auth_code_flow(flow, result.params)
    assert "error" not in tokens, tokens
    assert tokens["id_token_claims"]["tid"] == "9188040d-6c67-4c5b-b112-36a304b66dad"
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [ms_world.personal]
