"""Linking a calendar: start (state, PKCE), callback (checks, encrypted token, events)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from auth_service.adapters.providers import LinkedAccount, ProviderClient
from auth_service.domain import errors
from auth_service.domain.models import (
    LINKED_MESSAGES,
    PROVIDER_LABELS,
    CalendarConnection,
    Employee,
    LinkPurpose,
    LinkState,
    check_linkable,
    new_id,
)
from auth_service.service_layer import events
from auth_service.service_layer.accounts import token_hash
from auth_service.service_layer.context import CachedAccessToken, ServiceContext
from visitor_common.events import ConnectionStatus, Provider
from visitor_common.persistence import DuplicateKeyError, VersionConflictError
from visitor_common.security import Principal

log = logging.getLogger(__name__)
CURRENT_STATUSES = (ConnectionStatus.ACTIVE, ConnectionStatus.REAUTH_REQUIRED)

ADMIN_CONSENT_DONE = (
    "Microsoft 365 の管理者による承認が完了しました。従業員はもう一度カレンダー連携を開始してください。"
)
# AADSTS90094: the grant requires admin permission; 90095/90099: admin-consent workflow/approval.
ADMIN_CONSENT_ERRORS = ("AADSTS90094", "AADSTS90095", "AADSTS90099", "AADSTS90008")


@dataclass(frozen=True)
class LinkOutcome:
    message: str
    connection: CalendarConnection | None = None


def _client(ctx: ServiceContext, provider: Provider) -> ProviderClient:
    client = ctx.providers.get(provider)
    if client is None:
        raise errors.provider_not_configured(PROVIDER_LABELS[provider])
    return client


async def _employee(ctx: ServiceContext, tenant_id: str, employee_id: str) -> Employee:
    employee = await ctx.repos.employees.in_tenant(tenant_id, employee_id)
    if employee is None:
        raise errors.employee_not_found()
    return employee


async def _new_state(
    ctx: ServiceContext, employee: Employee, provider: Provider, purpose: LinkPurpose, client: ProviderClient
) -> tuple[str, str]:
    state = secrets.token_urlsafe(32)
    if purpose == "admin_consent":
        url = client.admin_consent_url(state) or ""
        flow: dict[str, object] = {}
    else:
        start = await client.begin(state, employee.email)
        url, flow = start.url, dict(start.flow)
    ttl = timedelta(seconds=ctx.settings.link_state_ttl_seconds)
    record = LinkState.start(token_hash(state), employee, provider, ctx.clock(), ttl, flow, purpose)
    await ctx.repos.link_states.insert(record)
    return state, url


async def start_link(ctx: ServiceContext, principal: Principal, provider: Provider) -> str:
    """Return the provider's authorization URL for this employee."""
    assert principal.tenant_id is not None
    employee = await _employee(ctx, principal.tenant_id, principal.employee_id)
    _, url = await _new_state(ctx, employee, provider, "link", _client(ctx, provider))
    return url


async def _consume_state(ctx: ServiceContext, provider: Provider, state: str | None) -> LinkState:
    record = await ctx.repos.link_states.get(token_hash(state)) if state else None
    if record is None:
        raise errors.link_state_unknown()
    flow = dict(record.flow)
    record.consume(provider, ctx.clock())
    try:
        await ctx.repos.link_states.save(record)
    except VersionConflictError as error:  # another request consumed it first
        raise errors.link_state_used() from error
    record.flow = flow  # the stored copy no longer holds the verifier; this call still needs it
    return record


async def complete_link(ctx: ServiceContext, provider: Provider, params: dict[str, str]) -> LinkOutcome:
    """The provider redirected back. Every failure raises an explained ``AuthServiceError``."""
    record = await _consume_state(ctx, provider, params.get("state"))
    client = _client(ctx, provider)
    label = PROVIDER_LABELS[provider]
    if record.purpose == "admin_consent":
        return _admin_consent_outcome(params, label)
    if params.get("error"):
        await _refuse_provider_error(ctx, record, client, params)
    if not params.get("code"):
        raise errors.authorization_code_missing(label)
    account = await client.finish(record.flow, params)
    employee = await _employee(ctx, record.tenant_id, record.employee_id)
    check_linkable(account.identity, employee)
    connection = await _store_connection(ctx, employee, account)
    log.info(
        "calendar linked",
        extra={"connection_id": connection.id, "tenant_id": employee.tenant_id, "provider": provider.value},
    )
    return LinkOutcome(message=LINKED_MESSAGES[provider], connection=connection)


def _admin_consent_outcome(params: dict[str, str], label: str) -> LinkOutcome:
    if params.get("admin_consent", "").lower() == "true":
        return LinkOutcome(message=ADMIN_CONSENT_DONE)
    if params.get("error") == "access_denied":
        raise errors.link_cancelled(label)
    if params.get("error") == "consent_required":  # AADSTS65004: the signer is not an administrator
        raise errors.admin_consent_not_granted()
    raise errors.link_refused(label, params.get("error") or "admin_consent_failed")


async def _refuse_provider_error(
    ctx: ServiceContext, record: LinkState, client: ProviderClient, params: dict[str, str]
) -> None:
    error = params.get("error", "")
    description = params.get("error_description", "")
    label = PROVIDER_LABELS[record.provider]
    if error == "access_denied":
        raise errors.link_cancelled(label)
    needs_admin = error in ("consent_required", "interaction_required") and any(
        code in description for code in ADMIN_CONSENT_ERRORS
    )
    if needs_admin and record.provider is Provider.OUTLOOK:
        employee = await _employee(ctx, record.tenant_id, record.employee_id)
        _, url = await _new_state(ctx, employee, record.provider, "admin_consent", client)
        raise errors.admin_consent_required(url)
    raise errors.link_refused(label, error)


async def _store_connection(
    ctx: ServiceContext, employee: Employee, account: LinkedAccount
) -> CalendarConnection:
    """Reuse the connection of the same provider account (its appointments stay bound to it, R8);
    deactivate a different active one (kept, not deleted); keep one active per employee."""
    repo = ctx.repos.connections
    now = ctx.clock()
    existing = await repo.of_employee(employee.tenant_id, employee.id)
    same = next((c for c in existing if c.same_account(account.identity)), None)
    target_id = same.id if same is not None else new_id()
    sealed = ctx.cipher.seal(account.refresh_token, context=target_id)
    try:
        for other in existing:
            if other.status in CURRENT_STATUSES and other.id != target_id:
                other.deactivate(replaced_by=target_id, now=now)
                ctx.access_tokens.forget(other.id)
                await repo.save(other, [events.deactivated(other, ctx.source)])
        if same is not None:
            same.relink(account.identity, sealed, account.scopes, now)
            await repo.save(same, [events.linked(same, ctx.source)])
            connection = same
        else:
            connection = CalendarConnection(
                _id=target_id,
                tenant_id=employee.tenant_id,
                employee_id=employee.id,
                provider=account.identity.provider,
                account_email=account.identity.email,
                account_subject=account.identity.subject,
                account_workspace=account.identity.workspace,
                refresh_token=sealed,
                scopes=account.scopes,
                linked_at=now,
                updated_at=now,
            )
            await repo.insert(connection, [events.linked(connection, ctx.source)])
    except (VersionConflictError, DuplicateKeyError) as error:
        raise errors.concurrent_update() from error
    ctx.access_tokens.tokens[connection.id] = CachedAccessToken.of(account.access, now)
    ctx.notify_outbox()
    return connection
