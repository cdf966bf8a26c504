"""Every Microsoft refusal, through the service's HTTP API and the emulator (MSAL over HTTPS)."""

from __future__ import annotations

from urllib.parse import urlsplit

from auth_testkit import FABRIKAM, MS_CLIENT_ID, SERVICE_URL, Harness, bearer, query_of

from visitor_common.events import Provider


async def test_consumer_tenant_is_refused_r1(harness: Harness) -> None:
    # Through /organizations a personal account cannot even sign in; /common lets it reach us.
    harness.reconfigure(Provider.OUTLOOK, microsoft_tenant="common")
    _, token = await harness.employee("acme", "vic@outlook.example")
    response = await harness.link("microsoft", token, "vic@outlook.example")
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "personal_account"
    assert "vic@outlook.example" in body["detail"] and "Microsoft 365" in body["detail"]


async def test_email_mismatch_names_both_addresses_r7(harness: Harness) -> None:
    _, token = await harness.employee("acme", "nobody@contoso.example")
    response = await harness.link("microsoft", token, "colin@contoso.example")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "email_mismatch"
    assert "nobody@contoso.example" in body["detail"] and "colin@contoso.example" in body["detail"]


async def test_cancel_on_the_consent_screen(harness: Harness) -> None:
    _, token = await harness.employee("acme", "hana@contoso.example")
    response = await harness.link("microsoft", token, "hana@contoso.example", accept=False)
    assert response.status_code == 400
    assert response.json()["code"] == "link_cancelled"


async def test_admin_consent_required_then_granted_r6(harness: Harness) -> None:
    assert harness.browser is not None
    _, token = await harness.employee("acme", "fabi@fabrikam.example")
    refused = await harness.link("microsoft", token, "fabi@fabrikam.example")
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "admin_consent_required"
    assert "管理者" in body["detail"]
    consent_url = body["admin_consent_url"]
    parts = urlsplit(consent_url)
    assert parts.path == "/organizations/v2.0/adminconsent"
    query = query_of(consent_url)
    assert query["client_id"] == MS_CLIENT_ID
    assert query["redirect_uri"] == f"{SERVICE_URL}/v1/calendar-connections/microsoft/callback"
    assert query["scope"] == "https://graph.microsoft.com/.default"
    assert query["state"]

    # The tenant's administrator opens the URL and presses 承諾.
    location = await harness.browser.sign_in(consent_url, "admin@fabrikam.example")
    done = await harness.callback(location)
    assert done.status_code == 200, done.text
    assert "管理者による承認が完了しました" in done.json()["message"]
    assert harness.emus is not None
    fabrikam = next(t for t in harness.emus.ms_control.state()["tenants"] if t["id"] == FABRIKAM)
    assert "Place.Read.All" in fabrikam["admin_consents"][MS_CLIENT_ID]

    # Now the employee links successfully.
    linked = await harness.link("microsoft", token, "fabi@fabrikam.example")
    assert linked.status_code == 200, linked.text
    assert linked.json()["message"] == "Outlookカレンダーと連携しました。"
    current = await harness.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert current.json()["account_email"] == "fabi@fabrikam.example"


async def test_admin_consent_state_is_single_use(harness: Harness) -> None:
    assert harness.browser is not None
    _, token = await harness.employee("acme", "fabi@fabrikam.example")
    consent_url = (await harness.link("microsoft", token, "fabi@fabrikam.example")).json()[
        "admin_consent_url"
    ]
    location = await harness.browser.sign_in(consent_url, "admin@fabrikam.example")
    assert (await harness.callback(location)).status_code == 200
    assert (await harness.callback(location)).json()["code"] == "link_state_used"


async def test_token_endpoint_5xx_is_provider_unavailable(harness: Harness) -> None:
    assert harness.emus is not None and harness.browser is not None
    _, token = await harness.employee("acme", "hana@contoso.example")
    url = await harness.authorize("microsoft", token)
    location = await harness.browser.sign_in(url, "hana@contoso.example")
    harness.emus.ms_control.add_fault(r"/oauth2/v2\.0/token$", status=503, count=5)
    response = await harness.callback(location)
    assert response.status_code in (502, 503), response.text
    assert response.json()["code"] == "provider_unavailable"


async def test_discovery_down_at_start_is_provider_unavailable(harness: Harness) -> None:
    assert harness.emus is not None
    _, token = await harness.employee("acme", "hana@contoso.example")
    harness.emus.ms_control.add_fault(r"openid-configuration$", status=500, count=5)
    response = await harness.client.post(
        "/v1/calendar-connections/microsoft/authorize", headers=bearer(token)
    )
    assert response.status_code in (502, 503), response.text
    assert response.json()["code"] == "provider_unavailable"


async def test_admin_consent_refusal_in_html_shows_the_link(harness: Harness) -> None:
    assert harness.browser is not None
    _, token = await harness.employee("acme", "fabi@fabrikam.example")
    url = await harness.authorize("microsoft", token)
    location = await harness.browser.sign_in(url, "fabi@fabrikam.example")
    response = await harness.callback(location, accept="text/html")
    assert response.status_code == 403
    assert "管理者" in response.text
    assert "/organizations/v2.0/adminconsent?client_id=" in response.text


async def test_admin_consent_by_a_non_administrator_is_explained(harness: Harness) -> None:
    assert harness.browser is not None
    _, token = await harness.employee("acme", "fabi@fabrikam.example")
    consent_url = (await harness.link("microsoft", token, "fabi@fabrikam.example")).json()[
        "admin_consent_url"
    ]
    location = await harness.browser.sign_in(consent_url, "fabi@fabrikam.example")
    response = await harness.callback(location)
    assert response.status_code == 403
    assert response.json()["code"] == "admin_consent_not_granted"
    still = await harness.link("microsoft", token, "fabi@fabrikam.example")
    assert still.json()["code"] == "admin_consent_required"


async def test_provider_error_on_the_callback_is_link_refused(harness: Harness) -> None:
    _, token = await harness.employee("acme", "hana@contoso.example")
    state = query_of(await harness.authorize("microsoft", token))["state"]
    response = await harness.client.get(
        "/v1/calendar-connections/microsoft/callback",
        params={"state": state, "error": "temporarily_unavailable", "error_description": "AADSTS500011"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "link_refused"
