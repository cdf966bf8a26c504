"""Scope parsing and the consent rules (user consent, tenant admin consent)."""

from __future__ import annotations

from provider_emulators.microsoft.state import (
    ADMIN_ONLY_SCOPES,
    GRAPH_RESOURCE,
    OIDC_SCOPES,
    App,
    MicrosoftState,
    User,
)

KNOWN_GRAPH_SCOPES = (
    "User.Read",
    "User.ReadBasic.All",
    "Calendars.Read",
    "Calendars.ReadWrite",
    "Calendars.Read.Shared",
    "Calendars.ReadWrite.Shared",
    "Place.Read.All",
    "MailboxSettings.Read",
)
_CANONICAL = {s.lower(): s for s in (*KNOWN_GRAPH_SCOPES, *OIDC_SCOPES)}


def parse_scopes(raw: str | None, app: App) -> list[str]:
    """Split a scope string, drop the Graph resource prefix, expand ``.default``, de-duplicate."""
    result: list[str] = []
    for item in (raw or "").split():
        name = item[len(GRAPH_RESOURCE) :] if item.lower().startswith(GRAPH_RESOURCE) else item
        expanded = app.permissions if name.lower() == ".default" else [name]
        for scope in expanded:
            canonical = _CANONICAL.get(scope.lower(), scope)
            if canonical not in result:
                result.append(canonical)
    return result


def resource_scopes(scopes: list[str]) -> list[str]:
    """The Graph permissions among ``scopes`` (no OpenID Connect scopes)."""
    return [s for s in scopes if s not in OIDC_SCOPES]


def missing_admin_consent(state: MicrosoftState, user: User, client_id: str, scopes: list[str]) -> list[str]:
    """Scopes that need an administrator's consent that the user's tenant has not given.

    A tenant with ``admin_consent_required`` lets no user consent to anything; ``Place.Read.All``
    always needs an administrator. Personal accounts never need one.
    """
    tenant = state.tenants.get(user.tenant_id)
    if tenant is None or tenant.is_consumer:
        return []
    granted = tenant.admin_consents.get(client_id, set())
    needs_admin = [
        s for s in resource_scopes(scopes) if tenant.admin_consent_required or s in ADMIN_ONLY_SCOPES
    ]
    return [s for s in needs_admin if s not in granted]


def has_user_consent(state: MicrosoftState, user: User, client_id: str, scopes: list[str]) -> bool:
    """True when every resource scope is covered by the user's or the tenant's consent."""
    tenant = state.tenants.get(user.tenant_id)
    admin = tenant.admin_consents.get(client_id, set()) if tenant else set()
    mine = state.user_consents.get((user.id, client_id), set())
    return all(s in mine or s in admin for s in resource_scopes(scopes))


def scope_string(scopes: list[str]) -> str:
    return " ".join(scopes)
