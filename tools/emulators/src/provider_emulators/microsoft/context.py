"""The emulator instance shared by all routers: base URL, state, signing key, notifier."""

from __future__ import annotations

from provider_emulators.microsoft.notify import Notifier
from provider_emulators.microsoft.state import CONSUMER_TENANT_ID, MicrosoftState, Tenant, User
from provider_emulators.microsoft.tokens import SigningKey

TENANT_PLACEHOLDER = "{tenantid}"
MULTI_TENANT_PATHS = frozenset({"common", "organizations", "consumers"})


class Emulator:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.state = MicrosoftState()
        self.key = SigningKey()
        self.notifier = Notifier(self.state)

    @property
    def graph_base(self) -> str:
        return f"{self.base_url}/v1.0"

    def issuer(self, tenant_id: str) -> str:
        return f"{self.base_url}/{tenant_id}/v2.0"

    def resolve_tenant_path(self, tenant_path: str) -> tuple[str, Tenant | None] | None:
        """Classify the ``{tenant}`` path segment.

        Returns ``(kind, tenant)`` where kind is ``common``, ``organizations``, ``consumers`` or
        ``tenant``; ``None`` when it names no known tenant.
        """
        lowered = tenant_path.lower()
        if lowered in ("common", "organizations"):
            return lowered, None
        if lowered == "consumers":
            return "consumers", self.state.tenants[CONSUMER_TENANT_ID]
        tenant = self.state.find_tenant(lowered)
        if tenant is None:
            return None
        return ("consumers" if tenant.is_consumer else "tenant"), tenant

    def users_for_path(self, tenant_path: str) -> list[User]:
        """Accounts that may sign in through ``/{tenant_path}/oauth2/v2.0/authorize``."""
        resolved = self.resolve_tenant_path(tenant_path)
        if resolved is None:
            return []
        kind, tenant = resolved
        users = list(self.state.users.values())
        if kind == "common":
            return users
        if kind == "organizations":
            return [u for u in users if not u.personal]
        assert tenant is not None
        return [u for u in users if u.tenant_id == tenant.id]
