"""Internal API of the auth service for the other services (service credential required).

Routes:
- ``POST /internal/v1/service-token`` (form: ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``) → :class:`ServiceToken` — OAuth 2.0 client-credentials style.
- ``GET  /internal/v1/tenants/{tenant_id}/employees/{employee_id}/calendar-connection``
  → :class:`ConnectionInfo` (the employee's active connection; 404 ``no_active_connection``)
- ``GET  /internal/v1/calendar-connections/{connection_id}`` → :class:`ConnectionInfo`
- ``POST /internal/v1/calendar-connections/{connection_id}/access-token`` → :class:`AccessTokenGrant`
  (409 ``reauth_required`` / ``connection_inactive`` with a human message)

and one route of each connector, at the end of this module (``HoldsReleased``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from visitor_common.email import EmailStr
from visitor_common.events.appointments import Provider
from visitor_common.events.connections import ConnectionStatus


class ServiceToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str = ""


class ConnectionInfo(BaseModel):
    connection_id: str
    tenant_id: str
    employee_id: str
    provider: Provider
    account_email: EmailStr
    status: ConnectionStatus
    room_group_id: str | None = None
    linked_at: datetime


class AccessTokenGrant(BaseModel):
    connection_id: str
    provider: Provider
    access_token: str
    expires_at: datetime


# --- connectors' internal API, called by the auth service when an employee unlinks -------------
# ``POST /internal/v1/calendar-connections/{connection_id}/release-holds`` (service token with
# scope RELEASE_HOLDS_SCOPE) → :class:`HoldsReleased`: the connector deletes the tentative holds
# it wrote for that connection while the grant still works (decision 0011).
RELEASE_HOLDS_SCOPE = "calendar.holds.release"


class HoldsReleased(BaseModel):
    connection_id: str
    released: int
    failed: int = 0
