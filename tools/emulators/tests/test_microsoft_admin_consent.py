"""Admin-consent policy: "Need admin approval" (AADSTS90094), the adminconsent endpoint, Place.Read.All."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from provider_emulators.microsoft.testing import (
    MS_PLACES_SCOPES,
    MS_REDIRECT_URI,
    MicrosoftControl,
    MsWorld,
    authorize_url,
    obtain_tokens,
    sign_in,
)


def admin_consent_url(world: MsWorld, tenant: str, **params: str) -> str:
    query = {
        "client_id": world.client_id,
        "scope": "https://graph.microsoft.com/.default",
        "redirect_uri": MS_REDIRECT_URI,
        "state": "admin-state",
        **params,
    }
    return f"/{tenant}/v2.0/adminconsent?{urlencode(query)}"


def test_user_in_admin_consent_tenant_gets_need_admin_approval(
    ms_http: httpx.Client, ms_world: MsWorld
) -> None:
    result = sign_in(ms_http, authorize_url(ms_world, state="u1"), ms_world.fabrikam_user)
    assert result.params["error"] == "consent_required"
    assert result.params["error_description"].startswith("AADSTS90094:")
    assert result.params["state"] == "u1"
    # an administrator signing in through the user flow is refused the same way
    admin = sign_in(ms_http, authorize_url(ms_world), ms_world.fabrikam_admin)
    assert admin.params["error"] == "consent_required"


def test_admin_consent_then_users_can_link(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    result = sign_in(ms_http, admin_consent_url(ms_world, "fabrikam.example"), ms_world.fabrikam_admin)
    assert result.pages == ["account-chooser", "consent"]
    assert result.location.startswith(MS_REDIRECT_URI + "?")
    assert result.params["admin_consent"] == "True"
    assert result.params["tenant"] == ms_world.fabrikam_id
    assert result.params["state"] == "admin-state"
    assert "https://graph.microsoft.com/Calendars.ReadWrite" in result.params["scope"].split()
    assert "https://graph.microsoft.com/Place.Read.All" in result.params["scope"].split()

    linked = sign_in(ms_http, authorize_url(ms_world, scope=MS_PLACES_SCOPES), ms_world.fabrikam_user)
    assert linked.pages == ["account-chooser"]  # the organization's consent covers the user
    assert linked.params["code"]


def test_non_admin_cannot_grant_admin_consent(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    result = sign_in(ms_http, admin_consent_url(ms_world, "fabrikam.example"), ms_world.fabrikam_user)
    assert result.params["error"] == "consent_required"
    assert result.params["error_description"].startswith("AADSTS65004:")
    assert result.params["state"] == "admin-state"
    still = sign_in(ms_http, authorize_url(ms_world), ms_world.fabrikam_user)
    assert still.params["error"] == "consent_required"


def test_admin_consent_cancel_and_errors(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    cancelled = sign_in(
        ms_http, admin_consent_url(ms_world, "fabrikam.example"), ms_world.fabrikam_admin, accept=False
    )
    assert cancelled.params["error"] == "access_denied"
    bad_uri = ms_http.get(
        admin_consent_url(ms_world, "fabrikam.example", redirect_uri="https://evil.example/")
    )
    assert bad_uri.status_code == 400
    assert "AADSTS50011" in bad_uri.text
    unknown_tenant = ms_http.get(admin_consent_url(ms_world, "nowhere.example"))
    assert unknown_tenant.status_code == 400


def test_admin_consent_chooser_lists_work_accounts_only(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    page = ms_http.get(admin_consent_url(ms_world, "common"))
    assert ms_world.personal not in page.text
    assert ms_world.fabrikam_admin in page.text


def test_place_read_all_always_needs_an_administrator(
    ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    result = sign_in(ms_http, authorize_url(ms_world, scope=MS_PLACES_SCOPES), ms_world.host)
    assert result.params["error"] == "consent_required"
    assert "Place.Read.All" in result.params["error_description"]
    # without Place.Read.All the same user links fine
    assert obtain_tokens(ms_http, ms_world, ms_world.host)["access_token"]
    ms_control.grant_admin_consent("contoso.example", ms_world.client_id, ["Place.Read.All"])
    granted = sign_in(ms_http, authorize_url(ms_world, scope=MS_PLACES_SCOPES), ms_world.host)
    assert granted.params["code"]


def test_policy_change_blocks_sign_in_and_refresh(
    ms_http: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    tokens = obtain_tokens(ms_http, ms_world, ms_world.host)
    tenant = ms_control.set_policy(ms_world.contoso_id, admin_consent_required=True)
    assert tenant["admin_consent_required"] is True
    blocked = sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host)
    assert blocked.params["error_description"].startswith("AADSTS90094:")
    refresh = ms_http.post(
        "/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": ms_world.client_id,
            "client_secret": ms_world.client_secret,
        },
    )
    assert refresh.status_code == 400
    assert refresh.json()["error_codes"] == [65001]
    assert refresh.json()["suberror"] == "consent_required"
    ms_control.grant_admin_consent(ms_world.contoso_id, ms_world.client_id, ["Calendars.ReadWrite"])
    assert sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host).params["code"]
    ms_control.revoke_admin_consent(ms_world.contoso_id, ms_world.client_id)
    again = sign_in(ms_http, authorize_url(ms_world, login_hint=ms_world.host), ms_world.host)
    assert again.params["error"] == "consent_required"


def test_personal_accounts_never_need_admin_consent(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    tokens = obtain_tokens(ms_http, ms_world, ms_world.personal, tenant="consumers")
    assert tokens["access_token"]
